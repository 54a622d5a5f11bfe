/** H264: avcC records (ISO/IEC 14496-15 §5.3.3.1) and SPS parsing (ITU-T H.264 §7.3.2.1.1). Pure. */
import { ParseError } from '../core/errors.js';
import { BitReader, unescapeRbsp } from './bit-reader.js';
import { splitLengthPrefixed } from './nal-units.js';

export const H264Nal = { Slice: 1, Idr: 5, Sei: 6, Sps: 7, Pps: 8, Aud: 9, SpsExt: 13 } as const;

export const nalType = (firstByte: number): number => firstByte & 0x1f;

export interface AvcConfig {
  profile: number;
  compatibility: number;
  level: number;
  /** Bytes in each NAL length prefix: 1, 2 or 4. */
  lengthSize: number;
  sps: Buffer[];
  pps: Buffer[];
  /** High-profile extension fields, when present. */
  chromaFormat?: number;
  bitDepthLuma?: number;
  bitDepthChroma?: number;
  spsExt?: Buffer[];
}

const HIGH_PROFILES = new Set([100, 110, 122, 144]);

export function parseAvcC(buf: Buffer): AvcConfig {
  if (buf.length < 7) throw new ParseError('avcC shorter than 7 bytes');
  if (buf[0] !== 1) throw new ParseError(`avcC version ${buf[0]}`);
  const lengthSize = (buf[4]! & 3) + 1;
  if (lengthSize === 3) throw new ParseError('avcC length size 3 is not allowed');
  let pos = 5;
  const readList = (count: number): Buffer[] => {
    const out: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      if (pos + 2 > buf.length) throw new ParseError('avcC parameter set length truncated');
      const len = buf.readUInt16BE(pos);
      pos += 2;
      if (pos + len > buf.length) throw new ParseError('avcC parameter set truncated');
      out.push(buf.subarray(pos, pos + len));
      pos += len;
    }
    return out;
  };
  const sps = readList(buf[pos++]! & 0x1f);
  if (pos >= buf.length) throw new ParseError('avcC without PPS count');
  const pps = readList(buf[pos++]!);
  const config: AvcConfig = { profile: buf[1]!, compatibility: buf[2]!, level: buf[3]!, lengthSize, sps, pps };
  // §5.3.3.1.2: high profiles may append chroma format, bit depths and SPS extensions. Many
  // encoders omit them, so read them only when they are there.
  if (HIGH_PROFILES.has(config.profile) && pos + 4 <= buf.length) {
    config.chromaFormat = buf[pos]! & 3;
    config.bitDepthLuma = (buf[pos + 1]! & 7) + 8;
    config.bitDepthChroma = (buf[pos + 2]! & 7) + 8;
    const n = buf[pos + 3]!;
    pos += 4;
    try {
      config.spsExt = readList(n);
    } catch {
      config.spsExt = [];
    }
  }
  return config;
}

/** Builds an avcC from parameter sets (4-byte NAL lengths). */
export function buildAvcC(ps: { sps: readonly Buffer[]; pps: readonly Buffer[] }): Buffer {
  const first = ps.sps[0];
  if (!first || first.length < 4) throw new ParseError('buildAvcC needs an SPS');
  if (ps.pps.length === 0) throw new ParseError('buildAvcC needs a PPS');
  const parts: Buffer[] = [Buffer.from([1, first[1]!, first[2]!, first[3]!, 0xff, 0xe0 | ps.sps.length])];
  for (const s of ps.sps) parts.push(u16(s.length), s);
  parts.push(Buffer.from([ps.pps.length]));
  for (const p of ps.pps) parts.push(u16(p.length), p);
  if (HIGH_PROFILES.has(first[1]!)) {
    const info = parseSps(first);
    parts.push(Buffer.from([0xfc | info.chromaFormatIdc, 0xf8 | (info.bitDepthLuma - 8), 0xf8 | (info.bitDepthChroma - 8), 0]));
  }
  return Buffer.concat(parts);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

export interface SpsInfo {
  profileIdc: number;
  constraintFlags: number;
  levelIdc: number;
  spsId: number;
  chromaFormatIdc: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  frameMbsOnly: boolean;
  width: number;
  height: number;
  /**
   * VUI max_num_reorder_frames: how many frames may come before one that is shown earlier (0: no
   * B-frames in presentation-order-changing use). Undefined when the SPS does not say (no VUI or no
   * bitstream restriction); Baseline profile (66) cannot reorder, so it is 0 there.
   */
  maxReorderFrames?: number;
}

/** hrd_parameters() (E.1.2), skipped. */
function skipHrd(r: BitReader): void {
  const count = r.readUE() + 1;
  if (count > 32) throw new ParseError(`cpb_cnt ${count}`);
  r.readBits(8); // bit_rate_scale, cpb_size_scale
  for (let i = 0; i < count; i++) {
    r.readUE();
    r.readUE();
    r.readBit();
  }
  r.readBits(20); // four 5-bit lengths
}

/** vui_parameters() (E.1.1) up to max_num_reorder_frames, or undefined when it is not there. */
function reorderFromVui(r: BitReader): number | undefined {
  if (r.readBit()) {
    if (r.readBits(8) === 255) r.readBits(32); // sar_width, sar_height
  }
  if (r.readBit()) r.readBit(); // overscan
  if (r.readBit()) {
    r.readBits(4); // video_format, video_full_range_flag
    if (r.readBit()) r.readBits(24); // colour description
  }
  if (r.readBit()) {
    r.readUE();
    r.readUE();
  }
  if (r.readBit()) {
    r.readBits(32);
    r.readBits(32);
    r.readBit();
  }
  const nal = r.readBit();
  if (nal) skipHrd(r);
  const vcl = r.readBit();
  if (vcl) skipHrd(r);
  if (nal || vcl) r.readBit(); // low_delay_hrd_flag
  r.readBit(); // pic_struct_present_flag
  if (!r.readBit()) return undefined;
  r.readBit(); // motion_vectors_over_pic_boundaries_flag
  for (let i = 0; i < 4; i++) r.readUE();
  const reorder = r.readUE();
  return reorder <= 16 ? reorder : undefined;
}

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) {
      const delta = r.readSE();
      next = (last + delta + 256) % 256;
    }
    last = next === 0 ? last : next;
  }
}

