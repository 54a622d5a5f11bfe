/**
 * HLS over the HTTP server: `GET /{path}/index.m3u8` (multivariant), `/{path}/stream.m3u8` (the
 * LL-HLS media playlist, with blocking reload `_HLS_msn`/`_HLS_part` and delta updates `_HLS_skip`),
 * and the muxer's init segments, segments and parts. Every path has one HlsMuxer (a per-stream
 * output), started by the first request and stopped `hls.idleTimeoutMs` after the last.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { latencyProbe } from '../../core/latency-probe.js';
import type { Logger } from '../../core/log.js';
import type { Stream } from '../../core/stream.js';
import type { OutputKind, OutputLease } from '../../core/stream-outputs.js';
import { normalizePath, type StreamRegistry } from '../../core/stream-registry.js';
import type { HttpServer, RouteParams } from '../../http/http-server.js';
import { clientIp, httpCredentials, sendProblem, sendRefusal } from '../../http/problem.js';
import { sessionId } from '../../core/log.js';
import { HlsMuxer, type HlsMuxerOptions, type HlsPart } from './hls-muxer.js';
import { HlsTsMuxer } from './hls-ts-muxer.js';

export interface HlsServerOptions extends HlsMuxerOptions {
  /** `fmp4` (LL-HLS) or `mpegts` (classic segments). */
  variant: 'fmp4' | 'mpegts';
  registry: StreamRegistry;
  log: Logger;
  /** The muxer of a path stops this long after its last request. */
  idleTimeoutMs: number;
}

const HLS_FILE = /^\/(?<path>.+)\/(?<file>index\.m3u8|stream\.m3u8|[0-9a-f]{8}-(?:init\d{1,6}\.mp4|[sp]\d{1,15}\.m4s|t\d{1,15}\.ts))$/;
const TS_FILE = /^(?<id>[0-9a-f]{8})-t(?<n>\d+)\.ts$/;
const MEDIA_FILE = /^(?<id>[0-9a-f]{8})-(?:init(?<init>\d+)\.mp4|(?<kind>[sp])(?<n>\d+)\.m4s)$/;
/** Blocking-reload query values: decimal integers, no sign, within what a playlist can hold. */
const DECIMAL = /^\d{1,15}$/;
/** How far past the newest part a blocking request may ask (RFC 8216bis Advance Part Limit, PART-TARGET < 1 s). */
const ADVANCE_PART_LIMIT = 3;
/** The first part of a new muxer is waited for at most this long (a stream that sends nothing). */
const FIRST_PART_WAIT_MS = 10_000;

const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';

/** `?token=…` (or `?user=…&pass=…`) of a request's query, to carry on in the playlists it gets; '' without. */
function credentialQuery(q: URLSearchParams): string {
  const kept = new URLSearchParams();
  for (const name of ['token', 'user', 'pass']) {
    const v = q.get(name);
    if (v) kept.set(name, v);
  }
  const text = kept.toString();
  return text ? `?${text}` : '';
}

export class HlsServer {
  private readonly kind: OutputKind<HlsMuxer>;
  private readonly tsKind: OutputKind<HlsTsMuxer>;

  constructor(private readonly options: HlsServerOptions) {
    this.kind = {
      name: 'hls',
      lingerMs: options.idleTimeoutMs,
      // HLS carries AAC: an Opus source's AAC rendition is made for it.
      wants: { audio: ['aac'] },
      make: (stream) => new HlsMuxer(stream, { partTargetMs: options.partTargetMs, segmentTargetMs: options.segmentTargetMs, segmentCount: options.segmentCount }),
      stopped: (muxer, reason) => {
        muxer.stop(reason);
        options.log.info('hls muxer stopped', { reason, parts: muxer.partsMade });
      },
      describe: (muxer) => ({ ...muxer.stats, waiting: muxer.waiting }),
    };
    this.tsKind = {
      name: 'hls-ts',
      lingerMs: options.idleTimeoutMs,
      wants: { audio: ['aac', 'mp3'] },
      make: (stream) => new HlsTsMuxer(stream, { segmentTargetMs: options.segmentTargetMs, segmentCount: options.segmentCount }),
      stopped: (muxer, reason) => muxer.stop(reason),
      describe: (muxer) => ({ ...muxer.stats, waiting: muxer.waiting }),
    };
  }

  /** A hold on the stream's fMP4 muxer (a recorder writes its parts). */
  muxerLease(stream: Stream): OutputLease<HlsMuxer> {
    return stream.outputs.use(this.kind);
  }

  register(http: HttpServer): void {
    http.route('GET', HLS_FILE, (req, res, params, url) => {
      http.cors(res);
      return this.onGet(req, res, params, url);
    });
  }

