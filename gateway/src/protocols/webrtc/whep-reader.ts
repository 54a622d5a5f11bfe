/**
 * Stream → one WHEP viewer. Video payloads are shared by all viewers; per viewer only the RTP
 * header differs (its own contiguous sequence numbers), and werift adds SSRC, payload type, SRTP.
 */
import { RtpHeader, RtpPacket, type MediaStreamTrack } from './werift.js';
import { latencyProbe } from '../../core/latency-probe.js';
import { TIMESCALE, type MediaUnit, type StreamMetadata, type Track } from '../../core/media-unit.js';
import type { ReaderSink, StreamStart } from '../../core/reader.js';
import type { WebrtcAudioCodec } from './rtp-units.js';
import { videoFrameOf, videoPayloadsOf, type RtpFrame, type WebrtcVideoCodec } from './rtp-units.js';

/** Gap left between the last frame of one publisher and the first of the next (≈ one video frame). */
const FRAME_GAP = TIMESCALE / 30;
/** A new viewer gets the cached GOP at up to this many times real time. */
const CATCH_UP = 4;

export interface WhepReaderEvents {
  onEnd(reason: string): void;
  onDrop(reason: string): void;
  /**
   * A frame's packets were just handed to the track: `t90k` its time on the viewer's timeline,
   * `receivedAt` when its media reached livegate (for the sender reports, see MediaClockReports).
   */
  sent?(kind: 'video' | 'audio', t90k: number, receivedAt: number): void;
}

export class WhepReader implements ReaderSink {
  private videoSeq = Math.floor(Math.random() * 0x10000);
  private audioSeq = Math.floor(Math.random() * 0x10000);
  /** Nothing is sent before the first keyframe: a viewer starts with SPS + PPS + IDR. */
  private videoStarted = false;
  private hasVideo = false;
  /**
   * Added to every source timestamp (90 kHz) so that RTP time runs on without a jump when the viewer
   * moves to a new publisher of the path; 0 until then.
   */
  private offset = 0;
  private rebase = false;
  /** Last media time sent (90 kHz, offset applied), audio or video. */
  private lastSent: number | null = null;
  packetsSent = 0;
  bytesSent = 0;

  constructor(
    /** The video codec negotiated with this viewer: units of another codec are not sent. */
    private readonly videoCodec: WebrtcVideoCodec,
    private readonly video: MediaStreamTrack | null,
    private readonly audio: MediaStreamTrack | null,
    /** Opus (AAC as its Opus rendition), or a camera's G.711 passed through. */
    private readonly audioCodec: WebrtcAudioCodec,
    private readonly events: WhepReaderEvents,
  ) {}

  omits(track: Track): string | null {
    if (track.kind === 'video') {
      return track.codec === this.videoCodec ? null : `this WebRTC viewer gets ${this.videoCodec.toUpperCase()} video: ${track.codec.toUpperCase()} is not carried`;
    }
    if (track.codec === this.audioCodec) return null;
    // AAC and G.711 reach Opus viewers as the stream's Opus rendition.
    if (this.audioCodec === 'opus' && (track.codec === 'aac' || track.codec === 'pcmu' || track.codec === 'pcma')) return null;
    return `this WebRTC viewer gets ${this.audioCodec.toUpperCase()} audio: ${track.codec.toUpperCase()} is not transcoded to it`;
  }

  start(info: StreamStart): void {
    this.hasVideo = info.tracks.some((t) => t.kind === 'video' && t.codec === this.videoCodec);
  }

  /**
   * How long video is held back (ms) so that it leaves together with the transcoded audio of the
   * same time; 0 when the audio is not transcoded.
   */
  videoDelay: () => number = () => 0;
  private delayed: MediaUnit[] = [];
  /** Set while catching up on the cached GOP: the wall time and pts of its keyframe. */
  private catchUp: { wall: number; pts: number } | null = null;
  private delayTimer: NodeJS.Timeout | null = null;

