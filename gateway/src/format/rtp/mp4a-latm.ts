/**
 * AAC in RTP as MP4A-LATM (RFC 6416 §6, formerly RFC 3016), as some cameras and GStreamer's
 * `rtpmp4apay` send it: `cpresent=0`, the StreamMuxConfig in the SDP's `config`, and each
 * AudioMuxElement (PayloadLengthInfo + one AAC frame) carried in one packet or fragmented over several
 * with the same timestamp, the marker on the last. Pure; malformed input is counted and dropped.
 */
import { buildAudioSpecificConfig, parseAudioSpecificConfig } from '../../codec/aac.js';
import { BitReader } from '../../codec/bit-reader.js';

/** Largest AudioMuxElement gathered from fragments. */
const MAX_ELEMENT = 64 * 1024;

/**
 * The AudioSpecificConfig inside a StreamMuxConfig (ISO/IEC 14496-3 §1.7.3): audioMuxVersion 0, one
 * program, one layer, all streams with the same time framing, frameLengthType 0 (a PayloadLengthInfo
 * before each frame). Throws with the reason for anything else.
 */
export function latmAudioSpecificConfig(streamMuxConfig: Buffer): Buffer {
  const r = new BitReader(streamMuxConfig);
  if (r.readBit() !== 0) throw new Error('LATM audioMuxVersion 1 is not supported');
  if (r.readBit() !== 1) throw new Error('LATM without allStreamsSameTimeFraming is not supported');
  if (r.readBits(6) !== 0) throw new Error('LATM with several subframes is not supported');
  if (r.readBits(4) !== 0 || r.readBits(3) !== 0) throw new Error('LATM with several programs or layers is not supported');
  // The AudioSpecificConfig follows at bit 15: shift it out to parse it.
  const rest = Buffer.alloc(streamMuxConfig.length - 1);
  for (let i = 0; i < rest.length; i++) rest[i] = ((streamMuxConfig[i + 1]! << 7) | ((streamMuxConfig[i + 2] ?? 0) >> 1)) & 0xff;
  const asc = parseAudioSpecificConfig(rest);
  if (asc.objectType !== 2 || asc.sbr) throw new Error(`LATM with AAC object type ${asc.sbr ? (asc.ps ? 29 : 5) : asc.objectType} is not supported (AAC-LC is)`);
  // AAC-LC's AudioSpecificConfig is 16 bits, maybe followed by the backward-compatible SBR signalling
  // (sync extension 0x2b7, as FFmpeg's encoder writes it); frameLengthType comes next.
  const after = new BitReader(rest);
  after.readBits(16);
  if (after.bitsLeft >= 16 && peek(rest, 16, 11) === 0x2b7) {
    after.readBits(11);
    if (after.readBits(5) === 5 && after.readBit() === 1) throw new Error('LATM with SBR (HE-AAC) is not supported');
  }
  if (after.readBits(3) !== 0) throw new Error('LATM frameLengthType other than 0 is not supported');
  return buildAudioSpecificConfig({ objectType: 2, sampleRate: asc.sampleRate, channels: asc.channels });
}

/** `n` bits of `buf` from bit `at`, MSB first (0 past the end). */
function peek(buf: Buffer, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) v = v * 2 + (((buf[i >> 3] ?? 0) >> (7 - (i & 7))) & 1);
  return v;
}

export class LatmDepacketizer {
  /** Packets or elements dropped as malformed. */
  malformed = 0;
  private parts: Buffer[] = [];
  private size = 0;
  private timestamp = 0;
  /** The timestamp of an element being skipped after a loss, or null. */
  private skipping: number | null = null;

  /** One RTP payload in order; the AAC frames it completes (one per AudioMuxElement). */
  push(payload: Buffer, timestamp: number, marker: boolean, lost = false): { data: Buffer; timestamp: number }[] {
    if (this.skipping !== null) {
      // The rest of an element whose earlier fragments were lost.
      if (timestamp === this.skipping) {
        if (marker) this.skipping = null;
        return [];
      }
      this.skipping = null;
    }
    if (lost && this.parts.length > 0 && timestamp === this.timestamp) {
      this.malformed++;
      this.reset();
      if (!marker) this.skipping = timestamp;
      return [];
    }
    if (lost || (this.parts.length > 0 && timestamp !== this.timestamp)) this.reset();
    if (this.parts.length === 0) this.timestamp = timestamp;
    this.parts.push(payload);
    this.size += payload.length;
    if (this.size > MAX_ELEMENT) {
      this.malformed++;
      this.reset();
      return [];
    }
    if (!marker) return [];
    const element = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.reset();
    // PayloadLengthInfo: bytes of 255 then the last, summed; then the frame.
    let at = 0;
    let length = 0;
    while (at < element.length) {
      const b = element[at++]!;
      length += b;
      if (b !== 255) break;
    }
    if (length === 0 || at + length > element.length) {
      this.malformed++;
      return [];
    }
    return [{ data: element.subarray(at, at + length), timestamp }];
  }

  private reset(): void {
    this.parts = [];
    this.size = 0;
  }
}
