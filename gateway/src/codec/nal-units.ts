/** NAL unit framing shared by H264 and H265: Annex B start codes ⇄ length prefixes. Pure. */
import { ParseError } from '../core/errors.js';

const START_CODE = Buffer.from([0, 0, 1]);

/** Splits an Annex B byte stream (3- or 4-byte start codes) into NAL units (subarrays). */
export function splitAnnexB(buf: Buffer): Buffer[] {
  const nals: Buffer[] = [];
  let start = -1;
  // indexOf searches natively: several times faster than a loop over every byte of every frame.
  for (let i = buf.indexOf(START_CODE); i !== -1; i = buf.indexOf(START_CODE, start)) {
    if (start >= 0) {
      let end = i;
      while (end > start && buf[end - 1] === 0) end--; // trailing zero of a 4-byte start code
      if (end > start) nals.push(buf.subarray(start, end));
    }
    start = i + 3;
  }
  if (start >= 0 && start < buf.length) nals.push(buf.subarray(start));
  return nals;
}

/** Splits length-prefixed NAL units (AVCC/HVCC form). */
export function splitLengthPrefixed(buf: Buffer, lengthSize = 4): Buffer[] {
  const nals: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (pos + lengthSize > buf.length) throw new ParseError('NAL length prefix truncated');
    const len = buf.readUIntBE(pos, lengthSize);
    pos += lengthSize;
    if (pos + len > buf.length) throw new ParseError(`NAL unit of ${len} bytes runs past the end`);
    nals.push(buf.subarray(pos, pos + len));
    pos += len;
  }
  return nals;
}

/** Joins NAL units with 4-byte lengths. */
export function joinLengthPrefixed(nals: readonly Buffer[]): Buffer {
  let size = 0;
  for (const n of nals) size += 4 + n.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const n of nals) {
    out.writeUInt32BE(n.length, pos);
    n.copy(out, pos + 4);
    pos += 4 + n.length;
  }
  return out;
}

export function annexBToLengthPrefixed(buf: Buffer): Buffer {
  return joinLengthPrefixed(splitAnnexB(buf));
}

export function lengthPrefixedToAnnexB(buf: Buffer, lengthSize = 4): Buffer {
  const nals = splitLengthPrefixed(buf, lengthSize);
  let size = 0;
  for (const n of nals) size += 4 + n.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const n of nals) {
    out.writeUInt32BE(1, pos);
    n.copy(out, pos + 4);
    pos += 4 + n.length;
  }
  return out;
}

/** Re-frames length-prefixed NAL units from one prefix size to another (e.g. 2 → 4). */
export function convertLengthSize(buf: Buffer, fromSize: number, toSize = 4): Buffer {
  if (fromSize === toSize) return buf;
  const nals = splitLengthPrefixed(buf, fromSize);
  if (toSize === 4) return joinLengthPrefixed(nals);
  let size = 0;
  for (const n of nals) size += toSize + n.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const n of nals) {
    out.writeUIntBE(n.length, pos, toSize);
    n.copy(out, pos + toSize);
    pos += toSize + n.length;
  }
  return out;
}
