/** H265: hvcC records (ISO/IEC 14496-15 §8.3.3.1) and enough of the SPS (H.265 §7.3.2.2) for the size. Pure. */
import { ParseError } from '../core/errors.js';
import { BitReader, unescapeRbsp } from './bit-reader.js';

export const H265Nal = { Vps: 32, Sps: 33, Pps: 34, Aud: 35 } as const;
export const nalType = (firstByte: number): number => (firstByte >> 1) & 0x3f;
/** IRAP pictures (BLA, IDR, CRA): NAL types 16–23. */
export const isIrap = (type: number): boolean => type >= 16 && type <= 23;

export interface HvcConfig {
  generalProfileSpace: number;
  generalTierFlag: number;
  generalProfileIdc: number;
  generalProfileCompatibility: number;
  generalConstraints: Buffer;
  generalLevelIdc: number;
  lengthSize: number;
  nalArrays: { type: number; nalus: Buffer[] }[];
}

export function parseHvcC(buf: Buffer): HvcConfig {
  if (buf.length < 23) throw new ParseError('hvcC shorter than 23 bytes');
  if (buf[0] !== 1) throw new ParseError(`hvcC version ${buf[0]}`);
  const lengthSize = (buf[21]! & 3) + 1;
  if (lengthSize === 3) throw new ParseError('hvcC length size 3 is not allowed');
  const numArrays = buf[22]!;
  let pos = 23;
  const nalArrays: HvcConfig['nalArrays'] = [];
  for (let i = 0; i < numArrays; i++) {
    if (pos + 3 > buf.length) throw new ParseError('hvcC array truncated');
    const type = buf[pos]! & 0x3f;
    const count = buf.readUInt16BE(pos + 1);
    pos += 3;
    const nalus: Buffer[] = [];
    for (let j = 0; j < count; j++) {
      if (pos + 2 > buf.length) throw new ParseError('hvcC NAL length truncated');
      const len = buf.readUInt16BE(pos);
      pos += 2;
      if (pos + len > buf.length) throw new ParseError('hvcC NAL unit truncated');
      nalus.push(buf.subarray(pos, pos + len));
      pos += len;
    }
    nalArrays.push({ type, nalus });
  }
  return {
    generalProfileSpace: buf[1]! >> 6,
    generalTierFlag: (buf[1]! >> 5) & 1,
    generalProfileIdc: buf[1]! & 0x1f,
    generalProfileCompatibility: buf.readUInt32BE(2),
    generalConstraints: buf.subarray(6, 12),
    generalLevelIdc: buf[12]!,
    lengthSize,
    nalArrays,
  };
}

/** The sub-layer part of profile_tier_level(1, maxSubLayersMinus1) (§7.3.3), after the general part. */
function skipSubLayers(r: BitReader, maxSubLayersMinus1: number): void {
  const subProfile: boolean[] = [];
  const subLevel: boolean[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    subProfile.push(r.readBit() === 1);
    subLevel.push(r.readBit() === 1);
  }
  if (maxSubLayersMinus1 > 0) for (let i = maxSubLayersMinus1; i < 8; i++) r.skipBits(2);
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    if (subProfile[i]) r.skipBits(88);
    if (subLevel[i]) r.skipBits(8);
  }
}

/** Width and height (after the conformance window) from an SPS NAL unit with its 2-byte header. */
export function parseH265Sps(nal: Buffer): { width: number; height: number; chromaFormatIdc: number } {
  if (nal.length < 4 || nalType(nal[0]!) !== H265Nal.Sps) throw new ParseError('not an H265 SPS');
  const r = new BitReader(unescapeRbsp(nal.subarray(2)));
  r.readBits(4); // sps_video_parameter_set_id
  const maxSubLayersMinus1 = r.readBits(3);
  r.readBit(); // temporal_id_nesting
  r.skipBits(2 + 1 + 5 + 32 + 48 + 8); // general profile_tier_level
  skipSubLayers(r, maxSubLayersMinus1);
  r.readUE(); // sps_seq_parameter_set_id
  const chromaFormatIdc = r.readUE();
  if (chromaFormatIdc > 3) throw new ParseError(`chroma_format_idc ${chromaFormatIdc}`);
  if (chromaFormatIdc === 3) r.readBit();
  let width = r.readUE();
  let height = r.readUE();
  if (r.readBit()) {
    // conformance_window: offsets in chroma sample units (§7.4.3.2.1)
    const subW = chromaFormatIdc === 1 || chromaFormatIdc === 2 ? 2 : 1;
    const subH = chromaFormatIdc === 1 ? 2 : 1;
    const left = r.readUE();
    const right = r.readUE();
    const top = r.readUE();
    const bottom = r.readUE();
    width -= subW * (left + right);
    height -= subH * (top + bottom);
  }
  if (width <= 0 || height <= 0 || width > 16384 || height > 16384) throw new ParseError(`H265 SPS size ${width}x${height}`);
  return { width, height, chromaFormatIdc };
}

/** RFC 6381 / ISO 14496-15 Annex E codec string, e.g. "hvc1.1.6.L93.B0". */
export function codecString(c: HvcConfig): string {
  const space = ['', 'A', 'B', 'C'][c.generalProfileSpace] ?? '';
  // Compatibility flags, bit-reversed, in hex.
  let rev = 0;
  for (let i = 0; i < 32; i++) if (c.generalProfileCompatibility & (1 << i)) rev |= 1 << (31 - i);
  const constraints = [...c.generalConstraints];
  while (constraints.length > 0 && constraints[constraints.length - 1] === 0) constraints.pop();
  const tail = constraints.map((b) => b.toString(16).toUpperCase()).join('.');
  return `hvc1.${space}${c.generalProfileIdc}.${(rev >>> 0).toString(16).toUpperCase()}.${c.generalTierFlag ? 'H' : 'L'}${c.generalLevelIdc}${tail ? '.' + tail : ''}`;
}

