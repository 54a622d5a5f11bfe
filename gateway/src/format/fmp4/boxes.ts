/** ISO BMFF box writing (ISO/IEC 14496-12): sizes computed from the parts, nothing copied twice. */

/** A box: 32-bit size, four-character type, then its payload parts. */
export function box(type: string, ...parts: Buffer[]): Buffer {
  let size = 8;
  for (const p of parts) size += p.length;
  const header = Buffer.alloc(8);
  header.writeUInt32BE(size, 0);
  header.write(type, 4, 4, 'latin1');
  return Buffer.concat([header, ...parts], size);
}

/** A full box: a box whose payload starts with a version byte and 24 bits of flags. */
export function fullBox(type: string, version: number, flags: number, ...parts: Buffer[]): Buffer {
  const vf = Buffer.alloc(4);
  vf.writeUInt32BE(((version & 0xff) << 24) | (flags & 0xffffff), 0);
  return box(type, vf, ...parts);
}

/** Big-endian unsigned integers of the given byte widths, in order. */
export function u(...fields: [bytes: 1 | 2 | 3 | 4 | 8, value: number][]): Buffer {
  let size = 0;
  for (const [bytes] of fields) size += bytes;
  const out = Buffer.alloc(size);
  let o = 0;
  for (const [bytes, value] of fields) {
    if (bytes === 8) out.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(value))), o);
    else {
      const range = 2 ** (bytes * 8);
      out.writeUIntBE(((Math.trunc(value) % range) + range) % range, o, bytes); // two's complement when negative
    }
    o += bytes;
  }
  return out;
}

/** The unity transformation matrix of mvhd and tkhd. */
export const UNITY_MATRIX = u([4, 0x00010000], [4, 0], [4, 0], [4, 0], [4, 0x00010000], [4, 0], [4, 0], [4, 0], [4, 0x40000000]);
