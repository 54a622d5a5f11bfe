/**
 * The API's admission: every route but `/api/v1/info` is the `api` action (Basic or Bearer
 * credentials, or `?token=` for an EventSource, which cannot set headers). A route about one stream
 * (its status, its events — what the SDK uses to wait for a path to go live) is also open to whoever
 * may read that stream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sessionId } from '../core/log.js';
import type { StreamRegistry } from '../core/stream-registry.js';
import { clientIp, httpCredentials, sendRefusal } from './problem.js';

/** Whether the request may go on; a refused one has had its answer. */
export async function apiAllowed(registry: StreamRegistry, req: IncomingMessage, res: ServerResponse, url: URL, streamPath: string | null = null): Promise<boolean> {
  const base = { protocol: 'api', ...httpCredentials(req, url), ip: clientIp(req), id: sessionId('api'), query: url.search.slice(1), userAgent: req.headers['user-agent'] ?? '' };
  const api = await registry.admit({ ...base, action: 'api', path: '' });
  if (api.ok) return true;
  if (streamPath !== null) {
    const read = await registry.admit({ ...base, action: 'read', path: streamPath });
    // Not live is no refusal here: the credentials were good, and the route says what is live.
    if (read.ok || read.reason === 'not-found') return true;
  }
  sendRefusal(res, api);
  return false;
}
