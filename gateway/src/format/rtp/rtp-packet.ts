/**
 * The RTP fixed header (RFC 3550 §5.1): parse a received packet (CSRCs, header extension and
 * padding skipped, the payload a view of the received bytes) and write a header. Pure.
 */

export interface RtpPacket {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker: boolean;
  /** A view into the received bytes, never a copy. */
  payload: Buffer;
}

export const RTP_HEADER_SIZE = 12;

/** The packet, or null when it is not RTP version 2 or its lengths overrun it. */
export function parseRtp(buf: Buffer): RtpPacket | null {
  if (buf.length < RTP_HEADER_SIZE) return null;
  const b0 = buf[0]!;
  if (b0 >> 6 !== 2) return null;
  const b1 = buf[1]!;
  let offset = RTP_HEADER_SIZE + (b0 & 0x0f) * 4;
  if (b0 & 0x10) {
    if (buf.length < offset + 4) return null;
    offset += 4 + buf.readUInt16BE(offset + 2) * 4;
  }
  let end = buf.length;
  if (b0 & 0x20) {
    const pad = buf[buf.length - 1]!;
    if (pad === 0) return null;
    end -= pad;
  }
  if (offset > end) return null;
  return {
    payloadType: b1 & 0x7f,
    marker: (b1 & 0x80) !== 0,
    sequenceNumber: buf.readUInt16BE(2),
    timestamp: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
    payload: buf.subarray(offset, end),
  };
}

/** Writes a 12-byte header (no CSRC, no extension) at `offset`. */
export function writeRtpHeader(
  buf: Buffer,
  offset: number,
  h: { payloadType: number; marker: boolean; sequenceNumber: number; timestamp: number; ssrc: number },
): void {
  buf[offset] = 0x80;
  buf[offset + 1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
  buf.writeUInt16BE(h.sequenceNumber & 0xffff, offset + 2);
  buf.writeUInt32BE(h.timestamp >>> 0, offset + 4);
  buf.writeUInt32BE(h.ssrc >>> 0, offset + 8);
}
