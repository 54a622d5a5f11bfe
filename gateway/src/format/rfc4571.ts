/**
 * RFC 4571 framing, as ICE-TCP uses it (RFC 6544 §3): each STUN, DTLS, RTP or RTCP packet on the TCP
 * stream is preceded by its length as a 16-bit big-endian number. Pure.
 */

export class FrameTooLargeError extends Error {
  constructor(readonly length: number, readonly limit: number) {
    super(`an RFC 4571 frame of ${length} bytes is over the limit of ${limit}`);
  }
}

/** Reassembles frames from TCP chunks; a frame over `maxFrame` bytes is an error (the connection ends). */
export class Rfc4571Reader {
  private pending: Buffer | null = null;

  constructor(private readonly maxFrame: number) {}

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }

  /** Calls `onFrame` for every complete frame in `chunk` (frames are views of the chunk where they can be). */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    const data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    let offset = 0;
    while (data.length - offset >= 2) {
      const length = data.readUInt16BE(offset);
      if (length > this.maxFrame) throw new FrameTooLargeError(length, this.maxFrame);
      if (data.length - offset - 2 < length) break;
      if (length > 0) onFrame(data.subarray(offset + 2, offset + 2 + length));
      offset += 2 + length;
    }
    if (offset < data.length) this.pending = Buffer.from(data.subarray(offset));
  }
}

/** The two-byte length prefix for a frame of `length` bytes. */
export function rfc4571Header(length: number): Buffer {
  if (length > 0xffff) throw new RangeError(`a frame of ${length} bytes does not fit RFC 4571`);
  const header = Buffer.allocUnsafe(2);
  header.writeUInt16BE(length, 0);
  return header;
}
