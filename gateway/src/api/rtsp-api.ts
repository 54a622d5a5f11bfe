/** REST API: `GET /api/v1/rtsp/sessions` — every RTSP session with its transport, packets received and lost, jitter. */
import type { StreamRegistry } from '../core/stream-registry.js';
import { sendJson, type HttpServer } from '../http/http-server.js';
import type { RtspServer } from '../protocols/rtsp/rtsp-server.js';
import { apiAllowed } from '../http/api-access.js';

export function registerRtspApi(http: HttpServer, rtsp: RtspServer, registry: StreamRegistry): void {
  http.route('GET', '/api/v1/rtsp/sessions', async (req, res, _params, url) => {
    if (!(await apiAllowed(registry, req, res, url))) return;
    sendJson(res, 200, { sessions: rtsp.sessions(), connections: rtsp.connectionCount, udpDropped: rtsp.udp?.dropped ?? 0 });
  });
}