  private async onGet(req: IncomingMessage, res: ServerResponse, params: RouteParams, url: URL): Promise<void> {
    const path = normalizePath(params.path ?? '');
    if (!path) return sendProblem(res, 400, 'bad path');
    // Every request is admitted (playlists, parts and segments alike): credentials come with each,
    // in `Authorization` (the SDK sets it on hls.js's requests) or in the query (then the playlist
    // carries it on to the URIs it names).
    const { registry } = this.options;
    const credentials = httpCredentials(req, url);
    const admitted = await registry.admit({ action: 'read', protocol: 'hls', path, ...credentials, ip: clientIp(req), id: sessionId('hls'), query: url.search.slice(1), userAgent: req.headers['user-agent'] ?? '' });
    if (!admitted.ok) return sendRefusal(res, admitted);
    const stream = registry.get(path);
    if (!stream) return sendProblem(res, 404, `stream "${path}" is not live`);
    const carry = req.headers.authorization ? '' : credentialQuery(url.searchParams);
    if (this.options.variant === 'mpegts') {
      const ts = stream.outputs.use(this.tsKind);
      try {
        await this.serveTs(ts.output, params.file ?? '', url, res, carry);
      } finally {
        ts.release();
      }
      return;
    }
    const lease = stream.outputs.use(this.kind);
    try {
      await this.serve(lease.output, params.file ?? '', url, res, carry);
    } finally {
      lease.release();
    }
  }

  private async serve(muxer: HlsMuxer, file: string, url: URL, res: ServerResponse, carry: string): Promise<void> {
    if (file === 'index.m3u8' || file === 'stream.m3u8') {
      // A new muxer starts on the cached GOP: its first part is there at once, or a part target later.
      if (!(await muxer.whenReady(() => muxer.hasPart, FIRST_PART_WAIT_MS))) return text(res, 503, 'no media yet', { 'Retry-After': '1' });
      // A playlist without a complete segment is the end of the road for a player that does not know
      // parts (ffmpeg gives up on it): a plain request waits for the first segment, which ends at the
      // next keyframe (the muxer starts on the cached GOP, so in less than a GOP; at once afterwards).
      if (file === 'stream.m3u8' && !url.searchParams.has('_HLS_msn') && !(await muxer.whenReady(() => muxer.hasSegment, FIRST_PART_WAIT_MS))) {
        return text(res, 503, 'no complete segment yet', { 'Retry-After': '1' });
      }
      if (file === 'index.m3u8') {
        const body = muxer.multivariant(`stream.m3u8${url.search}`);
        return body ? send(res, 200, PLAYLIST_TYPE, Buffer.from(body), 'no-cache') : text(res, 503, 'no media yet', { 'Retry-After': '1' });
      }
      return this.mediaPlaylist(muxer, url, res, carry);
    }
    const m = MEDIA_FILE.exec(file)?.groups;
    if (!m || m.id !== muxer.id) return text(res, 404, 'not in this playlist (reload it)');
    if (m.init !== undefined) {
      const data = muxer.initByNumber(Number(m.init));
      return data ? send(res, 200, 'video/mp4', data, 'public, max-age=3600') : text(res, 404, 'no such init segment');
    }
    const n = Number(m.n);
    const waitMs = this.blockingWaitMs(muxer);
    if (m.kind === 'p') {
      // The preload hint names the next part: its request waits for it.
      if (n >= muxer.nextPart && n <= muxer.nextPart + 1 && !(await muxer.whenReady(() => muxer.part(n) !== undefined, waitMs))) {
        return text(res, 503, 'part not ready', { 'Retry-After': '1' });
      }
      const part = muxer.part(n);
      return part ? sendParts(res, [part]) : text(res, 404, 'no such part');
    }
    const current = muxer.lastMsn;
    if (n === current && !(await muxer.whenReady(() => muxer.segment(n)?.complete === true, waitMs))) return text(res, 503, 'segment not ready', { 'Retry-After': '1' });
    const segment = muxer.segment(n);
    return segment?.complete ? sendParts(res, segment.parts) : text(res, 404, 'no such segment');
  }

