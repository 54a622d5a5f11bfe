/** REST API: `GET /api/v1/streams` and `GET /api/v1/streams/{path}`. */
import { apiAllowed } from '../http/api-access.js';
import { sendProblem } from '../http/problem.js';
import type { RenditionView } from '../core/rendition.js';
import type { Stream } from '../core/stream.js';
import type { OutputView } from '../core/stream-outputs.js';
import { normalizePath, type StreamRegistry } from '../core/stream-registry.js';
import { sendJson, type HttpServer } from '../http/http-server.js';

export interface TrackView {
  id: number;
  kind: 'video' | 'audio';
  codec: string;
  codecString?: string;
  width?: number;
  height?: number;
  sampleRate?: number;
  channels?: number;
}

/** One reader of a stream (in the view of that one stream). */
export interface ReaderView {
  id: string;
  protocol: string;
  remoteAddress: string;
  /** Who the admission gate recognised (a user, a JWT subject), when credentials were checked. */
  user?: string;
  unitsSent: number;
  unitsSkipped: number;
  /** Tracks of the stream this reader does not get, because its protocol cannot carry them. */
  omittedTracks: { id: number; kind: 'video' | 'audio'; codec: string; reason: string }[];
}

export interface StreamView {
  path: string;
  tracks: TrackView[];
  /** Ingest bitrate in bits per second over the last second. */
  bitrate: number;
  bytesIn: number;
  publisher: { id: string; protocol: string; remoteAddress: string; user?: string };
  readers: { total: number; byProtocol: { [protocol: string]: number }; list?: ReaderView[] };
  uptimeSeconds: number;
  gopCache: { units: number; bytes: number };
  /** The stream's audio renditions (transcoders shared by the readers that need them), when running. */
  transcoders: RenditionView[];
  /** The stream's per-stream outputs (muxers shared by the readers of a protocol), when running. */
  outputs: OutputView[];
}

/** A stream as the API shows it; `withReaders` lists every reader (the one-stream route). */
export function streamView(stream: Stream, withReaders = false): StreamView {
  const byProtocol: { [protocol: string]: number } = {};
  for (const r of stream.readers()) byProtocol[r.protocol] = (byProtocol[r.protocol] ?? 0) + 1;
  return {
    path: stream.path,
    tracks: stream.tracks.map((t) =>
      t.kind === 'video'
        ? { id: t.id, kind: t.kind, codec: t.codec, codecString: t.codecString, width: t.width, height: t.height }
        : { id: t.id, kind: t.kind, codec: t.codec, codecString: t.codecString, sampleRate: t.sampleRate, channels: t.channels },
    ),
    bitrate: Math.round(stream.bitrate * 8),
    bytesIn: stream.bytesIn,
    publisher: {
      id: stream.publisher.id,
      protocol: stream.publisher.protocol,
      remoteAddress: stream.publisher.remoteAddress,
      ...(stream.publisher.grant?.identity ? { user: stream.publisher.grant.identity } : {}),
    },
    readers: {
      total: stream.readerCount,
      byProtocol,
      ...(withReaders
        ? {
            list: stream.readerStates().map((r) => ({
              id: r.id,
              protocol: r.protocol,
              remoteAddress: r.remoteAddress,
              ...(r.grant?.identity ? { user: r.grant.identity } : {}),
              unitsSent: r.unitsSent,
              unitsSkipped: r.unitsSkipped,
              omittedTracks: r.omittedTracks.map((t) => ({ ...t })),
            })),
          }
        : {}),
    },
    uptimeSeconds: Math.round((Date.now() - stream.startedAt) / 1000),
    gopCache: stream.gopCacheSize,
    transcoders: stream.renditionViews(),
    outputs: stream.outputViews(),
  };
}

export function registerStreamsApi(http: HttpServer, registry: StreamRegistry): void {
  http.route('GET', '/api/v1/streams', async (req, res, _params, url) => {
    if (!(await apiAllowed(registry, req, res, url))) return;
    sendJson(res, 200, { streams: registry.list().map((s) => streamView(s)) });
  });
  http.route('GET', /^\/api\/v1\/streams\/(?<path>.+)$/, async (req, res, params, url) => {
    const path = normalizePath(params.path ?? '');
    if (!path) return sendProblem(res, 400, 'bad path');
    if (!(await apiAllowed(registry, req, res, url, path))) return;
    const stream = registry.get(path);
    if (!stream) return sendProblem(res, 404, `stream "${path}" is not live`);
    sendJson(res, 200, streamView(stream, true));
  });
}
