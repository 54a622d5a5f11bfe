/** AAC: AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) and ADTS (§1.A.2). Pure. */
import { ParseError } from '../core/errors.js';
import { BitReader } from './bit-reader.js';

export const SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350] as const;

export interface AudioSpecificConfig {
  objectType: number;
  samplingFrequencyIndex: number;
  sampleRate: number;
  channelConfiguration: number;
  channels: number;
  /** Samples per frame: 1024, or 960 with frameLengthFlag. */
  frameLength: number;
  /** SBR (HE-AAC) signalled explicitly (object type 5 or 29). */
  sbr: boolean;
  ps: boolean;
  /** Output rate after SBR, when explicit. */
  extensionSampleRate?: number;
}

function readObjectType(r: BitReader): number {
  const t = r.readBits(5);
  return t === 31 ? 32 + r.readBits(6) : t;
}

function readRate(r: BitReader): { index: number; rate: number } {
  const index = r.readBits(4);
  if (index === 15) return { index, rate: r.readBits(24) };
  const rate = SAMPLE_RATES[index];
  if (rate === undefined) throw new ParseError(`AAC sampling frequency index ${index}`);
  return { index, rate };
}

const CHANNELS = [0, 1, 2, 3, 4, 5, 6, 8];

export function parseAudioSpecificConfig(buf: Buffer): AudioSpecificConfig {
  if (buf.length < 2) throw new ParseError('AudioSpecificConfig shorter than 2 bytes');
  const r = new BitReader(buf);
  let objectType = readObjectType(r);
  const { index, rate } = readRate(r);
  const channelConfiguration = r.readBits(4);
  let sbr = false;
  let ps = false;
  let extensionSampleRate: number | undefined;
  if (objectType === 5 || objectType === 29) {
    sbr = true;
    ps = objectType === 29;
    extensionSampleRate = readRate(r).rate;
    objectType = readObjectType(r);
  }
  let frameLength = 1024;
  // GASpecificConfig (§4.4.1) for the object types that use it: frameLengthFlag first.
  if ([1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23].includes(objectType) && r.bitsLeft >= 1) {
    frameLength = r.readBit() ? 960 : 1024;
  }
  return {
    objectType,
    samplingFrequencyIndex: index,
    sampleRate: rate,
    channelConfiguration,
    channels: CHANNELS[channelConfiguration] ?? 0,
    frameLength,
    sbr,
    ps,
    extensionSampleRate,
  };
}

/** A 2-byte (or 5 with an explicit rate) AudioSpecificConfig. */
export function buildAudioSpecificConfig(c: { objectType: number; sampleRate: number; channels: number }): Buffer {
  const index = SAMPLE_RATES.indexOf(c.sampleRate as (typeof SAMPLE_RATES)[number]);
  const channelConfig = c.channels === 8 ? 7 : c.channels;
  if (c.objectType > 30) throw new ParseError('object types above 30 are not supported here');
  if (index >= 0) {
    const v = (c.objectType << 11) | (index << 7) | (channelConfig << 3);
    return Buffer.from([v >> 8, v & 0xff]);
  }
  // Explicit 24-bit rate: 5 + 4 + 24 + 4 bits = 37 → 5 bytes.
  let bits = BigInt(c.objectType);
  bits = (bits << 4n) | 15n;
  bits = (bits << 24n) | BigInt(c.sampleRate);
  bits = (bits << 4n) | BigInt(channelConfig);
  bits <<= 3n; // pad to 40 bits
  const out = Buffer.alloc(5);
  for (let i = 4; i >= 0; i--) {
    out[i] = Number(bits & 0xffn);
    bits >>= 8n;
  }
  return out;
}

export function codecString(c: Pick<AudioSpecificConfig, 'objectType' | 'sbr' | 'ps'>): string {
  return `mp4a.40.${c.ps ? 29 : c.sbr ? 5 : c.objectType}`;
}

export interface AdtsHeader {
  headerLength: 7 | 9;
  /** Whole frame, header included. */
  frameLength: number;
  objectType: number;
  samplingFrequencyIndex: number;
  sampleRate: number;
  channelConfiguration: number;
  channels: number;
  rawBlocks: number;
}

export function parseAdtsHeader(buf: Buffer, offset = 0): AdtsHeader {
  if (offset + 7 > buf.length) throw new ParseError('ADTS header truncated');
  if (buf[offset] !== 0xff || (buf[offset + 1]! & 0xf6) !== 0xf0) throw new ParseError('ADTS syncword not found');
  const protectionAbsent = buf[offset + 1]! & 1;
  const profile = buf[offset + 2]! >> 6;
  const index = (buf[offset + 2]! >> 2) & 0x0f;
  const sampleRate = SAMPLE_RATES[index];
  if (sampleRate === undefined) throw new ParseError(`ADTS sampling frequency index ${index}`);
  const channelConfiguration = ((buf[offset + 2]! & 1) << 2) | (buf[offset + 3]! >> 6);
  const frameLength = ((buf[offset + 3]! & 3) << 11) | (buf[offset + 4]! << 3) | (buf[offset + 5]! >> 5);
  const headerLength = protectionAbsent ? 7 : 9;
  if (frameLength < headerLength) throw new ParseError(`ADTS frame length ${frameLength}`);
  return {
    headerLength,
    frameLength,
    objectType: profile + 1,
    samplingFrequencyIndex: index,
    sampleRate,
    channelConfiguration,
    channels: CHANNELS[channelConfiguration] ?? 0,
    rawBlocks: (buf[offset + 6]! & 3) + 1,
  };
}

/** A 7-byte ADTS header (no CRC) for a raw AAC frame of `payloadLength` bytes. */
export function buildAdtsHeader(c: { objectType: number; samplingFrequencyIndex: number; channelConfiguration: number }, payloadLength: number): Buffer {
  const len = payloadLength + 7;
  if (len > 0x1fff) throw new ParseError('AAC frame too long for ADTS');
  return Buffer.from([
    0xff,
    0xf1,
    ((c.objectType - 1) << 6) | (c.samplingFrequencyIndex << 2) | (c.channelConfiguration >> 2),
    ((c.channelConfiguration & 3) << 6) | (len >> 11),
    (len >> 3) & 0xff,
    ((len & 7) << 5) | 0x1f,
    0xfc,
  ]);
}

/** Splits an ADTS stream into raw AAC frames (subarrays, headers removed). */
export function splitAdts(buf: Buffer): { header: AdtsHeader; frame: Buffer }[] {
  const out: { header: AdtsHeader; frame: Buffer }[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const header = parseAdtsHeader(buf, pos);
    if (pos + header.frameLength > buf.length) throw new ParseError('ADTS frame truncated');
    out.push({ header, frame: buf.subarray(pos + header.headerLength, pos + header.frameLength) });
    pos += header.frameLength;
  }
  return out;
}

export function adtsToAudioSpecificConfig(h: AdtsHeader): Buffer {
  const v = (h.objectType << 11) | (h.samplingFrequencyIndex << 7) | (h.channelConfiguration << 3);
  return Buffer.from([v >> 8, v & 0xff]);
}
