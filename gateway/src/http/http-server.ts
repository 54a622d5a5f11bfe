import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import { readFileSync } from 'node:fs';
import { listen } from '../net/listen.js';
import { sendProblem } from './problem.js';
import type { Duplex } from 'node:stream';
import type { Logger } from '../core/log.js';

export type RouteParams = { [name: string]: string };
export type HttpHandler = (req: IncomingMessage, res: ServerResponse, params: RouteParams, url: URL) => void | Promise<void>;
export type HttpGuard = (req: IncomingMessage, res: ServerResponse, params: RouteParams, url: URL) => Promise<boolean>;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, params: RouteParams, url: URL) => void;

interface Route<H> {
  method: string;
  match: (pathname: string) => RouteParams | null;
  handler: H;
}

export interface TlsFiles {
  /** PEM certificate (chain) file. */
  cert: string;
  /** PEM private key file. */
  key: string;
}

export interface HttpServerOptions {
  headersTimeoutMs: number;
  corsOrigin: string;
  log: Logger;
  /** Also serve HTTPS (HTTP/2 by ALPN, HTTP/1.1 for the others and for WebSockets) with these files. */
  tls?: TlsFiles;
}

/** Largest request body the JSON API accepts. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The one HTTP server (FLV, WS-FLV, API; later HLS, WHIP, WHEP): plain node:http with a small
 * route table, so the media write path stays a direct socket write.
 */
export class HttpServer {
  readonly server: Server;
  /**
   * The HTTPS server, when `tls` is given: HTTP/2 for clients that offer it (HLS, the API: many
   * requests on one connection), HTTP/1.1 for the others and for WebSockets. Route handlers see the
   * same request and response API either way (HTTP/2 through node's compatibility layer); the few
   * that write to the socket themselves (HTTP-FLV) check `req.httpVersionMajor`.
   */
  readonly secureServer: Http2SecureServer | null = null;
  private readonly sessions = new Set<Http2Session>();
  /** TLS connections (HTTP/1.1 ones too), ended at close. */
  private readonly secureSockets = new Set<Duplex>();
  private readonly routes: Route<HttpHandler>[] = [];
  private readonly upgrades: Route<UpgradeHandler>[] = [];
  private readonly guards: Route<HttpGuard>[] = [];

  constructor(private readonly options: HttpServerOptions) {
    this.server = createServer({
      headersTimeout: options.headersTimeoutMs,
      requestTimeout: options.headersTimeoutMs * 3,
      // How often Node checks the two timeouts above; the default (30 s) lets a slow-loris client live too long.
      connectionsCheckingInterval: Math.min(1000, options.headersTimeoutMs),
      keepAliveTimeout: 5000,
      maxHeaderSize: 16 * 1024,
    });
    this.server.on('request', (req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    if (options.tls) {
      const secure = createSecureServer({ ...readTls(options.tls), allowHTTP1: true, maxSessionMemory: 64 });
      // HTTP/2 requests come through the compatibility API, shaped as node:http's.
      secure.on('request', (req: Http2ServerRequest | IncomingMessage, res: Http2ServerResponse | ServerResponse) => this.onRequest(req as IncomingMessage, res as ServerResponse));
      secure.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
      secure.on('session', (session: Http2Session) => {
        this.sessions.add(session);
        session.once('close', () => this.sessions.delete(session));
      });
      secure.on('secureConnection', (socket: Duplex) => {
        this.secureSockets.add(socket);
        socket.once('close', () => this.secureSockets.delete(socket));
      });
      secure.on('tlsClientError', (err: Error) => options.log.debug('tls handshake failed', { reason: err.message }));
      secure.setTimeout(120_000);
      this.secureServer = secure;
    }
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      const remote = (socket as Duplex & { remoteAddress?: string }).remoteAddress;
      options.log.info('http connection closed', {
        remote,
        reason: `${err.code ?? 'ERR'}: ${err.message}`,
      });
      if (socket.writable && err.code !== 'ECONNRESET') {
        const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_HEADERS_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      }
      socket.destroy();
    });
  }

  route(method: string, pattern: RegExp | string, handler: HttpHandler): void {
    this.routes.push({ method, match: matcher(pattern), handler });
  }

  /**
   * A handler asked first for GET (and HEAD) requests matching `pattern`: when it resolves true it
   * has answered (e.g. a redirect to another node), otherwise the routes answer as usual.
   */
  guard(pattern: RegExp | string, handler: HttpGuard): void {
    this.guards.push({ method: 'GET', match: matcher(pattern), handler });
  }

  upgrade(pattern: RegExp | string, handler: UpgradeHandler): void {
    this.upgrades.push({ method: 'GET', match: matcher(pattern), handler });
  }

  /** Sets the CORS headers every media and API response carries. */
  cors(res: ServerResponse): void {
    res.setHeader('Access-Control-Allow-Origin', this.options.corsOrigin);
    res.setHeader('Access-Control-Expose-Headers', 'Location, ETag, Link, Content-Type, Accept-Patch');
  }

  listen(port: number, host: string): Promise<number> {
    return listen(this.server, port, host);
  }