  unit(unit: MediaUnit): void {
    const track = unit.track;
    if (track.kind === 'video') {
      if (track.codec !== this.videoCodec || !this.video) return;
      if (this.delayed.length === 0 && this.sendTimeOf(unit) <= performance.now()) return this.sendVideo(unit);
      this.delayed.push(unit);
      this.scheduleVideo();
    } else if (track.codec === this.audioCodec) {
      this.sendAudio(unit.data, unit.pts, unit.receivedAt);
      // For a rendition (AAC → Opus), `receivedAt` is when the AAC frame holding its start arrived.
      latencyProbe()?.record('webrtc-audio', performance.now() - unit.receivedAt);
    }
  }

  /**
   * When a video unit may leave: `videoDelay` after it arrived, and, while the viewer catches up on
   * the cached GOP it started with, no faster than CATCH_UP times real time (a whole GOP in one burst
   * overflows buffers on real networks).
   */
  private sendTimeOf(unit: MediaUnit): number {
    const due = unit.receivedAt + this.videoDelay();
    if (!this.catchUp) return due;
    const paced = this.catchUp.wall + (unit.pts - this.catchUp.pts) / (90 * CATCH_UP);
    if (paced <= due) {
      this.catchUp = null; // live again
      return due;
    }
    return paced;
  }

  /** One timer per viewer at most; units leave in order, each at its send time. */
  private scheduleVideo(): void {
    if (this.delayTimer || this.delayed.length === 0) return;
    const at = this.sendTimeOf(this.delayed[0]!);
    this.delayTimer = setTimeout(() => {
      this.delayTimer = null;
      const now = performance.now() + 0.5;
      while (this.delayed.length > 0 && this.sendTimeOf(this.delayed[0]!) <= now) this.sendVideo(this.delayed.shift()!);
      this.scheduleVideo();
    }, Math.max(0, at - performance.now()));
  }

  private sendVideo(unit: MediaUnit): void {
    if (!this.video) return;
    if (unit.pts !== unit.dts) {
      // Chromium's WebRTC H264 decoder shows only keyframes of a stream with B-frames (tested):
      // better a clear end than a frozen picture.
      return this.events.onDrop('the stream started sending B-frames, which WebRTC players cannot decode');
    }
    if (!this.videoStarted && !unit.keyframe) return;
    if (!this.videoStarted) {
      this.rebaseAt(unit.pts);
      // A keyframe from the cache: what follows it (older than live) is paced.
      if (performance.now() - unit.receivedAt > this.videoDelay() + 50) this.catchUp = { wall: performance.now(), pts: unit.pts };
    }
    this.videoStarted = true;
    const t = unit.pts + this.offset;
    this.lastSent = Math.max(this.lastSent ?? t, t);
    const ts = t >>> 0; // 90 kHz, the RTP clock of H264 and VP8 (RFC 6184 §5.1, RFC 7741 §4.1)
    // The whole frame in one call where the send path takes frames (the native addon), else what it
    // did not take packet by packet.
    const frame = this.fastSendFrame ? videoFrameOf(unit) : null;
    const sent = frame ? this.fastSendFrame!(this.videoSeq, ts, frame) : 0;
    if (sent > 0) {
      this.videoSeq = (this.videoSeq + sent) & 0xffff;
      this.packetsSent += sent;
      this.bytesSent += (sent === frame!.payloads.length ? frame!.bytes : 0) + sent * 12;
      if (sent < frame!.payloads.length) for (let i = 0; i < sent; i++) this.bytesSent += frame!.payloads[i]!.length;
    }
    const packets = videoPayloadsOf(unit);
    for (let i = sent; i < packets.length; i++) {
      const p = packets[i]!;
      this.send(this.video, 'video', this.videoSeq, ts, p.marker, p.payload);
      this.videoSeq = (this.videoSeq + 1) & 0xffff;
    }
    this.events.sent?.('video', t, unit.receivedAt);
    const probe = latencyProbe();
    if (probe) {
      const added = performance.now() - unit.receivedAt;
      probe.record('webrtc-video', added);
      // The same without the deliberate lip-sync hold: what the gateway's own work adds.
      probe.record('webrtc-video-processing', Math.max(0, added - this.videoDelay()));
    }
  }

