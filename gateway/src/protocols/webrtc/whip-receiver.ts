/**
 * RTP of one WHIP media section (video: H264 or VP8; audio: Opus) → MediaUnits on the stream clock.
 * Per packet: jitter buffer (reordering, waiting a little for NACKed retransmissions), then the
 * payload format's depacketizer, then the RTP → stream time mapping that RTCP sender reports keep
 * in sync across tracks. Knows nothing of werift or sockets.
 */
import { buildAvcC, codecString as avcCodecString, parseSps } from '../../codec/h264.js';
import { buildOpusHead, opusChannels, OPUS_RATE } from '../../codec/opus.js';
import { describeError } from '../../core/errors.js';
import { makeUnit, type AudioTrack, type MediaUnit, type Track, type VideoTrack } from '../../core/media-unit.js';
import { H264Depacketizer } from '../../format/rtp/h264-depacketizer.js';
import { JitterBuffer, type Released, type SequencedPacket } from '../../format/rtp/jitter-buffer.js';
import type { RtpTimeline, RtpTrackClock } from '../../format/rtp/rtp-clock.js';
import { Vp8Depacketizer } from '../../format/rtp/vp8.js';

export type WhipCodec = 'h264' | 'vp8' | 'opus';

/** What the receiver needs of an RTP packet (werift's RtpPacket, flattened). */
export interface RtpIn extends SequencedPacket {
  ssrc: number;
  payloadType: number;
}

export interface WhipReceiverEvents {
  /** A track appeared or changed (first packet, new SPS/PPS, new picture size). */
  track(track: Track): void;
  unit(unit: MediaUnit): void;
  /**
   * The picture is damaged or not started: ask the publisher for a keyframe. Called for every packet
   * while that lasts; the caller rate-limits.
   */
  needKeyframe(reason: string): void;
  /** Something was dropped that the operator may want to know about. */
  warn(message: string, fields: { [k: string]: unknown }): void;
}

export interface WhipReceiverOptions {
  kind: 'video' | 'audio';
  trackId: number;
  /** The codec of each negotiated payload type (RTX is unwrapped before this point). */
  codecs: ReadonlyMap<number, WhipCodec>;
  timeline: RtpTimeline;
  jitterBufferMs: number;
  /**
   * Opus channels as the offer says (sprop-stereo / stereo); fixed for the stream, so that its AAC
   * transcode never changes configuration midway. Without it, the packets decide (widening only).
   */
  opusChannels?: 1 | 2;
  events: WhipReceiverEvents;
}

interface Frame {
  data: Buffer;
  timestamp: number;
  keyframe: boolean;
  sps?: Buffer;
  pps?: Buffer;
  width?: number;
  height?: number;
}

interface Depacketizer {
  push(payload: Buffer, timestamp: number, marker: boolean, afterLoss: boolean): Frame[];
  readonly needsKeyframe: boolean;
}

/** Opus: one packet is one frame (RFC 7587 §4.2); padding-only packets carry nothing. */
class OpusFrames implements Depacketizer {
  readonly needsKeyframe = false;
  push(payload: Buffer, timestamp: number): Frame[] {
    return payload.length > 0 ? [{ data: payload, timestamp, keyframe: true }] : [];
  }
}

/** A section moves to a new SSRC only once the current one has been silent this long. */
const SSRC_SWITCH_QUIET_MS = 500;

/** The jitter buffer holds at most this many packets (≈ 1 s of 4 Mb/s video). */
const MAX_HELD_PACKETS = 512;

export class WhipReceiver {
  private readonly jitter: JitterBuffer<RtpIn>;
  private readonly clock: RtpTrackClock;
  private depacketizer: Depacketizer | null = null;
  private codec: WhipCodec | null = null;
  private ssrc: number | null = null;
  private track: Track | null = null;
  /** Parameter sets of the current H264 track. */
  private sps: Buffer | null = null;
  private pps: Buffer | null = null;
  /** Counters for the API. */
  packets = 0;
  bytes = 0;
  units = 0;
  ssrcChanges = 0;
  unknownPayloadTypes = 0;
  /** Packets of another SSRC, dropped while the current one sends. */
  foreignPackets = 0;
  private lastPacketAt = -Infinity;

  constructor(private readonly options: WhipReceiverOptions) {
    this.jitter = new JitterBuffer<RtpIn>({ maxWaitMs: options.jitterBufferMs, maxPackets: MAX_HELD_PACKETS });
    this.clock = options.timeline.track(options.kind === 'video' ? 90_000 : OPUS_RATE);
  }

  get codecName(): WhipCodec | null {
    return this.codec;
  }

  get jitterStats(): JitterBuffer<RtpIn>['stats'] {
    return this.jitter.stats;
  }

