/**
 * Stream → RTP for every RTSP player of it, done once per stream: each track has one SSRC, one
 * sequence and one RTP clock for all players (as a broadcast RTSP server does), so a unit is
 * packetized once and the same bytes — whole `$` interleaved frames, or views of them for UDP — go
 * to every player. The SDP that DESCRIBE answers comes from here too.
 */
import { randomInt } from 'node:crypto';
import { parseAvcC } from '../../codec/h264.js';
import { H265Nal, nalType as h265NalType, parseHvcC } from '../../codec/h265.js';
import { splitLengthPrefixed } from '../../codec/nal-units.js';
import { TIMESCALE, type MediaUnit, type Track } from '../../core/media-unit.js';
import type { Stream } from '../../core/stream.js';
import { AAC_HBR_FMTP, packetizeAacHbr } from '../../format/rtp/aac-hbr.js';
import { packetizeH264 } from '../../format/rtp/h264.js';
import { packetizeH265 } from '../../format/rtp/h265.js';
import { RTP_HEADER_SIZE, writeRtpHeader } from '../../format/rtp/rtp-packet.js';

/** Payload size that keeps a UDP datagram within a 1500-byte MTU with room for tunnels. */
const MAX_PAYLOAD = 1400;

/** The RTP packets of one unit for one track: interleaved frames on the track's default channel. */
export interface UnitPackets {
  /** `$`, channel, length, RTP packet — for every packet of the unit, in one Buffer. */
  readonly interleaved: Buffer;
  /** The channel written in `interleaved`. */
  readonly channel: number;
  /** Each RTP packet: a view of `interleaved`. */
  readonly packets: readonly Buffer[];
  readonly rtpTimestamp: number;
  readonly bytes: number;
}

/** One track as RTSP describes and sends it. */
export interface RtspTrackOut {
  readonly trackId: number;
  /** Position in the SDP: default interleaved channels 2×index, 2×index+1. */
  readonly index: number;
  readonly control: string;
  readonly payloadType: number;
  readonly clockRate: number;
  readonly ssrc: number;
  readonly codec: Track['codec'];
  /** The SDP media section. */
  readonly sdp: string;
  /** Next sequence number (16-bit wrap applied when written). */
  sequence: number;
  readonly rtpBase: number;
  packetsSent: number;
  octetsSent: number;
}

/** Why RTSP cannot carry a track, or null. */
export function rtspOmits(track: Track): string | null {
  if (track.codec === 'h264' || track.codec === 'h265' || track.codec === 'opus' || track.codec === 'pcmu' || track.codec === 'pcma') return null;
  if (track.codec === 'aac') return track.config ? null : 'AAC without an AudioSpecificConfig';
  return `RTSP output does not carry ${track.codec}`;
}

function mediaSection(track: Track, pt: number, control: string): string | null {
  const lines: string[] = [];
  switch (track.codec) {
    case 'h264': {
      lines.push(`m=video 0 RTP/AVP ${pt}`, `a=rtpmap:${pt} H264/90000`);
      let fmtp = `packetization-mode=1`;
      if (track.config) {
        try {
          const c = parseAvcC(track.config);
          const sps = c.sps[0];
          if (sps && sps.length >= 4) fmtp += `;profile-level-id=${sps.subarray(1, 4).toString('hex').toUpperCase()}`;
          fmtp += `;sprop-parameter-sets=${[...c.sps, ...c.pps].map((n) => n.toString('base64')).join(',')}`;
        } catch {
          // In-band parameter sets still play.
        }
      }
      lines.push(`a=fmtp:${pt} ${fmtp}`);
      break;
    }
    case 'h265': {
      lines.push(`m=video 0 RTP/AVP ${pt}`, `a=rtpmap:${pt} H265/90000`);
      if (track.config) {
        try {
          const c = parseHvcC(track.config);
          const of = (t: number): string => c.nalArrays.filter((a) => a.type === t).flatMap((a) => a.nalus).map((n) => n.toString('base64')).join(',');
          lines.push(`a=fmtp:${pt} sprop-vps=${of(H265Nal.Vps)};sprop-sps=${of(H265Nal.Sps)};sprop-pps=${of(H265Nal.Pps)}`);
        } catch {
          // In-band parameter sets still play.
        }
      }
      break;
    }
    case 'aac':
      if (!track.config) return null;
      lines.push(`m=audio 0 RTP/AVP ${pt}`, `a=rtpmap:${pt} MPEG4-GENERIC/${track.sampleRate}/${track.channels}`);
      lines.push(`a=fmtp:${pt} ${AAC_HBR_FMTP};config=${track.config.toString('hex')}`);
      break;
    case 'pcmu':
    case 'pcma': {
      // Static payload types 0 and 8 (RFC 3551).
      const n = track.codec === 'pcmu' ? 0 : 8;
      lines.push(`m=audio 0 RTP/AVP ${n}`, `a=rtpmap:${n} ${track.codec.toUpperCase()}/8000`);
      break;
    }
    case 'opus':
      lines.push(`m=audio 0 RTP/AVP ${pt}`, `a=rtpmap:${pt} opus/48000/2`);
      if (track.channels === 2) lines.push(`a=fmtp:${pt} sprop-stereo=1`);
      break;
    default:
      return null;
  }
  lines.push(`a=control:${control}`);
  return lines.join('\r\n') + '\r\n';
}

const state = new WeakMap<Stream, StreamPackets>();

/** The RTSP output state of a stream (made on first use, gone with the stream). */
export function streamPackets(stream: Stream): StreamPackets {
  let s = state.get(stream);
  if (!s) state.set(stream, (s = new StreamPackets()));
  return s;
}

