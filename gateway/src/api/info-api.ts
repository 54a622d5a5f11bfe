/** `GET /api/v1/info`: what this gateway serves, so that clients (the SDK's ladder) skip what it does not. */
import { readFileSync } from 'node:fs';
import { sendJson, type HttpServer } from '../http/http-server.js';

export interface ServerInfoView {
  name: 'livegate';
  version: string;
  /** Playback protocols served over HTTP. */
  play: { webrtc: boolean; flv: boolean; hls: boolean };
  publish: { webrtc: boolean; rtmp: boolean; srt: boolean };
  /** The ports encoders and players use (as listening; behind a proxy or NAT they may differ). */
  ports: { http?: number; rtmp?: number; srt?: number };
}

/** The gateway package's version (gateway/package.json, one level above src/ and dist/). */
export const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

export function registerInfoApi(http: HttpServer, info: () => Omit<ServerInfoView, 'name' | 'version'>): void {
  http.route('GET', '/api/v1/info', (_req, res) => sendJson(res, 200, { name: 'livegate', version: VERSION, ...info() }));
}