  /** One RTP packet as it arrived (any order). */
  push(packet: RtpIn, now: number): void {
    if (this.ssrc !== packet.ssrc && this.ssrc !== null && now - this.lastPacketAt < SSRC_SWITCH_QUIET_MS) {
      // A second source in one section while the first still sends (livegate takes one encoding per
      // section): it is not allowed to reset everything on every packet.
      this.foreignPackets++;
      return;
    }
    this.lastPacketAt = now;
    this.packets++;
    this.bytes += packet.payload.length;
    if (this.ssrc !== packet.ssrc) {
      if (this.ssrc !== null) {
        // The publisher restarted its encoder or switched sources: what the old source left in the
        // jitter buffer goes out first, then a new sequence, depacketizer and RTP clock begin, while
        // stream time keeps running forward.
        this.ssrcChanges++;
        this.deliver(this.jitter.reset(), now);
        this.clock.reset();
        this.depacketizer = null;
        this.freshSequence = true;
        this.options.events.warn('publisher changed SSRC', { kind: this.options.kind, from: this.ssrc, to: packet.ssrc });
      }
      this.ssrc = packet.ssrc;
    }
    this.deliver(this.jitter.push(packet, now), now);
  }

  /** The first packet of a new SSRC is not "after a loss": nothing of the new source was lost. */
  private freshSequence = false;

  /** Gives up on gaps that waited long enough; call when `nextDeadline()` is due. */
  poll(now: number): void {
    this.deliver(this.jitter.poll(now), now);
  }

  nextDeadline(): number | null {
    return this.jitter.nextDeadline();
  }

  /** An RTCP sender report for this media section's SSRC. */
  senderReport(ssrc: number, ntp: bigint, rtpTimestamp: number, now: number): void {
    if (ssrc === this.ssrc) this.clock.senderReport(ntp, rtpTimestamp, now);
  }

  private deliver(released: Released<RtpIn>[], now: number): void {
    for (const entry of released) {
      const packet = entry.packet;
      const afterLoss = entry.afterLoss && !this.freshSequence;
      this.freshSequence = false;
      const codec = this.options.codecs.get(packet.payloadType);
      if (!codec) {
        this.unknownPayloadTypes++;
        continue;
      }
      if (codec !== this.codec || !this.depacketizer) this.switchCodec(codec);
      const dep = this.depacketizer!;
      let frames: Frame[];
      try {
        frames = dep.push(packet.payload, packet.timestamp, packet.marker, afterLoss);
      } catch (err) {
        // The depacketizers do not throw on bad input; this guards the stream all the same.
        this.options.events.warn('RTP payload dropped', { kind: this.options.kind, reason: describeError(err) });
        continue;
      }
      for (const f of frames) this.emit(f, now);
      // Asked on every packet until the keyframe comes (the session sends one PLI a second at most):
      // a PLI can be lost, or land while the last one is still being answered.
      if (dep.needsKeyframe) this.options.events.needKeyframe(afterLoss ? 'packets lost' : 'waiting for a keyframe');
    }
  }

  private switchCodec(codec: WhipCodec): void {
    this.codec = codec;
    this.depacketizer = codec === 'h264' ? new H264Depacketizer() : codec === 'vp8' ? new Vp8Depacketizer() : new OpusFrames();
    this.track = null;
    this.sps = this.pps = null;
  }

  private emit(frame: Frame, now: number): void {
    const track = this.trackFor(frame);
    if (!track) return;
    const ticks = this.clock.toTicks(frame.timestamp, now);
    this.units++;
    this.options.events.unit(makeUnit(track, ticks, ticks, frame.keyframe, frame.data, now));
  }

  /** The track this frame belongs to, announced (again) when it is new or changed; null: drop the frame. */
  private trackFor(frame: Frame): Track | null {
    const id = this.options.trackId;
    switch (this.codec) {
      case 'opus': {
        const channels = this.options.opusChannels ?? opusChannels(frame.data) ?? 1;
        const t = this.track as AudioTrack | null;
        // Mono packets in a stereo stream are normal (the encoder switches); only widen.
        if (!t || (this.options.opusChannels === undefined && t.channels < channels)) {
          this.announce({ kind: 'audio', id, codec: 'opus', config: buildOpusHead(channels), sampleRate: OPUS_RATE, channels, codecString: 'opus' });
        }
        return this.track;
      }
      case 'h264': {
        let changed = false;
        if (frame.sps && !frame.sps.equals(this.sps ?? Buffer.alloc(0))) {
          this.sps = Buffer.from(frame.sps);
          changed = true;
        }
        if (frame.pps && !frame.pps.equals(this.pps ?? Buffer.alloc(0))) {
          this.pps = Buffer.from(frame.pps);
          changed = true;
        }
        if ((changed || !this.track) && this.sps && this.pps) {
          try {
            const info = parseSps(this.sps);
            this.announce({
              kind: 'video',
              id,
              codec: 'h264',
              config: buildAvcC({ sps: [this.sps], pps: [this.pps] }),
              width: info.width,
              height: info.height,
              codecString: avcCodecString(info),
            });
          } catch (err) {
            this.options.events.warn('bad SPS from the publisher', { reason: describeError(err) });
            this.sps = null;
          }
        }
        if (!this.track) this.options.events.needKeyframe('no SPS/PPS yet');
        return this.track;
      }
      case 'vp8': {
        const t = this.track as VideoTrack | null;
        if (frame.keyframe && frame.width && frame.height && (!t || t.width !== frame.width || t.height !== frame.height)) {
          this.announce({ kind: 'video', id, codec: 'vp8', config: null, width: frame.width, height: frame.height, codecString: 'vp8' });
        }
        return this.track;
      }
      default:
        return null;
    }
  }

  private announce(track: Track): void {
    this.track = track;
    this.options.events.track(track);
  }
}
