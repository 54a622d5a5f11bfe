/** FLV file header and tags (FLV spec v10.1 §E.2–E.4). Pure. */
import { ParseError } from '../../core/errors.js';

export const FLV_TAG_AUDIO = 8;
export const FLV_TAG_VIDEO = 9;
export const FLV_TAG_SCRIPT = 18;
export type FlvTagType = typeof FLV_TAG_AUDIO | typeof FLV_TAG_VIDEO | typeof FLV_TAG_SCRIPT;

export const FLV_HEADER_SIZE = 9;
export const FLV_TAG_HEADER_SIZE = 11;

/** The 9-byte FLV header followed by PreviousTagSize0 (13 bytes). */
export function buildFlvHeader(has: { audio: boolean; video: boolean }): Buffer {
  const b = Buffer.alloc(13);
  b.write('FLV', 0, 'latin1');
  b[3] = 1;
  b[4] = (has.audio ? 4 : 0) | (has.video ? 1 : 0);
  b.writeUInt32BE(FLV_HEADER_SIZE, 5);
  return b;
}

export interface FlvHeader {
  version: number;
  audio: boolean;
  video: boolean;
  headerSize: number;
}

export function parseFlvHeader(b: Buffer): FlvHeader {
  if (b.length < FLV_HEADER_SIZE) throw new ParseError('FLV header truncated');
  if (b.toString('latin1', 0, 3) !== 'FLV') throw new ParseError('not an FLV stream (bad signature)');
  const headerSize = b.readUInt32BE(5);
  if (headerSize < FLV_HEADER_SIZE || headerSize > 1024) throw new ParseError(`FLV header size ${headerSize}`);
  return { version: b[3]!, audio: (b[4]! & 4) !== 0, video: (b[4]! & 1) !== 0, headerSize };
}

/** Writes an 11-byte tag header at `offset` (timestamp: lower 24 bits + extended byte, §E.4.1). */
export function writeFlvTagHeader(target: Buffer, offset: number, type: number, timestampMs: number, bodyLength: number): void {
  const ts = timestampMs >>> 0;
  target[offset] = type;
  target.writeUIntBE(bodyLength, offset + 1, 3);
  target.writeUIntBE(ts & 0xffffff, offset + 4, 3);
  target[offset + 7] = ts >>> 24;
  target.writeUIntBE(0, offset + 8, 3); // StreamID, always 0
}

/** One whole tag: header + body + PreviousTagSize, in one Buffer. */
export function buildFlvTag(type: number, timestampMs: number, body: Buffer): Buffer {
  const b = Buffer.allocUnsafe(FLV_TAG_HEADER_SIZE + body.length + 4);
  writeFlvTagHeader(b, 0, type, timestampMs, body.length);
  body.copy(b, FLV_TAG_HEADER_SIZE);
  b.writeUInt32BE(FLV_TAG_HEADER_SIZE + body.length, FLV_TAG_HEADER_SIZE + body.length);
  return b;
}

export interface FlvTag {
  type: number;
  /** Milliseconds, 32-bit. */
  timestamp: number;
  body: Buffer;
}
