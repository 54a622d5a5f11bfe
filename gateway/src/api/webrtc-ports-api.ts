/**
 * REST API: `GET /api/v1/webrtc/ports` — the shared WebRTC media ports, the addresses candidates
 * announce, how many sessions they route, and the packets they dropped (by why).
 */
import type { StreamRegistry } from '../core/stream-registry.js';
import { sendJson, type HttpServer } from '../http/http-server.js';
import { apiAllowed } from '../http/api-access.js';
import type { WebrtcPorts } from '../protocols/webrtc/webrtc-ports.js';

export function registerWebrtcPortsApi(http: HttpServer, ports: WebrtcPorts, registry: StreamRegistry): void {
  http.route('GET', '/api/v1/webrtc/ports', async (req, res, _params, url) => {
    if (!(await apiAllowed(registry, req, res, url))) return;
    const mux = ports.mux;
    sendJson(res, 200, { udpPort: mux.ports.udp, tcpPort: mux.ports.tcp, announced: ports.announced(), sessions: mux.sessionCount, ...mux.stats });
  });
}
