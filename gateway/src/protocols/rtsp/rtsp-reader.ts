/**
 * RTSP on a TCP connection, bytes in → messages out (RFC 2326 §4, §10.12; RFC 7826 §8, §14): requests,
 * responses and `$`-framed interleaved RTP/RTCP, in any order. Socket-free: the server session feeds
 * it what arrives and gets whole items back. Every part has a limit; going over one, or bytes that are
 * neither RTSP nor a frame, is an RtspProtocolError that names the status to answer with.
 */

/** Bytes of a request or status line plus headers (ffmpeg's and GStreamer's are under 1 KiB). */
export const MAX_HEAD = 16 * 1024;
/** Header lines in one message. */
export const MAX_HEADERS = 64;
/** A message body (an SDP, a GET_PARAMETER list). */
export const MAX_BODY = 64 * 1024;

export class RtspProtocolError extends Error {
  constructor(
    message: string,
    /** The RTSP status to answer before closing: 400, 413 (body), 431-style 400 for a head too large. */
    readonly status: number,
  ) {
    super(message);
    this.name = 'RtspProtocolError';
  }
}

/** Header fields by lower-case name, in arrival order; a repeated field keeps every value. */
export class RtspHeaders {
  private readonly fields = new Map<string, string[]>();

  add(name: string, value: string): void {
    const key = name.toLowerCase();
    const list = this.fields.get(key);
    if (list) list.push(value);
    else this.fields.set(key, [value]);
  }

  /** The first value of `name`, or undefined. */
  get(name: string): string | undefined {
    return this.fields.get(name.toLowerCase())?.[0];
  }

  all(name: string): string[] {
    return this.fields.get(name.toLowerCase()) ?? [];
  }

  get size(): number {
    return this.fields.size;
  }
}

export interface RtspRequest {
  kind: 'request';
  method: string;
  uri: string;
  /** `RTSP/1.0` or `RTSP/2.0`. */
  version: string;
  headers: RtspHeaders;
  body: Buffer;
}

export interface RtspResponse {
  kind: 'response';
  version: string;
  status: number;
  reason: string;
  headers: RtspHeaders;
  body: Buffer;
}

/** An RTP or RTCP packet carried on the RTSP connection (RFC 2326 §10.12). */
export interface InterleavedFrame {
  kind: 'interleaved';
  channel: number;
  /** A view of the received bytes, not a copy. */
  data: Buffer;
}

export type RtspItem = RtspRequest | RtspResponse | InterleavedFrame;

const METHOD = /^[A-Z_]{1,32}$/;
const VERSION = /^RTSP\/\d\.\d$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The end of the head (CRLFCRLF, or LFLF from lenient clients): index after it, or -1. */
function headEnd(buf: Buffer, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    if (buf[i] !== 0x0a) continue;
    if (buf[i + 1] === 0x0a) return i + 2;
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}

function parseHead(text: string): { start: string[]; headers: RtspHeaders; contentLength: number } {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const start = lines.shift()!.split(' ');
  const headers = new RtspHeaders();
  let count = 0;
  for (const line of lines) {
    if (++count > MAX_HEADERS) throw new RtspProtocolError(`more than ${MAX_HEADERS} header lines`, 400);
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!TOKEN.test(name)) throw new RtspProtocolError(`malformed header line ${JSON.stringify(line.slice(0, 80))}`, 400);
    headers.add(name, line.slice(colon + 1).trim());
  }
  const cl = headers.get('content-length');
  let contentLength = 0;
  if (cl !== undefined) {
    if (!/^\d{1,9}$/.test(cl)) throw new RtspProtocolError(`invalid Content-Length ${JSON.stringify(cl.slice(0, 20))}`, 400);
    contentLength = Number(cl);
    if (contentLength > MAX_BODY) throw new RtspProtocolError(`a body of ${contentLength} bytes is over ${MAX_BODY}`, 413);
  }
  return { start, headers, contentLength };
}

export class RtspReader {
  private pending: Buffer = Buffer.alloc(0);
  /** Where the search for the end of the head resumes (bytes already searched). */
  private scanned = 0;

