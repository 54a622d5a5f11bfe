/**
 * REST API: `GET /api/v1/sources` — every pull source (`paths[].source`) with its state and last error;
 * `GET /api/v1/relays` — every push relay (`paths[].push`) of a live path.
 */
import type { RelayManager } from '../core/relays.js';
import type { SourceManager } from '../core/sources.js';
import type { StreamRegistry } from '../core/stream-registry.js';
import { apiAllowed } from '../http/api-access.js';
import { sendJson, type HttpServer } from '../http/http-server.js';

export function registerSourcesApi(http: HttpServer, sources: SourceManager, relays: RelayManager, registry: StreamRegistry): void {
  http.route('GET', '/api/v1/sources', async (req, res, _params, url) => {
    if (!(await apiAllowed(registry, req, res, url))) return;
    sendJson(res, 200, { sources: sources.views() });
  });
  http.route('GET', '/api/v1/relays', async (req, res, _params, url) => {
    if (!(await apiAllowed(registry, req, res, url))) return;
    sendJson(res, 200, { relays: relays.views() });
  });
}
