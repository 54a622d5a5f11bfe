/**
 * RTMP chunk stream decoder (RTMP spec 1.0 §5.3). Bytes in, complete messages out. Pure.
 * Limits are checked as soon as a header is read, before any payload is buffered.
 */
import { LimitError, ProtocolError } from '../../core/errors.js';

export interface RtmpMessage {
  csid: number;
  typeId: number;
  /** Absolute timestamp in ms (32-bit). */
  timestamp: number;
  streamId: number;
  payload: Buffer;
}

export interface ChunkReaderLimits {
  maxMessageSize: number;
  /** Largest chunk size a peer may set (0x7fffffff is legal per spec but hostile in practice). */
  maxChunkSize: number;
  /** Most chunk streams with state at once. */
  maxChunkStreams: number;
}

export const DEFAULT_CHUNK_LIMITS: ChunkReaderLimits = {
  maxMessageSize: 8 * 1024 * 1024,
  maxChunkSize: 0xffffff,
  maxChunkStreams: 64,
};

interface ChunkStreamState {
  timestamp: number;
  /** Last delta (type 1/2) or absolute (type 0) timestamp field, reused by type 3. */
  delta: number;
  length: number;
  typeId: number;
  streamId: number;
  hasExtended: boolean;
  /** Payload being assembled, or null between messages. */
  payload: Buffer | null;
  received: number;
}

const MSG_SET_CHUNK_SIZE = 1;
const MSG_ABORT = 2;
const EMPTY = Buffer.alloc(0);

/**
 * Feeds bytes; emits messages. Set Chunk Size and Abort are applied here (they change how the
 * following bytes are read) and are also emitted so the session can see them.
 */
export class ChunkReader {
  private chunkSize = 128;
  private readonly streams = new Map<number, ChunkStreamState>();
  private pending: Buffer = EMPTY;
  readonly limits: ChunkReaderLimits;

  constructor(limits: Partial<ChunkReaderLimits> = {}) {
    this.limits = {
      maxMessageSize: limits.maxMessageSize ?? DEFAULT_CHUNK_LIMITS.maxMessageSize,
      maxChunkSize: limits.maxChunkSize ?? DEFAULT_CHUNK_LIMITS.maxChunkSize,
      maxChunkStreams: limits.maxChunkStreams ?? DEFAULT_CHUNK_LIMITS.maxChunkStreams,
    };
  }

  get inChunkSize(): number {
    return this.chunkSize;
  }

  /** Decodes as many messages as `bytes` (plus what was left over) complete. */
  push(bytes: Buffer): RtmpMessage[] {
    const buf = this.pending.length === 0 ? bytes : Buffer.concat([this.pending, bytes]);
    const out: RtmpMessage[] = [];
    let pos = 0;
    while (pos < buf.length) {
      if (this.current) {
        pos = this.copyData(buf, pos, out);
        continue;
      }
      const used = this.readHeader(buf, pos);
      if (used === 0) break;
      pos += used;
      // A zero-length message is complete with its header.
      if (this.current!.remaining === 0) pos = this.copyData(buf, pos, out);
    }
    // Only an incomplete chunk header (at most 18 bytes) is ever kept: data goes straight into
    // the message's own buffer.
    this.pending = pos >= buf.length ? EMPTY : Buffer.from(buf.subarray(pos));
    return out;
  }

  /** The chunk whose data is being read: its stream and how many data bytes are still to come. */
  private current: { csid: number; st: ChunkStreamState; remaining: number } | null = null;

  private copyData(buf: Buffer, pos: number, out: RtmpMessage[]): number {
    const cur = this.current!;
    const st = cur.st;
    const n = Math.min(cur.remaining, buf.length - pos);
    buf.copy(st.payload!, st.received, pos, pos + n);
    st.received += n;
    cur.remaining -= n;
    if (cur.remaining === 0) {
      this.current = null;
      if (st.received === st.length) {
        const msg: RtmpMessage = { csid: cur.csid, typeId: st.typeId, timestamp: st.timestamp, streamId: st.streamId, payload: st.payload! };
        st.payload = null;
        st.received = 0;
        this.control(msg);
        out.push(msg);
      }
    }
    return pos + n;
  }

