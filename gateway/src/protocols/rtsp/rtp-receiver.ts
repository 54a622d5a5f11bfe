/**
 * RTP of one media section of an RTSP publisher or camera → MediaUnits on the publisher's timeline.
 * Per packet: jitter buffer (UDP reorders), the payload format's depacketizer, the RTP → stream time
 * mapping that RTCP sender reports keep in sync across tracks. Parameter sets come from the SDP
 * (`sprop-parameter-sets`, `sprop-vps/sps/pps`, AAC `config`) and from the stream itself. Sockets
 * and sessions are not its business; a packet it cannot use is counted, never thrown.
 */
import { parseAudioSpecificConfig, codecString as aacCodecString } from '../../codec/aac.js';
import { buildAvcC, codecString as avcCodecString, parseSps } from '../../codec/h264.js';
import { buildHvcC, codecString as hevcCodecString, parseH265Sps, parseHvcC } from '../../codec/h265.js';
import { buildOpusHead, opusChannels, OPUS_RATE } from '../../codec/opus.js';
import { describeError } from '../../core/errors.js';
import type { LogFields } from '../../core/log.js';
import { makeUnit, type MediaUnit, type Track } from '../../core/media-unit.js';
import type { RtspMedia } from '../../format/sdp-rtsp.js';
import { AacHbrDepacketizer } from '../../format/rtp/aac-hbr.js';
import { LatmDepacketizer, latmAudioSpecificConfig } from '../../format/rtp/mp4a-latm.js';
import { H264Depacketizer } from '../../format/rtp/h264-depacketizer.js';
import { H265Depacketizer } from '../../format/rtp/h265.js';
import { DecodeTimes } from '../../format/rtp/decode-times.js';
import { JitterBuffer, type Released } from '../../format/rtp/jitter-buffer.js';
import type { RtpPacket } from '../../format/rtp/rtp-packet.js';
import type { RtpTimeline, RtpTrackClock } from '../../format/rtp/rtp-clock.js';

export interface RtpReceiverEvents {
  track(track: Track): void;
  unit(unit: MediaUnit): void;
  warn(message: string, fields: LogFields): void;
}

/** A frame out of a depacketizer, before it becomes a unit. */
interface Frame {
  data: Buffer;
  timestamp: number;
  keyframe: boolean;
  /** Video parameter sets carried in the frame. */
  vps?: Buffer;
  sps?: Buffer;
  pps?: Buffer;
}

interface Depacketizer {
  push(payload: Buffer, timestamp: number, marker: boolean, afterLoss: boolean): Frame[];
}

/** The encodings livegate reads from RTSP (RTP payload format names as SDP writes them). */
export const RTSP_INGEST_CODECS = ['H264', 'H265', 'MPEG4-GENERIC', 'MP4A-LATM', 'OPUS', 'PCMU', 'PCMA'] as const;

/** Why a media section cannot be read, or null when it can. */
export function unreadable(media: RtspMedia): string | null {
  if (!(RTSP_INGEST_CODECS as readonly string[]).includes(media.codec)) return `${media.codec} is not supported`;
  if (media.codec === 'MPEG4-GENERIC') {
    const mode = (media.fmtp['mode'] ?? '').toLowerCase();
    if (mode !== 'aac-hbr') return `mpeg4-generic mode "${media.fmtp['mode'] ?? ''}" is not supported (AAC-hbr is)`;
    if (!media.fmtp['config']) return 'mpeg4-generic without config';
  }
  if (media.codec === 'MP4A-LATM') {
    if ((media.fmtp['cpresent'] ?? '1') !== '0') return 'MP4A-LATM with the configuration in-band (cpresent=1) is not supported';
    try {
      latmAudioSpecificConfig(Buffer.from(media.fmtp['config'] ?? '', 'hex'));
    } catch (err) {
      return describeError(err);
    }
  }
  if ((media.codec === 'PCMU' || media.codec === 'PCMA') && (media.clockRate !== 8000 || media.channels !== 1)) return `${media.codec} at ${media.clockRate} Hz × ${media.channels} (8 kHz mono is)`;
  return null;
}

const MAX_HELD_PACKETS = 512;
/**
 * Added to every time of an RTP source: the decode times of the first frames of a video with
 * B-frames lie a little before its first presentation time (see DecodeTimes), never below 0.
 */
const TIMELINE_HEADROOM = 24_000;

