/** HTTP-FLV and WS-FLV readers for tests, built on the gateway's own FLV demuxer. */
import { request } from 'node:http';
import WebSocket from 'ws';
import { FlvDemuxer } from '../../gateway/src/format/flv/index.js';

export interface ReadTag {
  type: number;
  timestamp: number;
  body: Buffer;
  /** performance.now() when the tag was complete. */
  at: number;
}

export interface FlvReaderClient {
  tags: ReadTag[];
  bytes: number;
  /** Resolves when the server ends the stream (or the connection drops), with how it ended. */
  ended: Promise<'end' | 'error'>;
  connectedAt: number;
  status?: number;
  close(): void;
}

export function readHttpFlv(url: string, opts: { keepTags?: boolean } = {}): FlvReaderClient {
  const keep = opts.keepTags ?? true;
  const demux = new FlvDemuxer();
  const client: FlvReaderClient = {
    tags: [],
    bytes: 0,
    connectedAt: performance.now(),
    ended: Promise.resolve('end'),
    close: () => req.destroy(),
  };
  let settle!: (how: 'end' | 'error') => void;
  client.ended = new Promise((r) => (settle = r));
  const req = request(url, (res) => {
    client.status = res.statusCode;
    if (res.statusCode !== 200) {
      // A refusal (a problem+json body), not a stream.
      res.resume();
      res.on('end', () => settle('end'));
      res.on('close', () => settle('end'));
      return;
    }
    res.on('data', (chunk: Buffer) => {
      client.bytes += chunk.length;
      const at = performance.now();
      for (const tag of demux.push(chunk)) if (keep || client.tags.length < 64) client.tags.push({ ...tag, at });
    });
    res.on('end', () => settle('end'));
    res.on('error', () => settle('error'));
    res.on('close', () => settle('error'));
  });
  req.on('error', () => settle('error'));
  req.end();
  return client;
}

export function readWsFlv(url: string): FlvReaderClient & { ws: WebSocket } {
  const demux = new FlvDemuxer();
  const ws = new WebSocket(url);
  let settle!: (how: 'end' | 'error') => void;
  const client = {
    ws,
    tags: [] as ReadTag[],
    bytes: 0,
    connectedAt: performance.now(),
    ended: new Promise<'end' | 'error'>((r) => (settle = r)),
    close: () => ws.terminate(),
  };
  ws.on('message', (data: Buffer) => {
    client.bytes += data.length;
    const at = performance.now();
    for (const tag of demux.push(data)) client.tags.push({ ...tag, at });
  });
  ws.on('close', (code) => settle(code === 1000 ? 'end' : 'error'));
  ws.on('error', () => settle('error'));
  return client;
}
