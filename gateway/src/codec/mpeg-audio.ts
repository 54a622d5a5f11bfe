/**
 * MPEG-1/2/2.5 audio frame headers (ISO/IEC 11172-3 §2.4.2.3, ISO/IEC 13818-3 §2.4.2.3): what an MP3
 * (Layer III) stream's frames say of themselves, and splitting a run of frames. Pure.
 */
import { ParseError } from '../core/errors.js';

export interface MpegAudioHeader {
  /** 1 (MPEG-1), 2 (MPEG-2 LSF) or 2.5 (the unofficial low-rate extension). */
  version: 1 | 2 | 2.5;
  layer: 1 | 2 | 3;
  /** kbit/s; 0 for "free format" (length unknown from the header). */
  bitrate: number;
  sampleRate: number;
  channels: 1 | 2;
  /** Bytes in the whole frame, header included; 0 in free format. */
  frameLength: number;
  samplesPerFrame: number;
}

/** kbit/s by [MPEG-1 ? 0 : 1][layer - 1][index]. */
const BITRATES: readonly (readonly (readonly number[])[])[] = [
  [
    [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  ],
  [
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  ],
];
const RATES_MPEG1 = [44100, 48000, 32000];

export function parseMpegAudioHeader(buf: Buffer, offset = 0): MpegAudioHeader {
  if (offset + 4 > buf.length) throw new ParseError('MPEG audio header truncated');
  const b1 = buf[offset + 1]!;
  const b2 = buf[offset + 2]!;
  const b3 = buf[offset + 3]!;
  if (buf[offset] !== 0xff || (b1 & 0xe0) !== 0xe0) throw new ParseError('MPEG audio frame sync not found');
  const versionBits = (b1 >> 3) & 3;
  const layerBits = (b1 >> 1) & 3;
  if (versionBits === 1) throw new ParseError('MPEG audio version bits are reserved');
  if (layerBits === 0) throw new ParseError('MPEG audio layer bits are reserved');
  const version = versionBits === 3 ? 1 : versionBits === 2 ? 2 : 2.5;
  const layer = (4 - layerBits) as 1 | 2 | 3;
  const bitrateIndex = b2 >> 4;
  const rateIndex = (b2 >> 2) & 3;
  if (bitrateIndex === 15) throw new ParseError('MPEG audio bitrate index 15 is not allowed');
  if (rateIndex === 3) throw new ParseError('MPEG audio sampling rate index is reserved');
  const sampleRate = RATES_MPEG1[rateIndex]! / (version === 1 ? 1 : version === 2 ? 2 : 4);
  const bitrate = BITRATES[version === 1 ? 0 : 1]![layer - 1]![bitrateIndex]!;
  const padding = (b2 >> 1) & 1;
  const channels = (b3 >> 6) === 3 ? 1 : 2;
  const samplesPerFrame = layer === 1 ? 384 : layer === 2 || version === 1 ? 1152 : 576;
  let frameLength = 0;
  if (bitrate > 0) {
    frameLength =
      layer === 1
        ? (Math.floor((12 * bitrate * 1000) / sampleRate) + padding) * 4
        : Math.floor(((samplesPerFrame / 8) * bitrate * 1000) / sampleRate) + padding;
  }
  return { version, layer, bitrate, sampleRate, channels, frameLength, samplesPerFrame };
}

/**
 * Splits a run of whole MPEG audio frames (a PES payload) into frames (subarrays). Stops at the first
 * byte that is not a frame start or a frame that runs past the end: those bytes are returned as `rest`.
 */
export function splitMpegAudio(buf: Buffer): { frames: { header: MpegAudioHeader; frame: Buffer }[]; rest: Buffer } {
  const frames: { header: MpegAudioHeader; frame: Buffer }[] = [];
  let pos = 0;
  while (pos + 4 <= buf.length) {
    let header: MpegAudioHeader;
    try {
      header = parseMpegAudioHeader(buf, pos);
    } catch (err) {
      if (err instanceof ParseError) break;
      throw err;
    }
    if (header.frameLength === 0 || pos + header.frameLength > buf.length) break;
    frames.push({ header, frame: buf.subarray(pos, pos + header.frameLength) });
    pos += header.frameLength;
  }
  return { frames, rest: buf.subarray(pos) };
}
