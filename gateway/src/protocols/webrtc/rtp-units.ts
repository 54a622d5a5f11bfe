/**
 * MediaUnit → RTP payloads, once per unit (memoised), shared by every WebRTC viewer of the stream.
 */
import type { MediaUnit, VideoTrack } from '../../core/media-unit.js';
import { parseAvcC } from '../../codec/h264.js';
import { splitLengthPrefixed } from '../../codec/nal-units.js';
import { packetizeH264, type RtpPayload } from '../../format/rtp/h264.js';
import { packetizeVp8 } from '../../format/rtp/vp8.js';

/** Video codecs livegate sends over WebRTC. */
export type WebrtcVideoCodec = 'h264' | 'vp8';
/** Audio codecs livegate sends over WebRTC: Opus, or a camera's G.711 as it came. */
export type WebrtcAudioCodec = 'opus' | 'pcmu' | 'pcma';

const RTP_PAYLOADS = Symbol('webrtc.rtp-payloads');
const parameterSets = new WeakMap<VideoTrack, { sps?: Buffer; pps?: Buffer }>();

function paramsOf(track: VideoTrack): { sps?: Buffer; pps?: Buffer } {
  let ps = parameterSets.get(track);
  if (!ps) {
    ps = {};
    if (track.config) {
      try {
        const avcc = parseAvcC(track.config);
        ps = { sps: avcc.sps[0], pps: avcc.pps[0] };
      } catch {
        // A keyframe that carries its own SPS/PPS still plays.
      }
    }
    parameterSets.set(track, ps);
  }
  return ps;
}

/**
 * RTP payloads of a video unit: RFC 6184 for H264 (SPS/PPS from the track go in front of every
 * keyframe), RFC 7741 for VP8.
 */
export function videoPayloadsOf(unit: MediaUnit): RtpPayload[] {
  let payloads = unit.memo[RTP_PAYLOADS] as RtpPayload[] | undefined;
  if (!payloads) {
    const track = unit.track as VideoTrack;
    payloads =
      track.codec === 'vp8'
        ? packetizeVp8(unit.data)
        : packetizeH264(splitLengthPrefixed(unit.data), unit.keyframe ? paramsOf(track) : {});
    unit.memo[RTP_PAYLOADS] = payloads;
  }
  return payloads;
}

/** A video unit's RTP payloads as one frame, for a send path that takes a frame at once. */
export interface RtpFrame {
  payloads: Buffer[];
  /** Their bytes in all. */
  bytes: number;
  /** The marker bit of the last packet. */
  marker: boolean;
}

const RTP_FRAME = Symbol('webrtc.rtp-frame');

/**
 * `unit`'s payloads (videoPayloadsOf) as one frame, once per unit; null when a packet other than the
 * last has the marker bit (not made by livegate's packetizers: such a unit goes packet by packet).
 */
export function videoFrameOf(unit: MediaUnit): RtpFrame | null {
  let frame = unit.memo[RTP_FRAME] as RtpFrame | null | undefined;
  if (frame === undefined) {
    const packets = videoPayloadsOf(unit);
    const payloads: Buffer[] = [];
    let bytes = 0;
    let ok = true;
    for (let i = 0; i < packets.length; i++) {
      payloads.push(packets[i]!.payload);
      bytes += packets[i]!.payload.length;
      if (packets[i]!.marker && i < packets.length - 1) ok = false;
    }
    frame = ok && payloads.length > 0 ? { payloads, bytes, marker: packets[packets.length - 1]!.marker } : null;
    unit.memo[RTP_FRAME] = frame;
  }
  return frame;
}
