/**
 * One error shape for every HTTP route (media, WHIP/WHEP, HLS, API): RFC 9457 problem details,
 * `application/problem+json` `{ type, title, status, detail }`; and the answer to an admission
 * refusal (401 with `WWW-Authenticate`, 403, 404, 409).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { httpStatusOf, queryCredentials, type AccessRefusal, type Credentials } from '../core/access.js';

export function sendProblem(res: ServerResponse, status: number, detail: string, headers: { [name: string]: string | string[] } = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify({ type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail }) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/problem+json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/**
 * The HTTP answer to a refusal of the admission gate. The challenge is always Bearer, also where
 * Basic credentials are taken (the API): a Basic challenge would make a browser prompt for a password
 * over the page's own requests (the SDK's), and clients that use Basic send it unasked.
 */
export function sendRefusal(res: ServerResponse, refusal: AccessRefusal): void {
  const status = httpStatusOf(refusal.reason);
  const headers: { [name: string]: string | string[] } = {};
  if (status === 401) headers['WWW-Authenticate'] = 'Bearer realm="livegate"';
  if (refusal.retryInMs !== undefined) headers['Retry-After'] = String(Math.max(1, Math.ceil(refusal.retryInMs / 1000)));
  sendProblem(res, status, refusal.message, headers);
}

const MAX_CREDENTIAL = 8192;

/**
 * Credentials of an HTTP request: `Authorization: Bearer <token>` or `Basic <user:pass>`, else the
 * query's `token`, or `user` and `pass` (players that cannot set headers: ffplay, a plain `<video>`).
 */
export function httpCredentials(req: IncomingMessage, url: URL): Credentials {
  const auth = req.headers.authorization ?? '';
  if (auth.length > 0 && auth.length <= MAX_CREDENTIAL) {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(auth)?.[1];
    if (bearer) return { token: bearer };
    const basic = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(auth)?.[1];
    if (basic) {
      const text = Buffer.from(basic, 'base64').toString('utf8');
      const colon = text.indexOf(':');
      if (colon >= 0) return { user: text.slice(0, colon), password: text.slice(colon + 1) };
    }
  }
  return queryCredentials(url.searchParams);
}

/** The client's IP address (the socket's; a proxy's forwarded header is not trusted). */
export function clientIp(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? '';
}

/** The refusal as a raw HTTP response on a socket that asked for a WebSocket upgrade. */
export function rawRefusal(socket: { end(data: string): void }, refusal: AccessRefusal): void {
  const status = httpStatusOf(refusal.reason);
  const body = JSON.stringify({ type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail: refusal.message }) + '\n';
  const challenge = status === 401 ? 'WWW-Authenticate: Bearer realm="livegate"\r\n' : '';
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n${challenge}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}
