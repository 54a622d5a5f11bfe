/**
 * Stream → one RTSP player. The bytes are the stream's (see stream-packets.ts): over TCP the unit's
 * interleaved frames are written as they are (one write per unit), over UDP each RTP packet is a
 * view of them; only a player that chose unusual interleaved channels gets its own copy. RTCP
 * sender reports (NTP from the stream timeline, so audio and video line up) go before a track's
 * first unit and every few seconds after.
 */
import type { MediaUnit, StreamMetadata, Track } from '../../core/media-unit.js';
import type { ReaderSink, StreamStart } from '../../core/reader.js';
import { buildSenderReport, ntpOf } from '../../format/rtp/rtcp.js';
import { TIMESCALE } from '../../core/media-unit.js';
import { latencyProbe } from '../../core/latency-probe.js';
import { rtspOmits, type RtspTrackOut, type StreamPackets } from './stream-packets.js';

const SENDER_REPORT_INTERVAL_MS = 2000;

/** One SETUP of the player: the track and where its packets go. */
export interface PlayedTrack {
  readonly out: RtspTrackOut;
  /** TCP: the interleaved channels the player chose (RTP, RTCP). */
  readonly channels?: readonly [number, number];
}

/** What the player's session offers to this reader. */
export interface RtspPlayerOutput {
  readonly tcp: boolean;
  /** TCP: whole interleaved frames. */
  write(bytes: Buffer): void;
  /** UDP: one RTP (or RTCP) packet of a track. */
  sendUdp(trackId: number, rtcp: boolean, packet: Buffer): void;
  beginBatch(): void;
  endBatch(): void;
  backlog(): number;
  endOfStream(reason: string): void;
  abort(reason: string): void;
}

interface TrackState {
  readonly played: PlayedTrack;
  lastReportAt: number;
  packets: number;
  octets: number;
}

export class RtspReader implements ReaderSink {
  private readonly tracks = new Map<number, TrackState>();
  private paused = false;
  private waitingKeyframe = false;
  unitsSent = 0;

  constructor(
    private readonly output: RtspPlayerOutput,
    private readonly packets: StreamPackets,
    played: readonly PlayedTrack[],
  ) {
    for (const p of played) this.tracks.set(p.out.trackId, { played: p, lastReportAt: -Infinity, packets: 0, octets: 0 });
  }

  omits(track: Track): string | null {
    return rtspOmits(track) ?? (this.tracks.has(track.id) ? null : 'not set up by the player (not in the SDP it was given)');
  }

  setPaused(paused: boolean): void {
    if (this.paused && !paused) this.waitingKeyframe = true;
    this.paused = paused;
  }

  start(_info: StreamStart): void {}

  unit(unit: MediaUnit): void {
    if (this.paused) return;
    const t = this.tracks.get(unit.track.id);
    if (!t || t.played.out.codec !== unit.track.codec) return;
    if (this.waitingKeyframe) {
      if (unit.track.kind === 'video' && !unit.keyframe) return;
      if (unit.track.kind === 'video') this.waitingKeyframe = false;
    }
    const bytes = this.packets.packetsOf(unit, t.played.out);
    if (!bytes) return;
    const now = performance.now();
    if (now - t.lastReportAt >= SENDER_REPORT_INTERVAL_MS) {
      t.lastReportAt = now;
      this.senderReport(t, bytes.rtpTimestamp, unit.pts);
    }
    this.unitsSent++;
    t.packets += bytes.packets.length;
    t.octets += bytes.bytes;
    if (this.output.tcp) {
      const ch = t.played.channels?.[0] ?? bytes.channel;
      if (ch === bytes.channel) this.output.write(bytes.interleaved);
      else {
        const copy = Buffer.from(bytes.interleaved);
        for (const p of bytes.packets) copy[p.byteOffset - bytes.interleaved.byteOffset - 3] = ch;
        this.output.write(copy);
      }
    } else {
      for (const p of bytes.packets) this.output.sendUdp(unit.track.id, false, p);
    }
    latencyProbe()?.record('rtsp', performance.now() - unit.receivedAt);
  }

  private senderReport(t: TrackState, rtpTimestamp: number, ticks: number): void {
    const sr = buildSenderReport({
      ssrc: t.played.out.ssrc,
      ntp: ntpOf(this.packets.epochMs + (ticks / TIMESCALE) * 1000),
      rtpTimestamp,
      packets: t.packets,
      octets: t.octets,
    });
    if (this.output.tcp) {
      const ch = t.played.channels?.[1] ?? t.played.out.index * 2 + 1;
      const head = Buffer.from([0x24, ch, sr.length >> 8, sr.length & 0xff]);
      this.output.write(Buffer.concat([head, sr]));
    } else {
      this.output.sendUdp(t.played.out.trackId, true, sr);
    }
  }

  trackUpdate(): void {
    // In-band parameter sets go in front of every keyframe; the SDP the player has stays valid.
  }

  metadata(_meta: StreamMetadata): void {}

  end(reason: string): void {
    this.output.endOfStream(reason);
  }

  backlog(): number {
    return this.output.backlog();
  }

  beginBatch(): void {
    this.output.beginBatch();
  }

  endBatch(): void {
    this.output.endBatch();
  }

  drop(reason: string): void {
    this.output.abort(reason);
  }
}
