/** MSB-first bit reader with Exp-Golomb codes (H.264 §9.1), bounded: reading past the end throws. */
import { ParseError } from '../core/errors.js';

export class BitReader {
  private pos = 0;
  private readonly bits: number;

  constructor(private readonly buf: Buffer) {
    this.bits = buf.length * 8;
  }

  get bitsLeft(): number {
    return this.bits - this.pos;
  }

  readBit(): number {
    if (this.pos >= this.bits) throw new ParseError('bitstream truncated');
    const v = (this.buf[this.pos >> 3]! >> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return v;
  }

  /** Reads n ≤ 32 bits as an unsigned number. */
  readBits(n: number): number {
    if (n > 32) throw new RangeError('readBits: n > 32');
    if (this.pos + n > this.bits) throw new ParseError('bitstream truncated');
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.readBit();
    return v;
  }

  skipBits(n: number): void {
    if (this.pos + n > this.bits) throw new ParseError('bitstream truncated');
    this.pos += n;
  }

  /** ue(v). */
  readUE(): number {
    let zeros = 0;
    while (this.readBit() === 0) {
      if (++zeros > 31) throw new ParseError('Exp-Golomb code longer than 32 bits');
    }
    return zeros === 0 ? 0 : 2 ** zeros - 1 + this.readBits(zeros);
  }

  /** se(v). */
  readSE(): number {
    const k = this.readUE();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

/** Removes emulation prevention bytes (00 00 03 → 00 00), H.264 §7.4.1. */
export function unescapeRbsp(nal: Buffer): Buffer {
  let i = nal.indexOf(Buffer.from([0, 0, 3]));
  if (i < 0) return nal;
  const out = Buffer.allocUnsafe(nal.length);
  let o = 0;
  let zeros = 0;
  for (i = 0; i < nal.length; i++) {
    const b = nal[i]!;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[o++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, o);
}