  /** Bytes that arrived; returns every item they complete, in order. Throws RtspProtocolError. */
  push(chunk: Buffer): RtspItem[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const items: RtspItem[] = [];
    for (;;) {
      const item = this.next();
      if (!item) return items;
      items.push(item);
    }
  }

  /** Bytes held for an item not complete yet. */
  get buffered(): number {
    return this.pending.length;
  }

  private take(n: number): Buffer {
    const head = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    this.scanned = 0;
    return head;
  }

  private next(): RtspItem | null {
    const buf = this.pending;
    if (buf.length === 0) return null;
    if (buf[0] === 0x24) {
      if (buf.length < 4) return null;
      const length = buf.readUInt16BE(2);
      if (buf.length < 4 + length) return null;
      const frame = this.take(4 + length);
      return { kind: 'interleaved', channel: frame[1]!, data: frame.subarray(4) };
    }
    // Blank lines between messages are allowed (RFC 7826 §8).
    if (buf[0] === 0x0d || buf[0] === 0x0a) {
      let i = 0;
      while (i < buf.length && (buf[i] === 0x0d || buf[i] === 0x0a)) i++;
      this.take(i);
      return this.next();
    }
    if (buf[0]! < 0x41 || buf[0]! > 0x5a) throw new RtspProtocolError(`a byte 0x${buf[0]!.toString(16).padStart(2, '0')} where an RTSP message or a $ frame starts`, 400);
    const limit = Math.min(buf.length, MAX_HEAD);
    const end = headEnd(buf, Math.max(0, this.scanned - 2), limit);
    if (end < 0) {
      if (buf.length >= MAX_HEAD) throw new RtspProtocolError(`a message head over ${MAX_HEAD} bytes`, 400);
      this.scanned = limit;
      return null;
    }
    const { start, headers, contentLength } = parseHead(buf.toString('latin1', 0, end));
    if (buf.length < end + contentLength) {
      this.scanned = end - 3;
      return null;
    }
    this.take(end);
    const body = Buffer.from(this.take(contentLength));
    if (start[0]!.startsWith('RTSP/')) {
      const [version, code, ...reason] = start;
      if (!VERSION.test(version!) || !/^\d{3}$/.test(code ?? '')) throw new RtspProtocolError(`malformed status line ${JSON.stringify(start.join(' ').slice(0, 80))}`, 400);
      return { kind: 'response', version: version!, status: Number(code), reason: reason.join(' '), headers, body };
    }
    if (start.length !== 3 || !METHOD.test(start[0]!) || !VERSION.test(start[2]!) || start[1]!.length === 0) {
      throw new RtspProtocolError(`malformed request line ${JSON.stringify(start.join(' ').slice(0, 80))}`, 400);
    }
    return { kind: 'request', method: start[0]!, uri: start[1]!, version: start[2]!, headers, body };
  }
}

function serialize(startLine: string, headers: [string, string][], body?: Buffer | string): Buffer {
  const bytes = body === undefined ? null : typeof body === 'string' ? Buffer.from(body) : body;
  let head = `${startLine}\r\n`;
  for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
  if (bytes && bytes.length > 0) head += `Content-Length: ${bytes.length}\r\n`;
  head += '\r\n';
  return bytes && bytes.length > 0 ? Buffer.concat([Buffer.from(head, 'latin1'), bytes]) : Buffer.from(head, 'latin1');
}

/** A response's bytes: status line, the given headers (CSeq among them), Content-Length when there is a body. */
export function serializeResponse(status: number, reason: string, headers: [string, string][], body?: Buffer | string): Buffer {
  return serialize(`RTSP/1.0 ${status} ${reason}`, headers, body);
}

/** A request's bytes (for pulling from cameras). */
export function serializeRequest(method: string, uri: string, headers: [string, string][], body?: Buffer | string): Buffer {
  return serialize(`${method} ${uri} RTSP/1.0`, headers, body);
}

/** The `$` frame header for an interleaved packet of `length` bytes on `channel` (the packet follows, unchanged). */
export function interleavedHeader(channel: number, length: number): Buffer {
  if (length > 0xffff) throw new RangeError(`an interleaved packet of ${length} bytes is over 65535`);
  const h = Buffer.allocUnsafe(4);
  h[0] = 0x24;
  h[1] = channel;
  h.writeUInt16BE(length, 2);
  return h;
}