  listenSecure(port: number, host: string): Promise<number> {
    if (!this.secureServer) throw new Error('no TLS configured');
    return listen(this.secureServer, port, host);
  }

  /** Reads the certificate and key again (SIGHUP after a renewal): new connections use them. */
  reloadTls(): void {
    if (!this.secureServer || !this.options.tls) return;
    this.secureServer.setSecureContext(readTls(this.options.tls));
    this.options.log.info('tls certificate reloaded', { cert: this.options.tls.cert });
  }


  close(): Promise<void> {
    const plain = new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    const secure = this.secureServer;
    if (!secure) return plain;
    for (const s of this.sessions) s.destroy();
    for (const s of this.secureSockets) s.destroy();
    return Promise.all([plain, new Promise<void>((resolve) => secure.close(() => resolve()))]).then(() => {});
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.cors(res);
    const target = parseTarget(req.url ?? '/');
    if (!target) {
      sendProblem(res, 400, 'bad request target');
      return;
    }
    const { pathname, url } = target;
    if (this.guards.length > 0 && (req.method === 'GET' || req.method === 'HEAD')) {
      const guards = this.guards.flatMap((g) => {
        const params = g.match(pathname);
        return params ? [{ g, params }] : [];
      });
      if (guards.length > 0) {
        void (async () => {
          for (const { g, params } of guards) if (await g.handler(req, res, params, url)) return;
          this.dispatch(req, res, pathname, url);
        })().catch((err: unknown) => {
          this.options.log.error('http guard failed', { path: pathname, reason: String(err) });
          if (!res.headersSent) sendProblem(res, 500, 'internal error');
        });
        return;
      }
    }
    this.dispatch(req, res, pathname, url);
  }

  private dispatch(req: IncomingMessage, res: ServerResponse, pathname: string, url: URL): void {
    let allowed: string[] = [];
    for (const route of this.routes) {
      const params = route.match(pathname);
      if (!params) continue;
      if (route.method !== req.method && !(route.method === 'GET' && req.method === 'HEAD')) {
        allowed.push(route.method);
        continue;
      }
      Promise.resolve()
        .then(() => route.handler(req, res, params, url))
        .catch((err: unknown) => {
          this.options.log.error('http handler failed', { path: pathname, reason: String(err) });
          if (!res.headersSent) sendProblem(res, 500, 'internal error');
          else res.destroy();
        });
      return;
    }
    if (req.method === 'OPTIONS' && allowed.length > 0) {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': [...new Set([...allowed, 'OPTIONS'])].join(', '),
        'Access-Control-Allow-Headers': 'Authorization, Content-Type, If-Match',
        'Access-Control-Max-Age': '86400',
      });
      res.end();
      return;
    }
    if (allowed.length > 0) {
      allowed = [...new Set(allowed)];
      sendProblem(res, 405, 'method not allowed', { Allow: allowed.join(', ') });
      return;
    }
    sendProblem(res, 404, 'not found');
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const target = parseTarget(req.url ?? '/');
    if (!target) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      return;
    }
    const { pathname, url } = target;
    for (const route of this.upgrades) {
      const params = route.match(pathname);
      if (params) {
        route.handler(req, socket, head, params, url);
        return;
      }
    }
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  }
}

/**
 * The decoded path and the query of a request target (RFC 9112 §3.2): origin-form `/live/k.flv?q`,
 * or absolute-form `http://host/live/k.flv?q`. The path is taken as it is written: `//live/k.flv`
 * is the path `//live/k.flv` (a URL parser would read `live` as a host), so that every route sees
 * the same path whatever the slashes, and normalizePath decides what it names.
 * `url` carries the query (`url.search`) for the handlers. Null for a target that is neither form or
 * whose percent-encoding is broken.
 */
export function parseTarget(target: string): { pathname: string; url: URL } | null {
  let t = target;
  if (!t.startsWith('/')) {
    const m = /^https?:\/\/[^/?#]*/i.exec(t);
    if (!m) return null;
    t = t.slice(m[0].length);
    if (!t.startsWith('/')) t = '/' + t;
  }
  const hash = t.indexOf('#');
  if (hash >= 0) t = t.slice(0, hash);
  const q = t.indexOf('?');
  let pathname: string;
  try {
    pathname = decodeURIComponent(q < 0 ? t : t.slice(0, q));
  } catch {
    return null;
  }
  const url = new URL('http://localhost/');
  if (q >= 0 && q < t.length - 1) url.search = t.slice(q + 1);
  return { pathname, url };
}

function matcher(pattern: RegExp | string): (pathname: string) => RouteParams | null {
  if (typeof pattern === 'string') return (p) => (p === pattern ? {} : null);
  return (p) => {
    const m = pattern.exec(p);
    return m ? { ...(m.groups ?? {}) } : null;
  };
}

/** Writes a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(text + '\n');
}

/** The certificate and key files of `http.tls` (RTSPS uses them too). */
export function readTls(files: TlsFiles): { cert: Buffer; key: Buffer } {
  return { cert: readFileSync(files.cert), key: readFileSync(files.key) };
}
