/**
 * What a WHEP viewer's RTCP sender reports (RFC 3550 §6.4.1) say about time. A player lines audio up
 * with video by them: each report maps the track's RTP time to an NTP wall-clock time, and media of
 * the same instant must map to the same NTP time on both tracks.
 *
 * werift stamps a report with the wall time at which its last RTP packet was *sent*. Audio and video
 * leave at different moments (the AAC → Opus transcoder's delay, video held back to match it, timers
 * that fire late when the event loop is busy): each of those delays lands in the reports as an A/V
 * offset, and it wanders with the machine's load (measured: a mean of −34 ms, samples of −158 ms, on a
 * loaded 2-core machine). So livegate states the mapping itself: one line per viewer, shared by audio
 * and video, from media time to NTP time, anchored at the first packet's media time and the moment
 * that media reached livegate. Reports then describe the media as published, whatever the sending
 * jitter; the player's own arrival-time measurements absorb the rest.
 */
import { ntpTime } from './werift.js';

export class MediaClockReports {
  private anchor: { media: number; wallMs: number } | null = null;

  /** NTP time of media time `t90k` (90 kHz, on the viewer's timeline); `receivedAt`: when that media reached livegate. */
  ntpOf(t90k: number, receivedAt: number): bigint {
    this.anchor ??= { media: t90k, wallMs: performance.timeOrigin + receivedAt };
    return ntpTime(this.anchor.wallMs + (t90k - this.anchor.media) / 90);
  }
}
