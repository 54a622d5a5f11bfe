/**
 * HTTP-FLV and WS-FLV: `GET /{path}.flv` streams FLV over a chunked HTTP response, and the same URL
 * upgraded to a WebSocket sends one FLV piece (header or tag) per binary message (what mpegts.js
 * and flv.js expect).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { sessionId } from '../../core/log.js';
import type { ReaderHandle } from '../../core/stream.js';
import type { ReaderWants } from '../../core/rendition.js';
import { normalizePath, type StreamRegistry } from '../../core/stream-registry.js';
import type { HttpServer, RouteParams } from '../../http/http-server.js';
import { clientIp, httpCredentials, rawRefusal, sendProblem, sendRefusal } from '../../http/problem.js';
import { FlvReader, type FlvTransport } from './from-stream.js';

const HTTP_CHUNK = Symbol('http-flv.chunk');

/** One HTTP/1.1 chunk (RFC 9112 §7.1): size in hex, CRLF, data, CRLF — in one Buffer. */
function httpChunk(data: Buffer): Buffer {
  const size = data.length.toString(16);
  const out = Buffer.allocUnsafe(size.length + 4 + data.length);
  out.write(size, 0, 'latin1');
  out.write('\r\n', size.length, 'latin1');
  data.copy(out, size.length + 2);
  out.write('\r\n', size.length + 2 + data.length, 'latin1');
  return out;
}

/** FLV players play AAC and MP3: Opus audio reaches them as the stream's AAC rendition. */
const FLV_WANTS: ReaderWants = { audio: ['aac', 'mp3'] };

/** `/live/cam1.flv` → `live/cam1`. */
export const FLV_ROUTE = /^\/(?<path>.+)\.flv$/;

export interface FlvServerOptions {
  registry: StreamRegistry;
  log: Logger;
}

export class FlvServer {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  private readonly sessions = new Set<{ close(reason: string): void }>();

  constructor(private readonly options: FlvServerOptions) {}

  register(http: HttpServer): void {
    http.route('GET', FLV_ROUTE, (req, res, params, url) => this.onHttp(req, res, params, url));
    http.upgrade(FLV_ROUTE, (req, socket, head, params, url) => {
      this.onUpgrade(req, socket, head, params, url).catch((err: unknown) => {
        this.options.log.error('ws-flv upgrade failed', { reason: describeError(err) });
        socket.destroy();
      });
    });
  }

  closeAll(reason: string): void {
    for (const s of [...this.sessions]) s.close(reason);
    this.wss.close();
  }

