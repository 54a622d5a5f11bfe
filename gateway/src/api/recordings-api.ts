/**
 * REST API for recordings: `POST /api/v1/streams/{path}/record` starts recording a live path
 * (`?action=stop`, or `DELETE`, stops it), `GET /api/v1/recordings` lists them, and
 * `GET /recordings/{path}/{id}/index.m3u8` (with its `init-N.mp4` and `seg-K.m4s`) plays one back.
 * Everything here is an `api` action at the admission gate (recordings outlive their live stream).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { normalizePath } from '../core/path.js';
import type { StreamRegistry } from '../core/stream-registry.js';
import { apiAllowed } from '../http/api-access.js';
import { sendJson, type HttpServer } from '../http/http-server.js';
import { sendProblem } from '../http/problem.js';
import type { RecordingManager } from '../protocols/hls/recorder.js';

const TYPES: { [ext: string]: string } = { m3u8: 'application/vnd.apple.mpegurl', mp4: 'video/mp4', m4s: 'video/iso.segment' };

export function registerRecordingsApi(http: HttpServer, recordings: RecordingManager, registry: StreamRegistry): void {
  const control = (stop: boolean) => async (req: Parameters<Parameters<HttpServer['route']>[2]>[0], res: Parameters<Parameters<HttpServer['route']>[2]>[1], params: { [k: string]: string | undefined }, url: URL) => {
    const path = normalizePath(params.path ?? '');
    if (!path) return sendProblem(res, 400, 'bad path');
    if (!(await apiAllowed(registry, req, res, url, path))) return;
    if (stop || url.searchParams.get('action') === 'stop') {
      const view = await recordings.stop(path);
      return view ? sendJson(res, 200, view) : sendProblem(res, 404, `"${path}" is not being recorded`);
    }
    const started = recordings.start(path);
    if ('error' in started) return sendProblem(res, started.status, started.error);
    sendJson(res, 201, started);
  };
  http.route('POST', /^\/api\/v1\/streams\/(?<path>.+)\/record$/, control(false));
  http.route('DELETE', /^\/api\/v1\/streams\/(?<path>.+)\/record$/, control(true));
  http.route('GET', '/api/v1/recordings', async (req, res, _params, url) => {
    if (!(await apiAllowed(registry, req, res, url))) return;
    sendJson(res, 200, { recordings: await recordings.list() });
  });
  http.route('GET', /^\/recordings\/(?<path>.+)\/(?<id>[^/]+)\/(?<file>[^/]+)$/, async (req, res, params, url) => {
    http.cors(res);
    const path = normalizePath(params.path ?? '');
    const file = path ? recordings.fileOf(path, params.id ?? '', params.file ?? '') : null;
    if (!path || !file) return sendProblem(res, 404, 'no such recording file');
    if (!(await apiAllowed(registry, req, res, url, path))) return;
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch {
      return sendProblem(res, 404, 'no such recording file');
    }
    res.writeHead(200, { 'Content-Type': TYPES[file.split('.').pop()!] ?? 'application/octet-stream', 'Content-Length': size, 'Cache-Control': file.endsWith('.m3u8') ? 'no-cache' : 'max-age=86400' });
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
}