export class StreamPackets {
  private readonly tracks = new Map<number, RtspTrackOut>();
  private nextIndex = 0;
  /** Wall-clock ms of stream time 0: the NTP side of every sender report. */
  readonly epochMs = Date.now();
  private readonly key = Symbol('rtsp.packets');

  /** The SDP of the stream's tracks that RTSP carries, and those tracks. */
  describe(tracks: readonly Track[], origin: string): { sdp: string; tracks: RtspTrackOut[] } {
    const out: RtspTrackOut[] = [];
    for (const t of tracks) {
      if (rtspOmits(t) !== null) continue;
      const o = this.trackOut(t);
      if (o) out.push(o);
    }
    const session = randomInt(1, 2 ** 31).toString();
    const sdp =
      ['v=0', `o=- ${session} ${session} IN IP4 ${origin}`, 's=livegate', 'c=IN IP4 0.0.0.0', 't=0 0', 'a=control:*', 'a=range:npt=now-'].join('\r\n') +
      '\r\n' +
      out.map((o) => o.sdp).join('');
    return { sdp, tracks: out };
  }

  trackOut(track: Track): RtspTrackOut | null {
    const have = this.tracks.get(track.id);
    if (have && have.codec === track.codec) return have;
    const pt = track.codec === 'pcmu' ? 0 : track.codec === 'pcma' ? 8 : 96 + (track.id % 32);
    const control = `trackID=${track.id}`;
    const sdp = mediaSection(track, pt, control);
    if (!sdp) return null;
    const o: RtspTrackOut = {
      trackId: track.id,
      index: have?.index ?? this.nextIndex++,
      control,
      payloadType: pt,
      clockRate: track.kind === 'video' ? 90_000 : track.codec === 'opus' ? 48_000 : track.codec === 'pcmu' || track.codec === 'pcma' ? 8000 : track.sampleRate,
      ssrc: randomInt(1, 2 ** 32 - 1),
      codec: track.codec,
      sdp,
      sequence: randomInt(0, 0x8000),
      rtpBase: randomInt(0, 2 ** 31),
      packetsSent: 0,
      octetsSent: 0,
    };
    this.tracks.set(track.id, o);
    return o;
  }

  /** RTP timestamp of a stream time (90 kHz ticks) on this track's clock. */
  rtpTime(out: RtspTrackOut, ticks: number): number {
    return (out.rtpBase + Math.round((ticks * out.clockRate) / TIMESCALE)) >>> 0;
  }

  /** The packets of `unit`, made once for all players (null: nothing to send for it). */
  packetsOf(unit: MediaUnit, out: RtspTrackOut): UnitPackets | null {
    let p = unit.memo[this.key] as UnitPackets | null | undefined;
    if (p === undefined) unit.memo[this.key] = p = this.packetize(unit, out);
    return p;
  }

  private packetize(unit: MediaUnit, out: RtspTrackOut): UnitPackets | null {
    let payloads: { payload: Buffer; marker: boolean }[];
    switch (unit.track.codec) {
      case 'h264': {
        let ps: { sps?: Buffer; pps?: Buffer } = {};
        if (unit.keyframe && unit.track.config) {
          try {
            const c = parseAvcC(unit.track.config);
            ps = { sps: c.sps[0], pps: c.pps[0] };
          } catch {
            // In-band parameter sets only.
          }
        }
        payloads = packetizeH264(splitLengthPrefixed(unit.data), { maxPayload: MAX_PAYLOAD, ...ps });
        break;
      }
      case 'h265': {
        let nals = splitLengthPrefixed(unit.data);
        if (unit.keyframe && unit.track.config && !nals.some((n) => h265NalType(n[0]!) === H265Nal.Sps)) {
          try {
            nals = [...parseHvcC(unit.track.config).nalArrays.flatMap((a) => a.nalus), ...nals];
          } catch {
            // In-band parameter sets only.
          }
        }
        payloads = packetizeH265(nals, MAX_PAYLOAD);
        break;
      }
      case 'aac':
        if (unit.data.length > 8191) return null;
        payloads = packetizeAacHbr(unit.data, MAX_PAYLOAD).map((payload) => ({ payload, marker: false }));
        payloads[payloads.length - 1]!.marker = true;
        break;
      case 'opus':
      case 'pcmu':
      case 'pcma':
        payloads = [{ payload: unit.data, marker: true }];
        break;
      default:
        return null;
    }
    if (payloads.length === 0) return null;
    const rtpTimestamp = this.rtpTime(out, unit.pts);
    let size = 0;
    for (const p of payloads) size += 4 + RTP_HEADER_SIZE + p.payload.length;
    const interleaved = Buffer.allocUnsafe(size);
    const channel = out.index * 2;
    const packets: Buffer[] = [];
    let at = 0;
    for (const p of payloads) {
      const len = RTP_HEADER_SIZE + p.payload.length;
      interleaved[at] = 0x24;
      interleaved[at + 1] = channel;
      interleaved.writeUInt16BE(len, at + 2);
      writeRtpHeader(interleaved, at + 4, { payloadType: out.payloadType, marker: p.marker, sequenceNumber: out.sequence++, timestamp: rtpTimestamp, ssrc: out.ssrc });
      p.payload.copy(interleaved, at + 4 + RTP_HEADER_SIZE);
      packets.push(interleaved.subarray(at + 4, at + 4 + len));
      at += 4 + len;
    }
    out.packetsSent += payloads.length;
    out.octetsSent += size - payloads.length * (4 + RTP_HEADER_SIZE);
    return { interleaved, channel, packets, rtpTimestamp, bytes: size };
  }
}