export class RtpReceiver {
  private readonly jitter: JitterBuffer<RtpPacket>;
  private readonly clock: RtpTrackClock;
  private readonly depacketizer: Depacketizer;
  private track: Track | null = null;
  private vps: Buffer | null = null;
  private sps: Buffer | null = null;
  private pps: Buffer | null = null;
  private ssrc: number | null = null;
  /** Video: decode times from presentation times (RTP carries only the latter). */
  private readonly decode: DecodeTimes | null;
  /** Counters for the API. */
  packets = 0;
  bytes = 0;
  units = 0;
  /** Packets of another payload type or SSRC than the section's. */
  foreign = 0;
  /** RFC 3550 §A.8 interarrival jitter, in RTP timestamp units. */
  private jitterEstimate = 0;
  private lastTransit: number | null = null;
  private readonly codec: string;

  constructor(
    readonly media: RtspMedia,
    private readonly trackId: number,
    timeline: RtpTimeline,
    private readonly events: RtpReceiverEvents,
    jitterBufferMs: number,
  ) {
    this.codec = media.codec;
    this.jitter = new JitterBuffer<RtpPacket>({ maxWaitMs: jitterBufferMs, maxPackets: MAX_HELD_PACKETS });
    this.clock = timeline.track(media.clockRate);
    this.decode = media.codec === 'H264' || media.codec === 'H265' ? new DecodeTimes() : null;
    this.depacketizer = this.makeDepacketizer();
  }

  /** The track from the SDP alone (parameter sets in the SDP), or null until the stream brings them. */
  initialTrack(): Track | null {
    return this.track;
  }

  get lost(): number {
    return this.jitter.stats.lost;
  }

  /** Interarrival jitter in ms. */
  get jitterMs(): number {
    return (this.jitterEstimate / this.media.clockRate) * 1000;
  }

  push(packet: RtpPacket, now: number): void {
    if (packet.payloadType !== this.media.payloadType) {
      this.foreign++;
      return;
    }
    if (this.ssrc !== packet.ssrc) {
      if (this.ssrc !== null) {
        this.events.warn('RTSP source changed SSRC', { codec: this.codec, from: this.ssrc, to: packet.ssrc });
        this.deliver(this.jitter.reset(), now);
        this.clock.reset();
        this.decode?.reset();
        this.lastTransit = null;
      }
      this.ssrc = packet.ssrc;
    }
    this.packets++;
    this.bytes += packet.payload.length;
    const transit = (now / 1000) * this.media.clockRate - packet.timestamp;
    if (this.lastTransit !== null) {
      let d = Math.abs(transit - this.lastTransit);
      if (d > this.media.clockRate * 10) d = 0; // a timestamp jump is not jitter
      this.jitterEstimate += (d - this.jitterEstimate) / 16;
    }
    this.lastTransit = transit;
    this.deliver(this.jitter.push(packet, now), now);
  }

  poll(now: number): void {
    this.deliver(this.jitter.poll(now), now);
  }

  nextDeadline(): number | null {
    return this.jitter.nextDeadline();
  }

  senderReport(ssrc: number, ntp: bigint, rtpTimestamp: number, now: number): void {
    if (ssrc === this.ssrc) this.clock.senderReport(ntp, rtpTimestamp, now);
  }

  /** The SSRC the section sends with (for receiver reports). */
  get sourceSsrc(): number | null {
    return this.ssrc;
  }

  get highestSequence(): number {
    return this.jitter.stats.received;
  }

  private deliver(released: Released<RtpPacket>[], now: number): void {
    for (const { packet, afterLoss } of released) {
      let frames: Frame[];
      try {
        frames = this.depacketizer.push(packet.payload, packet.timestamp, packet.marker, afterLoss);
      } catch (err) {
        this.events.warn('RTP payload dropped', { codec: this.codec, reason: describeError(err) });
        continue;
      }
      for (const f of frames) this.emit(f, now);
    }
  }

  private emit(frame: Frame, now: number): void {
    if (frame.sps || frame.pps || frame.vps) this.parameterSets(frame);
    const track = this.track;
    if (!track) return;
    const pts = this.clock.toTicks(frame.timestamp, now) + TIMELINE_HEADROOM;
    const dts = this.decode ? this.decode.next(pts) : pts;
    this.units++;
    this.events.unit(makeUnit(track, dts, pts, frame.keyframe, frame.data, now));
  }

