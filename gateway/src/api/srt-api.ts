/** REST API: `GET /api/v1/srt/sessions` — every SRT connection with its RTT, rates and packet counters. */
import { sendJson, type HttpServer } from '../http/http-server.js';
import type { SrtServer } from '../protocols/srt/srt-server.js';

export function registerSrtApi(http: HttpServer, srt: SrtServer): void {
  http.route('GET', '/api/v1/srt/sessions', (_req, res) => {
    sendJson(res, 200, { sessions: srt.sessions() });
  });
}
