/** The gateway's REST API, typed: the live streams, watched as they change, and what the server serves. */
import { asLivegateError, errorFromResponse, LivegateError } from './errors.js';
import { authHeaders, cleanPath, cleanServer } from './urls.js';

export interface ServerOptions {
  /** The gateway's HTTP address, e.g. `http://127.0.0.1:8080`. */
  server: string;
  /** Sent as `Authorization: Bearer` (and `?token=` where a header cannot go). */
  token?: string;
}

export interface TrackInfo {
  id: number;
  kind: 'video' | 'audio';
  codec: string;
  codecString?: string;
  width?: number;
  height?: number;
  sampleRate?: number;
  channels?: number;
}

export interface StreamInfo {
  path: string;
  tracks: TrackInfo[];
  /** Ingest bitrate, bits per second. */
  bitrate: number;
  bytesIn: number;
  publisher: { id: string; protocol: string; remoteAddress: string };
  readers: { total: number; byProtocol: { [protocol: string]: number } };
  uptimeSeconds: number;
  transcoders: { from: 'aac' | 'opus'; to: 'opus' | 'aac'; readers: number }[];
}

/** What a gateway serves (`GET /api/v1/info`). */
export interface ServerInfo {
  name: string;
  version: string;
  /** Playback protocols served over HTTP. */
  play: { webrtc: boolean; flv: boolean; hls: boolean };
  /** Publish protocols. */
  publish: { webrtc: boolean; rtmp: boolean; srt: boolean };
  /** The ports the gateway listens on (behind a proxy or NAT the public ones may differ). */
  ports: { http?: number; rtmp?: number; srt?: number };
}

async function getJson<T>(options: ServerOptions, path: string, signal?: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${cleanServer(options.server)}${path}`, { headers: authHeaders(options.token), cache: 'no-store', signal });
  } catch (err) {
    throw asLivegateError(err);
  }
  if (!res.ok) throw await errorFromResponse(res, 'api');
  return (await res.json()) as T;
}

/** The live streams. */
export async function listStreams(options: ServerOptions, signal?: AbortSignal): Promise<StreamInfo[]> {
  return (await getJson<{ streams: StreamInfo[] }>(options, '/api/v1/streams', signal)).streams;
}

/** One live stream, or null when the path is not live. */
export async function getStream(options: ServerOptions, path: string, signal?: AbortSignal): Promise<StreamInfo | null> {
  try {
    return await getJson<StreamInfo>(options, `/api/v1/streams/${cleanPath(path).split('/').map(encodeURIComponent).join('/')}`, signal);
  } catch (err) {
    if (err instanceof LivegateError && err.status === 404) return null;
    throw err;
  }
}

const infoCache = new Map<string, Promise<ServerInfo | null>>();

/** What the gateway serves; null when it cannot say (an older gateway, a proxy in the way). Cached per server. */
export function serverInfo(options: ServerOptions): Promise<ServerInfo | null> {
  const key = cleanServer(options.server);
  let p = infoCache.get(key);
  if (!p) {
    p = getJson<ServerInfo>(options, '/api/v1/info').catch((err: unknown) => {
      infoCache.delete(key);
      if (err instanceof LivegateError && (err.code === 'network' || err.code === 'unavailable')) throw err;
      return null;
    });
    infoCache.set(key, p);
  }
  return p;
}

export interface WatchOptions extends ServerOptions {
  /** Only this path (the callback then gets a list of at most one stream). */
  path?: string;
  /** Snapshots at least this often (ms; the server sends one at once on every change). Default 2000. */
  intervalMs?: number;
}

/**
 * Calls `onStreams` with the live streams now and whenever they change (a server-sent event stream,
 * `GET /api/v1/events`; polling when that is unavailable). Returns the function that stops watching.
 */
export function watchStreams(options: WatchOptions, onStreams: (streams: StreamInfo[]) => void, onError?: (error: LivegateError) => void): () => void {
  const interval = Math.max(500, options.intervalMs ?? 2000);
  const url = new URL(`${cleanServer(options.server)}/api/v1/events`);
  url.searchParams.set('interval', String(interval));
  if (options.path) url.searchParams.set('path', cleanPath(options.path));
  if (options.token) url.searchParams.set('token', options.token);
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let source: EventSource | undefined;
  const poll = async (): Promise<void> => {
    if (stopped) return;
    try {
      const all = await listStreams(options);
      if (!stopped) onStreams(options.path ? all.filter((s) => s.path === cleanPath(options.path!)) : all);
    } catch (err) {
      if (!stopped) onError?.(asLivegateError(err));
    }
    if (!stopped) timer = setTimeout(() => void poll(), interval);
  };
  if (typeof EventSource === 'undefined') {
    void poll();
  } else {
    let opened = false;
    source = new EventSource(url.href);
    source.addEventListener('open', () => (opened = true));
    source.addEventListener('streams', (e) => {
      try {
        onStreams((JSON.parse((e as MessageEvent<string>).data) as { streams: StreamInfo[] }).streams);
      } catch {
        // A malformed event is skipped; the next snapshot comes within the interval.
      }
    });
    source.addEventListener('error', () => {
      if (stopped) return;
      if (!opened) {
        // No event stream here (a proxy, an older gateway): poll instead.
        source?.close();
        source = undefined;
        void poll();
      } else {
        onError?.(new LivegateError('network', 'the event stream was interrupted (the browser reconnects it)'));
      }
    });
  }
  return () => {
    stopped = true;
    source?.close();
    clearTimeout(timer);
  };
}

/**
 * Resolves true as soon as `path` is live, false after `maxWaitMs` or when `signal` aborts, whichever
 * comes first (the player waits this way for a stream that is not live yet).
 */
export function waitForLive(options: ServerOptions, path: string, maxWaitMs: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (live: boolean): void => {
      if (done) return;
      done = true;
      stop();
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(live);
    };
    const onAbort = (): void => finish(false);
    const timer = setTimeout(() => finish(false), maxWaitMs);
    signal.addEventListener('abort', onAbort);
    const stop = watchStreams({ ...options, path, intervalMs: Math.max(1000, maxWaitMs) }, (streams) => {
      if (streams.some((s) => s.path === cleanPath(path) && s.tracks.length > 0)) finish(true);
    });
    if (signal.aborted) finish(false);
  });
}