  /** A new publisher (after `restart`): continue from the last time sent, one frame later. */
  private rebaseAt(pts: number): void {
    if (!this.rebase) return;
    this.rebase = false;
    if (this.lastSent !== null) this.offset = this.lastSent + FRAME_GAP - pts;
  }

  /** The viewer moves to a new publisher of its path: wait for a keyframe, keep RTP time running. */
  restart(): void {
    // Held-back frames are in the GOP the viewer starts over with.
    this.discardDelayed();
    this.catchUp = null;
    this.videoStarted = false;
    this.hasVideo = false;
    this.rebase = true;
  }

  private sendAudio(data: Buffer, pts90k: number, receivedAt: number): void {
    if (!this.audio || (this.hasVideo && !this.videoStarted)) return;
    // While video catches up on the cached GOP it is behind the live audio: audio starts with live
    // video, so that the two start in sync.
    if (this.catchUp && this.hasVideo) return;
    if (!this.hasVideo) this.rebaseAt(pts90k);
    const t = pts90k + this.offset;
    this.lastSent = Math.max(this.lastSent ?? t, t);
    const ts = Math.round((t * (this.audioCodec === 'opus' ? 48_000 : 8000)) / TIMESCALE) >>> 0;
    this.send(this.audio, 'audio', this.audioSeq, ts, false, data);
    this.audioSeq = (this.audioSeq + 1) & 0xffff;
    this.events.sent?.('audio', t, receivedAt);
  }

  /**
   * Where packets go once the viewer's transport allows (fast-rtp.ts): header, SRTP and send done by
   * livegate. Until then, and when it declines a packet, werift's own path (the payload type there is
   * a placeholder werift replaces with the negotiated one).
   */
  fastSend: ((kind: 'video' | 'audio', seq: number, ts: number, marker: boolean, payload: Buffer) => boolean) | null = null;
  /** A video frame at once, numbered from `seq` on: how many of its packets went (0: none, send them one by one). */
  fastSendFrame: ((seq: number, ts: number, frame: RtpFrame) => number) | null = null;

  private send(track: MediaStreamTrack, kind: 'video' | 'audio', seq: number, ts: number, marker: boolean, payload: Buffer): void {
    if (!this.fastSend?.(kind, seq, ts, marker, payload)) {
      track.writeRtp(new RtpPacket(new RtpHeader({ payloadType: kind === 'video' ? 96 : this.audioCodec === 'opus' ? 111 : this.audioCodec === 'pcmu' ? 0 : 8, sequenceNumber: seq, timestamp: ts, marker }), payload));
    }
    this.packetsSent++;
    this.bytesSent += payload.length + 12;
  }

  trackUpdate(track: Track): void {
    if (track.kind === 'video' && track.codec === this.videoCodec) this.hasVideo = true;
  }

  metadata(_meta: StreamMetadata): void {}

  end(reason: string): void {
    this.flushDelayed();
    this.events.onEnd(reason);
  }

  /** Sends what is held back at once (the stream ended) and stops the timer. */
  flushDelayed(): void {
    if (this.delayTimer) clearTimeout(this.delayTimer);
    this.delayTimer = null;
    const held = this.delayed;
    this.delayed = [];
    for (const u of held) this.sendVideo(u);
  }

  /** Drops what is held back (the viewer is closing). */
  discardDelayed(): void {
    if (this.delayTimer) clearTimeout(this.delayTimer);
    this.delayTimer = null;
    this.delayed = [];
  }

  backlog(): number {
    return 0;
  }

  drop(reason: string): void {
    this.events.onDrop(reason);
  }
}
