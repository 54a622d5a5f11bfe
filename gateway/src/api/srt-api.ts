/** REST API: `GET /api/v1/srt/sessions` — every SRT connection with its RTT, rates and packet counters. */
import type { StreamRegistry } from '../core/stream-registry.js';
import { sendJson, type HttpServer } from '../http/http-server.js';
import type { SrtServer } from '../protocols/srt/srt-server.js';
import { apiAllowed } from '../http/api-access.js';

export function registerSrtApi(http: HttpServer, srt: SrtServer, registry: StreamRegistry): void {
  http.route('GET', '/api/v1/srt/sessions', async (req, res, _params, url) => {
    if (!(await apiAllowed(registry, req, res, url))) return;
    sendJson(res, 200, { sessions: srt.sessions() });
  });
}