  private makeDepacketizer(): Depacketizer {
    const m = this.media;
    const id = this.trackId;
    switch (m.codec) {
      case 'H264': {
        for (const b64 of (m.fmtp['sprop-parameter-sets'] ?? '').split(',')) {
          const nal = b64 ? Buffer.from(b64, 'base64') : null;
          if (nal && nal.length > 0 && (nal[0]! & 0x1f) === 7) this.sps = nal;
          if (nal && nal.length > 0 && (nal[0]! & 0x1f) === 8) this.pps = nal;
        }
        this.announceVideo(false);
        return new H264Depacketizer();
      }
      case 'H265': {
        const one = (k: string): Buffer | null => {
          const v = m.fmtp[k]?.split(',')[0];
          return v ? Buffer.from(v, 'base64') : null;
        };
        this.vps = one('sprop-vps');
        this.sps = one('sprop-sps');
        this.pps = one('sprop-pps');
        this.announceVideo(false);
        return new H265Depacketizer();
      }
      case 'MPEG4-GENERIC': {
        const config = Buffer.from(m.fmtp['config'] ?? '', 'hex');
        const asc = parseAudioSpecificConfig(config);
        this.track = { kind: 'audio', id, codec: 'aac', config, sampleRate: asc.sampleRate, channels: asc.channels, codecString: aacCodecString(asc) };
        const hbr = new AacHbrDepacketizer(1024);
        return {
          push: (payload, timestamp, marker, afterLoss) => hbr.push(payload, timestamp, marker, afterLoss).map((au) => ({ data: au.data, timestamp: au.timestamp, keyframe: true })),
        };
      }
      case 'MP4A-LATM': {
        const config = latmAudioSpecificConfig(Buffer.from(m.fmtp['config'] ?? '', 'hex'));
        const asc = parseAudioSpecificConfig(config);
        this.track = { kind: 'audio', id, codec: 'aac', config, sampleRate: asc.sampleRate, channels: asc.channels, codecString: aacCodecString(asc) };
        const latm = new LatmDepacketizer();
        return {
          push: (payload, timestamp, marker, afterLoss) => latm.push(payload, timestamp, marker, afterLoss).map((au) => ({ data: au.data, timestamp: au.timestamp, keyframe: true })),
        };
      }
      case 'OPUS': {
        const channels = m.channels === 2 || m.fmtp['sprop-stereo'] === '1' ? 2 : 1;
        this.track = { kind: 'audio', id, codec: 'opus', config: buildOpusHead(channels), sampleRate: OPUS_RATE, channels, codecString: 'opus' };
        return {
          push: (payload, timestamp) => {
            if (payload.length === 0) return [];
            if (opusChannels(payload) === 2 && this.track?.kind === 'audio' && this.track.channels === 1) {
              this.track = { ...this.track, config: buildOpusHead(2), channels: 2 };
              this.events.track(this.track);
            }
            return [{ data: payload, timestamp, keyframe: true }];
          },
        };
      }
      case 'PCMU':
      case 'PCMA': {
        const codec = m.codec === 'PCMU' ? 'pcmu' : 'pcma';
        this.track = { kind: 'audio', id, codec, config: null, sampleRate: 8000, channels: 1, codecString: codec };
        return { push: (payload, timestamp) => (payload.length > 0 ? [{ data: payload, timestamp, keyframe: true }] : []) };
      }
      default:
        throw new Error(`RtpReceiver for ${m.codec}: check unreadable() first`);
    }
  }

  private parameterSets(frame: Frame): void {
    let changed = false;
    const take = (now: Buffer | undefined, was: Buffer | null): Buffer | null => {
      if (!now || (was && now.equals(was))) return was;
      changed = true;
      return Buffer.from(now);
    };
    this.vps = take(frame.vps, this.vps);
    this.sps = take(frame.sps, this.sps);
    this.pps = take(frame.pps, this.pps);
    if (changed || !this.track) this.announceVideo(true);
  }

  /** Makes the video track from the parameter sets known; `tell`: announce it to the stream. */
  private announceVideo(tell: boolean): void {
    const id = this.trackId;
    try {
      if (this.codec === 'H264' && this.sps && this.pps) {
        const info = parseSps(this.sps);
        if (info.maxReorderFrames !== undefined) this.decode?.setDepth(info.maxReorderFrames);
        this.track = { kind: 'video', id, codec: 'h264', config: buildAvcC({ sps: [this.sps], pps: [this.pps] }), width: info.width, height: info.height, codecString: avcCodecString(info) };
      } else if (this.codec === 'H265' && this.vps && this.sps && this.pps) {
        const info = parseH265Sps(this.sps);
        const config = buildHvcC([this.vps], [this.sps], [this.pps]);
        this.track = { kind: 'video', id, codec: 'h265', config, width: info.width, height: info.height, codecString: hevcCodecString(parseHvcC(config)) };
      } else return;
    } catch (err) {
      this.events.warn('bad parameter sets from the RTSP source', { codec: this.codec, reason: describeError(err) });
      this.sps = null;
      return;
    }
    if (tell) this.events.track(this.track);
  }
}