  /** Reads one chunk header at `start`; returns bytes used, or 0 if the header is not complete. */
  private readHeader(buf: Buffer, start: number): number {
    let pos = start;
    const b0 = buf[pos++]!;
    const fmt = b0 >> 6;
    let csid = b0 & 0x3f;
    // §5.3.1.1: csid 0 → 2-byte form (64–319), 1 → 3-byte form (64–65599).
    if (csid === 0) {
      if (pos + 1 > buf.length) return 0;
      csid = 64 + buf[pos++]!;
    } else if (csid === 1) {
      if (pos + 2 > buf.length) return 0;
      csid = 64 + buf[pos]! + buf[pos + 1]! * 256;
      pos += 2;
    }
    const headerLen = fmt === 0 ? 11 : fmt === 1 ? 7 : fmt === 2 ? 3 : 0;
    if (pos + headerLen > buf.length) return 0;
    let st = this.streams.get(csid);
    let tsField = st?.delta ?? 0;
    let length = st?.length ?? 0;
    let typeId = st?.typeId ?? 0;
    let streamId = st?.streamId ?? 0;
    if (fmt <= 2) {
      tsField = buf.readUIntBE(pos, 3);
      if (fmt <= 1) {
        length = buf.readUIntBE(pos + 3, 3);
        typeId = buf[pos + 6]!;
      }
      if (fmt === 0) streamId = buf.readUInt32LE(pos + 7);
      pos += headerLen;
    }
    const hasExtended = fmt <= 2 ? tsField === 0xffffff : (st?.hasExtended ?? false);
    if (hasExtended) {
      if (pos + 4 > buf.length) return 0;
      const ext = buf.readUInt32BE(pos);
      if (fmt <= 2) {
        tsField = ext;
        pos += 4;
      } else if (ext === st!.delta) {
        // A type-3 chunk repeats the extended timestamp (Adobe, ffmpeg, OBS) — or not (some
        // encoders): consume it only when it matches.
        pos += 4;
      }
    }
    // The whole header is here: check it, then commit it.
    if (!st) {
      if (fmt !== 0) throw new ProtocolError(`chunk stream ${csid} starts with a type ${fmt} header`);
      if (this.streams.size >= this.limits.maxChunkStreams) {
        throw new LimitError(`more than ${this.limits.maxChunkStreams} chunk streams`);
      }
      st = { timestamp: 0, delta: 0, length: 0, typeId: 0, streamId: 0, hasExtended: false, payload: null, received: 0 };
      this.streams.set(csid, st);
    }
    if (fmt !== 3 && st.payload !== null) {
      // A new header in the middle of a message: the peer abandoned the old one.
      st.payload = null;
      st.received = 0;
    }
    if (st.payload === null) {
      if (length > this.limits.maxMessageSize) {
        throw new LimitError(`message of ${length} bytes exceeds the ${this.limits.maxMessageSize}-byte limit`);
      }
      // §5.3.1.2: type 0 carries the absolute time; types 1–3 a delta (type 3 reuses the last one).
      st.timestamp = fmt === 0 ? tsField : (st.timestamp + tsField) >>> 0;
      st.delta = tsField;
      st.hasExtended = hasExtended;
      st.length = length;
      st.typeId = typeId;
      st.streamId = streamId;
      st.payload = Buffer.allocUnsafe(length);
      st.received = 0;
    }
    this.current = { csid, st, remaining: Math.min(st.length - st.received, this.chunkSize) };
    return pos - start;
  }

  /** §5.4.1 Set Chunk Size and §5.4.2 Abort change the reader's own state. */
  private control(msg: RtmpMessage): void {
    if (msg.typeId === MSG_SET_CHUNK_SIZE && msg.streamId === 0) {
      if (msg.payload.length < 4) throw new ProtocolError('Set Chunk Size message shorter than 4 bytes');
      const raw = msg.payload.readUInt32BE(0);
      if (raw & 0x8000_0000) throw new ProtocolError('Set Chunk Size with bit 31 set');
      if (raw < 1) throw new ProtocolError('Set Chunk Size of 0');
      if (raw > this.limits.maxChunkSize) {
        throw new LimitError(`chunk size ${raw} (0x${raw.toString(16)}) exceeds the limit of ${this.limits.maxChunkSize}`);
      }
      this.chunkSize = raw;
    } else if (msg.typeId === MSG_ABORT && msg.payload.length >= 4) {
      const st = this.streams.get(msg.payload.readUInt32BE(0));
      if (st) {
        st.payload = null;
        st.received = 0;
      }
    }
  }
}