  /** The classic variant: a plain playlist of complete MPEG-TS segments, and the segments. */
  private async serveTs(muxer: HlsTsMuxer, file: string, url: URL, res: ServerResponse, carry: string): Promise<void> {
    if (file === 'index.m3u8' || file === 'stream.m3u8') {
      if (!(await muxer.whenReady(() => muxer.hasSegment, FIRST_PART_WAIT_MS))) return text(res, 503, 'no complete segment yet', { 'Retry-After': '1' });
      const body = file === 'index.m3u8' ? muxer.multivariant(`stream.m3u8${url.search}`) : muxer.playlist();
      return send(res, 200, PLAYLIST_TYPE, withQuery(Buffer.from(body), carry), 'no-cache');
    }
    const m = TS_FILE.exec(file)?.groups;
    const segment = m && m.id === muxer.id ? muxer.segment(Number(m.n)) : undefined;
    if (!segment?.complete) return text(res, 404, 'no such segment (reload the playlist)');
    if (res.destroyed) return;
    res.writeHead(200, ['Content-Type', 'video/mp2t', 'Content-Length', String(segment.bytes), 'Cache-Control', 'public, max-age=60']);
    for (const c of segment.chunks) res.write(c);
    res.end();
  }

  /** RFC 8216bis §6.2.5.2: bad or too-far blocking requests get 400; those not met in time, 503. */
  private async mediaPlaylist(muxer: HlsMuxer, url: URL, res: ServerResponse, carry: string): Promise<void> {
    const q = url.searchParams;
    const msnText = q.get('_HLS_msn');
    const partText = q.get('_HLS_part');
    const skipText = q.get('_HLS_skip');
    if (partText !== null && msnText === null) return text(res, 400, '_HLS_part without _HLS_msn');
    if ((msnText !== null && !DECIMAL.test(msnText)) || (partText !== null && !DECIMAL.test(partText))) return text(res, 400, '_HLS_msn and _HLS_part are decimal integers');
    if (skipText !== null && skipText !== 'YES' && skipText !== 'v2') return text(res, 400, '_HLS_skip is YES or v2');
    if (msnText !== null) {
      const msn = Number(msnText);
      const part = partText === null ? null : Number(partText);
      const last = muxer.lastMsn;
      const partsOfLast = muxer.segment(last)?.parts.length ?? 0;
      const tooFar =
        msn > last + 2 ||
        (part !== null && msn === last + 2) ||
        (part !== null && msn === last + 1 && part >= ADVANCE_PART_LIMIT) ||
        (part !== null && msn === last && part >= partsOfLast + ADVANCE_PART_LIMIT);
      if (tooFar) return text(res, 400, `_HLS_msn=${msn}${part === null ? '' : ` _HLS_part=${part}`} is too far ahead of the playlist (last segment ${last}, part ${partsOfLast - 1})`);
      const ready = (): boolean => {
        const s = muxer.segment(msn);
        if (muxer.lastMsn > msn || s?.complete) return true;
        return part !== null && s !== undefined && s.parts.length > part;
      };
      const waited = !ready();
      if (!(await muxer.whenReady(ready, this.blockingWaitMs(muxer)))) return text(res, 503, 'the requested part did not come in time', { 'Retry-After': '1' });
      // A held request: how long after its part was cut the playlist is written (benchmarks).
      if (waited) latencyProbe()?.record('hls-playlist', performance.now() - muxer.lastPartAt);
    }
    send(res, 200, PLAYLIST_TYPE, withQuery(muxer.playlist(skipText !== null), carry), 'no-cache');
  }

  /** Three target durations, as RFC 8216bis §6.2.5.2 allows a blocked request. */
  private blockingWaitMs(muxer: HlsMuxer): number {
    return 3 * Math.max(1000, this.options.segmentTargetMs, (muxer.segments[0]?.duration ?? 0) * 1000);
  }
}

function send(res: ServerResponse, status: number, type: string, body: Buffer, cacheControl: string): void {
  if (res.destroyed) return;
  // Headers as a flat list: the cheapest form for node:http (a part's waiters are answered together).
  res.writeHead(status, ['Content-Type', type, 'Content-Length', String(body.length), 'Cache-Control', cacheControl]);
  res.end(body);
}

/** A segment or part: its fragments written as they are (shared Buffers, never copied per client). */
function sendParts(res: ServerResponse, parts: readonly HlsPart[]): void {
  if (res.destroyed) return;
  const length = parts.reduce((n, p) => n + p.data.length, 0);
  res.writeHead(200, { 'Content-Type': 'video/mp4', 'Content-Length': length, 'Cache-Control': 'public, max-age=60' });
  for (const p of parts) res.write(p.data);
  res.end();
}

function text(res: ServerResponse, status: number, message: string, headers: { [name: string]: string } = {}): void {
  sendProblem(res, status, message, headers);
}

const MEDIA_URI = /[0-9a-f]{8}-(?:init\d+\.mp4|[sp]\d+\.m4s|t\d+\.ts)/g;

/** A playlist whose media URIs carry `query` (credentials given in the query travel on with the player's requests). */
function withQuery(playlist: Buffer, query: string): Buffer {
  return query ? Buffer.from(playlist.toString('utf8').replace(MEDIA_URI, (uri) => uri + query)) : playlist;
}