  private async onHttp(req: IncomingMessage, res: ServerResponse, params: RouteParams, url: URL): Promise<void> {
    const id = sessionId('httpflv');
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const query = url.search.slice(1);
    const path = normalizePath(params.path ?? '');
    const log = this.options.log.child({ id, protocol: 'http-flv', path: path ?? params.path, remote });
    if (!path) return sendProblem(res, 400, `invalid stream path "${params.path ?? ''}"`);
    const { registry } = this.options;
    const admitted = await registry.admit({ action: 'read', protocol: 'http-flv', path, ...httpCredentials(req, url), ip: clientIp(req), id, query, userAgent: req.headers['user-agent'] ?? '' });
    const stream = admitted.ok ? registry.get(path) : undefined;
    if (!admitted.ok || !stream) {
      log.info('play refused', { reason: admitted.ok ? 'not-found' : admitted.reason });
      return sendRefusal(res, admitted.ok ? { ok: false, reason: 'not-found', message: `stream "${path}" is not live` } : admitted);
    }
    if (res.destroyed) return;
    // HTTP/2 (an HTTPS client that negotiated it): the response's own writes, framed by HTTP/2.
    // HTTP/1.1: chunked; HTTP/1.0 clients (some players) get the raw stream and a close at the end.
    const h2 = req.httpVersionMajor >= 2;
    const chunked = !h2 && (req.httpVersionMajor > 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor >= 1));
    res.writeHead(200, {
      'Content-Type': 'video/x-flv',
      'Cache-Control': 'no-cache, no-store',
      ...(h2 ? {} : chunked ? { 'Transfer-Encoding': 'chunked' } : { Connection: 'close' }),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.flushHeaders();
    if (!h2) req.socket.setNoDelay(true);
    let handle: ReaderHandle | undefined;
    let closed = false;
    const session = {
      close: (reason: string, abort = false): void => {
        if (closed) return;
        closed = true;
        this.sessions.delete(session);
        handle?.close();
        // An abort is livegate's decision (a slow reader, a socket error): a warning.
        log[abort ? 'warn' : 'info']('play closed', { reason });
        if (abort) res.destroy();
        else res.end();
      },
    };
    // HTTP/1.1: the response is written as raw chunks straight to the socket: each unit's chunk
    // (size line, tag, CRLF) is framed once and shared by every reader, where res.write() would
    // frame it again per reader. res.end() still writes the terminating chunk.
    const socket = req.socket;
    const transport: FlvTransport = h2
      ? {
          send: (bytes) => void res.write(bytes),
          sendUnit: (_unit, tag) => void res.write(tag),
          backlog: () => res.writableLength,
          end: () => session.close('end of stream'),
          abort: (reason) => session.close(reason, true),
        }
      : {
          send: (bytes) => void socket.write(chunked ? httpChunk(bytes) : bytes),
          sendUnit: (unit, tag) => {
            if (!chunked) return void socket.write(tag);
            let chunk = unit.memo[HTTP_CHUNK] as Buffer | undefined;
            if (!chunk) unit.memo[HTTP_CHUNK] = chunk = httpChunk(tag);
            socket.write(chunk);
          },
          beginBatch: () => socket.cork(),
          endBatch: () => socket.uncork(),
          backlog: () => res.writableLength + socket.writableLength,
          end: () => session.close('end of stream'),
          abort: (reason) => session.close(reason, true),
        };
    res.on('close', () => session.close('client closed'));
    res.on('error', (err) => session.close(`socket error: ${err.message}`, true));
    this.sessions.add(session);
    handle = stream.addReader({ id, protocol: 'http-flv', remoteAddress: remote, query, grant: admitted }, new FlvReader(transport, 'http-flv'), FLV_WANTS);
    log.info('play started');
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, params: RouteParams, url: URL): Promise<void> {
    const path = normalizePath(params.path ?? '');
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const id = sessionId('wsflv');
    const query = url.search.slice(1);
    const log = this.options.log.child({ id, protocol: 'ws-flv', path: path ?? params.path, remote });
    if (!path) return rawRefusal(socket, { ok: false, reason: 'not-found', message: `invalid stream path "${params.path ?? ''}"` });
    const { registry } = this.options;
    const admitted = await registry.admit({ action: 'read', protocol: 'ws-flv', path, ...httpCredentials(req, url), ip: clientIp(req), id, query, userAgent: req.headers['user-agent'] ?? '' });
    const stream = admitted.ok ? registry.get(path) : undefined;
    if (!admitted.ok || !stream) {
      log.info('play refused', { reason: admitted.ok ? 'not-found' : admitted.reason });
      return rawRefusal(socket, admitted.ok ? { ok: false, reason: 'not-found', message: `stream "${path}" is not live` } : admitted);
    }
    if (socket.destroyed) return;
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      if (stream.isEnded) {
        ws.close(1001, 'stream ended');
        return;
      }
      let closed = false;
      let handle: ReaderHandle | undefined;
      const session = {
        close: (reason: string, code = 1000): void => {
          if (closed) return;
          closed = true;
          this.sessions.delete(session);
          handle?.close();
          log[code === 1000 ? 'info' : 'warn']('play closed', { reason });
          if (code === 1000) ws.close(1000, 'end of stream');
          else ws.terminate();
        },
      };
      const transport: FlvTransport = {
        send: (bytes) => ws.send(bytes, { binary: true }),
        sendUnit: (_unit, tag) => ws.send(tag, { binary: true }),
        backlog: () => ws.bufferedAmount,
        end: () => session.close('end of stream'),
        abort: (reason) => session.close(reason, 1008),
      };
      ws.on('close', () => session.close('client closed'));
      ws.on('error', (err) => session.close(`socket error: ${err.message}`, 1011));
      // Viewers have nothing to say; anything they send is ignored (bounded by maxPayload).
      this.sessions.add(session);
      handle = stream.addReader({ id, protocol: 'ws-flv', remoteAddress: remote, query, grant: admitted }, new FlvReader(transport, 'ws-flv'), FLV_WANTS);
      log.info('play started');
    });
  }
}
