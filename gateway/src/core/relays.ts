/**
 * Push relays: every live path that matches a `paths[]` pattern with `push: [urls]` is sent to each of
 * those servers (another livegate, a YouTube-style RTMP ingest, any SRT listener) — one relay per path
 * and target, however many readers. A relay is a reader of the stream; it reconnects with backoff while
 * the stream is live (a publisher take-over keeps the stream, so the relay carries on) and stops when
 * the stream ends. How a URL is pushed to is a protocol's business (a PushDriver given by whoever builds
 * the gateway).
 */
import { redactUrl } from './redact-url.js';
import { describeError } from './errors.js';
import type { Logger } from './log.js';
import { matchPath } from './path.js';
import type { Stream } from './stream.js';
import type { StreamRegistry } from './stream-registry.js';

export interface PushConfig {
  /** A path pattern (`live/*`, exact, or `~regex`). */
  pattern: string;
  /** Target URLs; `{path}` is replaced by the stream's path, `{name}` by its last segment. */
  push: readonly string[];
}

/** One push of one stream: `ended` resolves with the reason it stopped (never rejects). */
export interface PushConnection {
  readonly ended: Promise<string>;
  close(reason: string): void;
}

export interface PushDriver {
  readonly schemes: readonly string[];
  /** Connects to `url` and sends `stream` there (attached as a reader once connected, then `onLive`). */
  open(url: string, stream: Stream, log: Logger, onLive: () => void): PushConnection;
}

export interface RelayView {
  path: string;
  /** The target without credentials. */
  url: string;
  state: 'connecting' | 'live' | 'retrying';
  lastError: string | null;
  connects: number;
  retries: number;
  since: string;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5000;
/** A push that stayed up this long counts as connected (its next failure starts the backoff over). */
const STABLE_MS = 3000;

class Relay {
  state: RelayView['state'] = 'connecting';
  lastError: string | null = null;
  connects = 0;
  retries = 0;
  since = Date.now();
  conn: PushConnection | null = null;
  timer: NodeJS.Timeout | null = null;
  backoff = RETRY_MIN_MS;
  stopped = false;
  constructor(
    readonly stream: Stream,
    readonly url: string,
    readonly driver: PushDriver,
  ) {}
}


/** `{path}` and `{name}` in a target URL, for one stream. */
export function targetUrl(template: string, path: string): string {
  return template.replaceAll('{path}', path).replaceAll('{name}', path.split('/').pop() ?? path);
}

export class RelayManager {
  private readonly relays = new Map<Stream, Relay[]>();
  private closed = false;

  constructor(
    registry: StreamRegistry,
    private readonly configs: readonly PushConfig[],
    private readonly drivers: readonly PushDriver[],
    private readonly log: Logger,
  ) {
    for (const c of configs) {
      for (const url of c.push) {
        const scheme = new URL(targetUrl(url, 'x')).protocol;
        if (!drivers.some((d) => d.schemes.includes(scheme))) throw new Error(`paths: no push driver for ${scheme} (${c.pattern})`);
      }
    }
    registry.on('publish', (stream) => this.started(stream));
    registry.on('unpublish', ({ stream, reason }) => this.stopAll(stream, reason));
  }

  views(): RelayView[] {
    const out: RelayView[] = [];
    for (const [stream, list] of this.relays) {
      for (const r of list) {
        out.push({ path: stream.path, url: redactUrl(r.url), state: r.state, lastError: r.lastError, connects: r.connects, retries: r.retries, since: new Date(r.since).toISOString() });
      }
    }
    return out;
  }

  private started(stream: Stream): void {
    if (this.closed) return;
    const urls = new Set<string>();
    for (const c of this.configs) if (matchPath(c.pattern, stream.path)) for (const u of c.push) urls.add(targetUrl(u, stream.path));
    if (urls.size === 0) return;
    const list: Relay[] = [];
    for (const url of urls) {
      const driver = this.drivers.find((d) => d.schemes.includes(new URL(url).protocol))!;
      const relay = new Relay(stream, url, driver);
      list.push(relay);
      this.connect(relay);
    }
    this.relays.set(stream, list);
  }

  private connect(r: Relay): void {
    if (r.stopped || r.stream.isEnded) return;
    r.timer = null;
    const log = this.log.child({ path: r.stream.path, relay: redactUrl(r.url) });
    const openedAt = performance.now();
    let conn: PushConnection;
    try {
      conn = r.driver.open(r.url, r.stream, log, () => this.markLive(r));
    } catch (err) {
      return this.ended(r, openedAt, `could not open: ${describeError(err)}`);
    }
    r.conn = conn;
    void conn.ended.then((reason) => this.ended(r, openedAt, reason));
  }

  private markLive(r: Relay): void {
    if (r.stopped) return;
    r.connects++;
    if (r.state !== 'live') r.since = Date.now();
    r.state = 'live';
    this.log.info('relay pushing', { path: r.stream.path, relay: redactUrl(r.url), connects: r.connects });
  }

  private ended(r: Relay, openedAt: number, reason: string): void {
    r.conn = null;
    r.lastError = reason;
    if (r.stopped || r.stream.isEnded || this.closed) return;
    if (performance.now() - openedAt > STABLE_MS) r.backoff = RETRY_MIN_MS;
    r.retries++;
    if (r.state !== 'retrying') r.since = Date.now();
    r.state = 'retrying';
    this.log.warn('relay dropped, retrying', { path: r.stream.path, relay: redactUrl(r.url), reason, inMs: r.backoff });
    r.timer = setTimeout(() => this.connect(r), r.backoff);
    r.timer.unref();
    r.backoff = Math.min(RETRY_MAX_MS, r.backoff * 2);
  }

  private stopAll(stream: Stream, reason: string): void {
    const list = this.relays.get(stream);
    if (!list) return;
    this.relays.delete(stream);
    for (const r of list) {
      r.stopped = true;
      if (r.timer) clearTimeout(r.timer);
      r.conn?.close(`stream ended: ${reason}`);
    }
  }

  close(): void {
    this.closed = true;
    for (const stream of [...this.relays.keys()]) this.stopAll(stream, 'shutting down');
  }
}