/** Parses an SPS NAL unit (with its 1-byte header). */
export function parseSps(nal: Buffer): SpsInfo {
  if (nal.length < 4) throw new ParseError('SPS shorter than 4 bytes');
  if (nalType(nal[0]!) !== H264Nal.Sps) throw new ParseError(`NAL type ${nalType(nal[0]!)} is not an SPS`);
  const r = new BitReader(unescapeRbsp(nal.subarray(1)));
  const profileIdc = r.readBits(8);
  const constraintFlags = r.readBits(8);
  const levelIdc = r.readBits(8);
  const spsId = r.readUE();
  if (spsId > 31) throw new ParseError(`SPS id ${spsId}`);
  let chromaFormatIdc = 1;
  let bitDepthLuma = 8;
  let bitDepthChroma = 8;
  let separateColourPlane = 0;
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profileIdc)) {
    chromaFormatIdc = r.readUE();
    if (chromaFormatIdc > 3) throw new ParseError(`chroma_format_idc ${chromaFormatIdc}`);
    if (chromaFormatIdc === 3) separateColourPlane = r.readBit();
    bitDepthLuma = r.readUE() + 8;
    bitDepthChroma = r.readUE() + 8;
    r.readBit(); // qpprime_y_zero_transform_bypass_flag
    if (r.readBit()) {
      const lists = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) if (r.readBit()) skipScalingList(r, i < 6 ? 16 : 64);
    }
  }
  r.readUE(); // log2_max_frame_num_minus4
  const pocType = r.readUE();
  if (pocType === 0) r.readUE();
  else if (pocType === 1) {
    r.readBit();
    r.readSE();
    r.readSE();
    const n = r.readUE();
    if (n > 255) throw new ParseError('too many ref frames in POC cycle');
    for (let i = 0; i < n; i++) r.readSE();
  } else if (pocType !== 2) throw new ParseError(`pic_order_cnt_type ${pocType}`);
  r.readUE(); // max_num_ref_frames
  r.readBit(); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.readUE() + 1;
  const heightMapUnits = r.readUE() + 1;
  const frameMbsOnly = r.readBit() === 1;
  if (!frameMbsOnly) r.readBit(); // mb_adaptive_frame_field_flag
  r.readBit(); // direct_8x8_inference_flag
  let cropLeft = 0;
  let cropRight = 0;
  let cropTop = 0;
  let cropBottom = 0;
  if (r.readBit()) {
    cropLeft = r.readUE();
    cropRight = r.readUE();
    cropTop = r.readUE();
    cropBottom = r.readUE();
  }
  // §7.4.2.1.1: crop units depend on chroma subsampling and on field coding.
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const subW = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const subH = chromaArrayType === 1 ? 2 : 1;
  const cropUnitX = chromaArrayType === 0 ? 1 : subW;
  const cropUnitY = (chromaArrayType === 0 ? 1 : subH) * (frameMbsOnly ? 1 : 2);
  const width = widthMbs * 16 - cropUnitX * (cropLeft + cropRight);
  const height = (frameMbsOnly ? 1 : 2) * heightMapUnits * 16 - cropUnitY * (cropTop + cropBottom);
  if (width <= 0 || height <= 0 || width > 16384 || height > 16384) throw new ParseError(`SPS size ${width}x${height}`);
  let maxReorderFrames: number | undefined = profileIdc === 66 ? 0 : undefined;
  try {
    if (r.readBit()) maxReorderFrames = reorderFromVui(r) ?? maxReorderFrames;
  } catch {
    // A VUI cut short says nothing about reordering; the size above stands.
  }
  const info: SpsInfo = { profileIdc, constraintFlags, levelIdc, spsId, chromaFormatIdc, bitDepthLuma, bitDepthChroma, frameMbsOnly, width, height };
  if (maxReorderFrames !== undefined) info.maxReorderFrames = maxReorderFrames;
  return info;
}

/** RFC 6381 codec string, e.g. "avc1.64001f". */
export function codecString(sps: Pick<SpsInfo, 'profileIdc' | 'constraintFlags' | 'levelIdc'>): string {
  const hex = (n: number): string => n.toString(16).padStart(2, '0');
  return `avc1.${hex(sps.profileIdc)}${hex(sps.constraintFlags)}${hex(sps.levelIdc)}`;
}

/** True if a length-prefixed access unit holds an IDR slice. */
export function isKeyframe(au: Buffer, lengthSize = 4): boolean {
  for (const nal of splitLengthPrefixed(au, lengthSize)) if (nal.length > 0 && nalType(nal[0]!) === H264Nal.Idr) return true;
  return false;
}
