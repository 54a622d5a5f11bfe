/** An RTP header (payload type 96) for SRTP tests, with the one-byte `mid` extension ("0", id 1) when `withMid`. */
export function rtpHeader(seq: number, ts: number, ssrc: number, withMid: boolean, marker = false): Buffer {
  const h = Buffer.alloc(withMid ? 20 : 12);
  h[0] = withMid ? 0x90 : 0x80;
  h[1] = (marker ? 0x80 : 0) | 96;
  h.writeUInt16BE(seq, 2);
  h.writeUInt32BE(ts >>> 0, 4);
  h.writeUInt32BE(ssrc >>> 0, 8);
  if (withMid) {
    h.writeUInt16BE(0xbede, 12);
    h.writeUInt16BE(1, 14);
    h[16] = 0x10; // id 1, one byte
    h[17] = 0x30; // "0"
  }
  return h;
}