/** What an hvcC header needs from an SPS (H.265 §7.3.2.2): profile_tier_level, chroma, bit depths, sub-layers. */
export interface H265SpsProfile {
  generalProfileSpace: number;
  generalTierFlag: number;
  generalProfileIdc: number;
  generalProfileCompatibility: number;
  /** The 48 constraint indicator bits (progressive_source_flag …) as 6 bytes. */
  generalConstraints: Buffer;
  generalLevelIdc: number;
  maxSubLayers: number;
  temporalIdNesting: boolean;
  chromaFormatIdc: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
}

/** Parses the profile, chroma format and bit depths of an SPS NAL unit with its 2-byte header. */
export function parseH265SpsProfile(nal: Buffer): H265SpsProfile {
  if (nal.length < 4 || nalType(nal[0]!) !== H265Nal.Sps) throw new ParseError('not an H265 SPS');
  const r = new BitReader(unescapeRbsp(nal.subarray(2)));
  r.readBits(4); // sps_video_parameter_set_id
  const maxSubLayersMinus1 = r.readBits(3);
  const temporalIdNesting = r.readBit() === 1;
  // profile_tier_level(1, maxSubLayersMinus1), §7.3.3
  const generalProfileSpace = r.readBits(2);
  const generalTierFlag = r.readBit();
  const generalProfileIdc = r.readBits(5);
  const generalProfileCompatibility = r.readBits(32) >>> 0;
  const generalConstraints = Buffer.alloc(6);
  for (let i = 0; i < 6; i++) generalConstraints[i] = r.readBits(8);
  const generalLevelIdc = r.readBits(8);
  skipSubLayers(r, maxSubLayersMinus1);
  r.readUE(); // sps_seq_parameter_set_id
  const chromaFormatIdc = r.readUE();
  if (chromaFormatIdc > 3) throw new ParseError(`chroma_format_idc ${chromaFormatIdc}`);
  if (chromaFormatIdc === 3) r.readBit(); // separate_colour_plane_flag
  r.readUE(); // pic_width_in_luma_samples
  r.readUE(); // pic_height_in_luma_samples
  if (r.readBit()) for (let i = 0; i < 4; i++) r.readUE(); // conformance window offsets
  const bitDepthLuma = r.readUE() + 8;
  const bitDepthChroma = r.readUE() + 8;
  if (bitDepthLuma > 16 || bitDepthChroma > 16) throw new ParseError(`H265 bit depth ${bitDepthLuma}/${bitDepthChroma}`);
  return {
    generalProfileSpace,
    generalTierFlag,
    generalProfileIdc,
    generalProfileCompatibility,
    generalConstraints,
    generalLevelIdc,
    maxSubLayers: maxSubLayersMinus1 + 1,
    temporalIdNesting,
    chromaFormatIdc,
    bitDepthLuma,
    bitDepthChroma,
  };
}

/**
 * Builds an hvcC (HEVCDecoderConfigurationRecord, ISO/IEC 14496-15 §8.3.3.1.2) with 4-byte NAL
 * lengths from parameter sets (NAL units with their 2-byte headers). The header fields come from the
 * first SPS; min_spatial_segmentation, parallelism and frame rate are written as "unknown" (0).
 * Arrays are marked complete: every parameter set the stream uses is in the record.
 */
export function buildHvcC(vps: readonly Buffer[], sps: readonly Buffer[], pps: readonly Buffer[]): Buffer {
  const first = sps[0];
  if (!first) throw new ParseError('buildHvcC needs an SPS');
  if (vps.length === 0) throw new ParseError('buildHvcC needs a VPS');
  if (pps.length === 0) throw new ParseError('buildHvcC needs a PPS');
  const p = parseH265SpsProfile(first);
  const head = Buffer.alloc(23);
  head[0] = 1; // configurationVersion
  head[1] = (p.generalProfileSpace << 6) | (p.generalTierFlag << 5) | p.generalProfileIdc;
  head.writeUInt32BE(p.generalProfileCompatibility, 2);
  p.generalConstraints.copy(head, 6);
  head[12] = p.generalLevelIdc;
  head.writeUInt16BE(0xf000, 13); // reserved 1111, min_spatial_segmentation_idc 0
  head[15] = 0xfc; // reserved 111111, parallelismType 0 (unknown)
  head[16] = 0xfc | p.chromaFormatIdc;
  head[17] = 0xf8 | (p.bitDepthLuma - 8);
  head[18] = 0xf8 | (p.bitDepthChroma - 8);
  head.writeUInt16BE(0, 19); // avgFrameRate: unknown
  // constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3
  head[21] = ((p.maxSubLayers & 7) << 3) | (p.temporalIdNesting ? 4 : 0) | 3;
  const arrays: [number, readonly Buffer[]][] = [
    [H265Nal.Vps, vps],
    [H265Nal.Sps, sps],
    [H265Nal.Pps, pps],
  ];
  head[22] = arrays.length;
  const parts: Buffer[] = [head];
  for (const [type, nalus] of arrays) {
    if (nalus.length > 0xffff) throw new ParseError('too many parameter sets for hvcC');
    const a = Buffer.alloc(3);
    a[0] = 0x80 | type; // array_completeness 1, reserved 0, NAL_unit_type
    a.writeUInt16BE(nalus.length, 1);
    parts.push(a);
    for (const n of nalus) {
      if (n.length > 0xffff) throw new ParseError('parameter set too long for hvcC');
      const l = Buffer.alloc(2);
      l.writeUInt16BE(n.length);
      parts.push(l, n);
    }
  }
  return Buffer.concat(parts);
}
