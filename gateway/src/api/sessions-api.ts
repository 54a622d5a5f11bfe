/**
 * Sessions of every protocol in one place: `GET /api/v1/sessions` lists each stream's publisher and
 * readers (id, protocol, path, address, who), and `POST /api/v1/sessions/{id}/kick` ends one — a
 * publisher (its stream ends, or waits for a new publisher) or a reader. Both are the `api` action.
 */
import type { StreamRegistry } from '../core/stream-registry.js';
import { apiAllowed } from '../http/api-access.js';
import { sendJson, type HttpServer } from '../http/http-server.js';
import { sendProblem } from '../http/problem.js';

export interface SessionView {
  id: string;
  role: 'publish' | 'read';
  protocol: string;
  path: string;
  remoteAddress: string;
  user?: string;
}

export function registerSessionsApi(http: HttpServer, registry: StreamRegistry): void {
  http.route('GET', '/api/v1/sessions', async (req, res, _params, url) => {
    if (!(await apiAllowed(registry, req, res, url))) return;
    const sessions: SessionView[] = [];
    for (const s of registry.list()) {
      const p = s.publisher;
      sessions.push({ id: p.id, role: 'publish', protocol: p.protocol, path: s.path, remoteAddress: p.remoteAddress, ...(p.grant?.identity ? { user: p.grant.identity } : {}) });
      for (const r of s.readers()) {
        if (r.remoteAddress === 'internal') continue;
        sessions.push({ id: r.id, role: 'read', protocol: r.protocol, path: s.path, remoteAddress: r.remoteAddress, ...(r.grant?.identity ? { user: r.grant.identity } : {}) });
      }
    }
    sendJson(res, 200, { sessions });
  });
  http.route('POST', /^\/api\/v1\/sessions\/(?<id>[^/]{1,200})\/kick$/, async (req, res, params, url) => {
    if (!(await apiAllowed(registry, req, res, url))) return;
    const id = params.id ?? '';
    for (const s of registry.list()) {
      if (s.publisher.id === id) {
        s.publisher.close('kicked through the API');
        registry.unpublish(s, 'publisher kicked through the API', s.publisher);
        return sendJson(res, 200, { kicked: id, role: 'publish', path: s.path });
      }
      if (s.dropReader(id, 'kicked through the API')) return sendJson(res, 200, { kicked: id, role: 'read', path: s.path });
    }
    sendProblem(res, 404, `no session "${id}"`);
  });
}
