/**
 * RTMP chunk stream encoder (RTMP spec 1.0 §5.3). The first chunk has a type-0 header and the rest
 * type-3 headers, so the bytes depend only on the message and the chunk size: one Buffer can be
 * shared by every connection that uses the same chunk size.
 */
import type { RtmpMessage } from './chunk-reader.js';

export type OutgoingMessage = Omit<RtmpMessage, 'csid'> & { csid: number };

function basicHeaderLength(csid: number): number {
  return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

function writeBasicHeader(buf: Buffer, pos: number, fmt: number, csid: number): number {
  if (csid < 64) {
    buf[pos] = (fmt << 6) | csid;
    return pos + 1;
  }
  if (csid < 320) {
    buf[pos] = fmt << 6;
    buf[pos + 1] = csid - 64;
    return pos + 2;
  }
  buf[pos] = (fmt << 6) | 1;
  buf[pos + 1] = (csid - 64) & 0xff;
  buf[pos + 2] = (csid - 64) >> 8;
  return pos + 3;
}

/** Encodes one message as chunks of at most `chunkSize` payload bytes, in one Buffer. */
export function chunkMessage(msg: OutgoingMessage, chunkSize: number): Buffer {
  const { csid, typeId, payload, streamId } = msg;
  const timestamp = msg.timestamp >>> 0;
  const extended = timestamp >= 0xffffff;
  const basic = basicHeaderLength(csid);
  const chunks = Math.max(1, Math.ceil(payload.length / chunkSize));
  const ext = extended ? 4 : 0;
  const size = basic + 11 + ext + (chunks - 1) * (basic + ext) + payload.length;
  const buf = Buffer.allocUnsafe(size);
  let pos = writeBasicHeader(buf, 0, 0, csid);
  buf.writeUIntBE(extended ? 0xffffff : timestamp, pos, 3);
  buf.writeUIntBE(payload.length, pos + 3, 3);
  buf[pos + 6] = typeId;
  buf.writeUInt32LE(streamId, pos + 7);
  pos += 11;
  if (extended) pos = buf.writeUInt32BE(timestamp, pos);
  let off = 0;
  for (let i = 0; i < chunks; i++) {
    if (i > 0) {
      pos = writeBasicHeader(buf, pos, 3, csid);
      // Type-3 chunks repeat the extended timestamp, as Adobe's servers, ffmpeg and OBS expect.
      if (extended) pos = buf.writeUInt32BE(timestamp, pos);
    }
    const n = Math.min(chunkSize, payload.length - off);
    payload.copy(buf, pos, off, off + n);
    pos += n;
    off += n;
  }
  return buf;
}
