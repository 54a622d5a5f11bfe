/** Incremental FLV demuxer: bytes in (any chunking), tags out. Pure, with a tag size limit. */
import { LimitError, ParseError } from '../../core/errors.js';
import { FLV_TAG_HEADER_SIZE, parseFlvHeader, type FlvHeader, type FlvTag } from './tag.js';

export interface FlvDemuxerOptions {
  /** Largest tag body accepted (default 8 MiB). */
  maxTagSize?: number;
}

export class FlvDemuxer {
  private buf: Buffer = Buffer.alloc(0);
  private headerDone = false;
  header: FlvHeader | null = null;
  private readonly maxTagSize: number;

  constructor(options: FlvDemuxerOptions = {}) {
    this.maxTagSize = options.maxTagSize ?? 8 * 1024 * 1024;
  }

  push(chunk: Buffer): FlvTag[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const tags: FlvTag[] = [];
    let pos = 0;
    if (!this.headerDone) {
      if (this.buf.length < 9) return tags;
      this.header = parseFlvHeader(this.buf);
      if (this.buf.length < this.header.headerSize + 4) return tags;
      pos = this.header.headerSize + 4; // PreviousTagSize0
      this.headerDone = true;
    }
    while (pos + FLV_TAG_HEADER_SIZE <= this.buf.length) {
      const type = this.buf[pos]! & 0x1f; // the top bits are reserved / filter flag
      const size = this.buf.readUIntBE(pos + 1, 3);
      if (size > this.maxTagSize) throw new LimitError(`FLV tag of ${size} bytes exceeds the ${this.maxTagSize}-byte limit`);
      const end = pos + FLV_TAG_HEADER_SIZE + size + 4;
      if (end > this.buf.length) break;
      const timestamp = (this.buf.readUIntBE(pos + 4, 3) | (this.buf[pos + 7]! << 24)) >>> 0;
      const prev = this.buf.readUInt32BE(end - 4);
      if (prev !== FLV_TAG_HEADER_SIZE + size && prev !== 0) {
        throw new ParseError(`FLV PreviousTagSize ${prev} does not match tag size ${FLV_TAG_HEADER_SIZE + size}`);
      }
      tags.push({ type, timestamp, body: this.buf.subarray(pos + FLV_TAG_HEADER_SIZE, end - 4) });
      pos = end;
    }
    this.buf = pos === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
    return tags;
  }
}
