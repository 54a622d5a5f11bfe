/**
 * Pull sources: paths whose stream livegate fetches itself (`paths[].source: rtsp://…`, `rtmp://…`,
 * `srt://…`) instead of waiting for a publisher. One lifecycle for every protocol: always on, or on
 * demand (the first reader's admission starts it and waits for it to go live; it stops a linger after
 * the last reader left). A source that drops is reconnected with backoff while it is wanted, and its
 * stream stays the same path for its readers: the new connection takes the stream over. How a URL is
 * opened is a protocol's business (a SourceDriver given by whoever builds the gateway).
 *
 * Besides the configured sources, a resolver (a cluster) may name a source for any path a reader asks
 * for: such a source is made on demand, and forgotten when it stops. When it drops, the resolver is
 * asked again: the same URL is retried, anything else (another origin, none) stops it and ends its
 * stream, so that readers come back and find the path where it is now.
 */
import { redactUrl } from './redact-url.js';
import type { AccessGrant } from './access.js';
import { describeError } from './errors.js';
import type { Logger } from './log.js';
import { isInternalReader } from './reader.js';
import type { PublisherInfo, Stream } from './stream.js';
import type { StreamRegistry } from './stream-registry.js';

export interface SourceConfig {
  path: string;
  url: string;
  onDemand: boolean;
  /** On demand: how long the source stays after its last reader (ms). */
  lingerMs: number;
  /** On demand: how long a reader's admission waits for the source to go live (ms). */
  startTimeoutMs: number;
  /** Protocol options (e.g. `rtspTransport`). */
  options: { [k: string]: string | number | boolean | undefined };
}

/** What a driver's connection gets: the way to start (or take over) its path's stream. */
export interface SourceSink {
  readonly path: string;
  readonly log: Logger;
  /**
   * Call once media flows: the stream of the path, new or taken over from the previous connection
   * (its readers stay). `close` ends this connection (shutdown, idle timeout, linger).
   */
  publish(info: { protocol: string; remoteAddress: string; close(reason: string): void; requestKeyframe?(reason: string): void }): Stream;
}

/** One connection to a source: `ended` resolves with the reason it stopped (it never rejects). */
export interface SourceConnection {
  readonly ended: Promise<string>;
  close(reason: string): void;
  /** Figures for the API (transport, packets…). */
  describe?(): { [k: string]: string | number | boolean | null };
}

export interface SourceDriver {
  /** The URL schemes it opens (`rtsp:`, `rtsps:`…). */
  readonly schemes: readonly string[];
  open(config: SourceConfig, sink: SourceSink): SourceConnection;
}

export type SourceState = 'idle' | 'connecting' | 'live' | 'retrying';

/** Names the source of a path that has no configured one (null: none), e.g. the origin node of a cluster. */
export type SourceResolver = (path: string) => Promise<SourceConfig | null>;

export interface SourceView {
  path: string;
  /** The URL without its credentials. */
  url: string;
  onDemand: boolean;
  /** Named by the resolver (a cluster origin), not configured. */
  resolved: boolean;
  state: SourceState;
  lastError: string | null;
  connects: number;
  retries: number;
  since: string;
  details?: { [k: string]: string | number | boolean | null };
}

/** Readers that are clients (not the gateway's own transcoders and muxers). */
function clientReaders(stream: Stream): number {
  return stream.readers().filter((r) => !isInternalReader(r)).length;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 2000;

class Source {
  state: SourceState = 'idle';
  lastError: string | null = null;
  connects = 0;
  retries = 0;
  since = Date.now();
  conn: SourceConnection | null = null;
  stream: Stream | null = null;
  wanted = false;
  retryTimer: NodeJS.Timeout | null = null;
  lingerTimer: NodeJS.Timeout | null = null;
  backoff = RETRY_MIN_MS;
  /** Readers waiting for the source to go live. */
  waiters: (() => void)[] = [];
  /** Bumped on every connection: a stale connection's callbacks do nothing. */
  generation = 0;
  offReaders: (() => void)[] = [];
  /** The publisher the last connection was: once another one has taken the stream over, stopping ends nothing. */
  publisher: PublisherInfo | null = null;
  constructor(
    readonly config: SourceConfig,
    readonly driver: SourceDriver,
    readonly resolved = false,
  ) {}
}


export class SourceManager {
  private readonly sources = new Map<string, Source>();
  private closed = false;
  private resolver: SourceResolver | null = null;
  /** Paths being resolved (many readers arriving at once ask the resolver once). */
  private readonly resolving = new Map<string, Promise<Source | null>>();

  constructor(
    private readonly registry: StreamRegistry,
    configs: readonly SourceConfig[],
    private readonly drivers: readonly SourceDriver[],
    private readonly log: Logger,
  ) {
    for (const c of configs) this.sources.set(c.path, new Source(c, this.driverFor(c)));
    registry.setDemandHandler((path) => this.demand(path));
    for (const s of this.sources.values()) if (!s.config.onDemand) this.want(s);
  }

  private driverFor(c: SourceConfig): SourceDriver {
    const scheme = new URL(c.url).protocol;
    const driver = this.drivers.find((d) => d.schemes.includes(scheme));
    if (!driver) throw new Error(`paths: no source driver for ${scheme} (${c.path})`);
    return driver;
  }

  /** Who names the source of a path without a configured one (see the module comment). */
  setResolver(resolver: SourceResolver | null): void {
    this.resolver = resolver;
  }

  /** The source of `path` if it is running (configured or resolved). */
  running(path: string): { url: string; resolved: boolean; state: SourceState } | null {
    const s = this.sources.get(path);
    return s && s.wanted ? { url: s.config.url, resolved: s.resolved, state: s.state } : null;
  }

  /** Stops a resolved source (its origin went away): its stream ends, its readers come back later. */
  stopResolved(path: string, reason: string): void {
    const s = this.sources.get(path);
    if (s?.resolved && s.wanted) this.stop(s, reason);
  }

  views(): SourceView[] {
    return [...this.sources.values()].map((s) => {
      const details = s.conn?.describe?.();
      return {
        path: s.config.path,
        url: redactUrl(s.config.url),
        onDemand: s.config.onDemand,
        resolved: s.resolved,
        state: s.state,
        lastError: s.lastError,
        connects: s.connects,
        retries: s.retries,
        since: new Date(s.since).toISOString(),
        ...(details ? { details } : {}),
      };
    });
  }

  /** A reader asks for `path`, which is not live: an on-demand source starts; resolves once live or given up. */
  private demand(path: string): Promise<void> | null {
    if (this.closed) return null;
    const s = this.sources.get(path);
    if (s) return this.start(s);
    const resolver = this.resolver;
    if (!resolver) return null;
    let pending = this.resolving.get(path);
    if (!pending) {
      // A resolver that fails, or names a URL no driver opens, leaves the reader refused (not found).
      pending = resolver(path)
        .then((config) => {
          this.resolving.delete(path);
          if (!config || this.closed) return null;
          let s = this.sources.get(path);
          if (!s) {
            s = new Source(config, this.driverFor(config), true);
            this.sources.set(path, s);
          }
          return s;
        })
        .catch((err: unknown) => {
          this.resolving.delete(path);
          this.log.warn('source resolver failed', { path, error: describeError(err) });
          return null;
        });
      this.resolving.set(path, pending);
    }
    return pending.then((s) => (s ? this.start(s) : undefined));
  }

  private start(s: Source): Promise<void> {
    this.want(s);
    if (s.state === 'live' && s.stream && !s.stream.isEnded) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        const i = s.waiters.indexOf(done);
        if (i >= 0) s.waiters.splice(i, 1);
        resolve();
      };
      const timer = setTimeout(done, s.config.startTimeoutMs);
      s.waiters.push(done);
    });
  }

  private setState(s: Source, state: SourceState, error?: string): void {
    if (s.state !== state) s.since = Date.now();
    s.state = state;
    if (error !== undefined) s.lastError = error;
  }

  private want(s: Source): void {
    if (s.lingerTimer) clearTimeout(s.lingerTimer);
    s.lingerTimer = null;
    if (s.wanted) return;
    s.wanted = true;
    s.backoff = RETRY_MIN_MS;
    this.connect(s);
  }

  private connect(s: Source): void {
    if (!s.wanted || this.closed) return;
    s.retryTimer = null;
    const generation = ++s.generation;
    this.setState(s, s.connects === 0 && s.retries === 0 ? 'connecting' : s.state === 'retrying' ? 'retrying' : 'connecting');
    const log = this.log.child({ path: s.config.path, source: redactUrl(s.config.url) });
    const grant: AccessGrant = {
      ok: true,
      request: { action: 'publish', protocol: 'source', path: s.config.path, ip: '', id: `source/${s.config.path}` },
      identity: 'config',
      expiresAt: null,
      method: 'config',
    };
    let conn: SourceConnection;
    const sink: SourceSink = {
      path: s.config.path,
      log,
      publish: (info) => {
        if (generation !== s.generation) throw new Error('a stale source connection');
        const publisher: PublisherInfo = { id: `source/${s.config.path}#${generation}`, grant, ...info };
        s.publisher = publisher;
        let stream = s.stream;
        if (stream && !stream.isEnded && this.registry.get(s.config.path) === stream) stream.handOver(publisher);
        else {
          stream = this.registry.publish(s.config.path, publisher);
          this.watchReaders(s, stream);
        }
        s.stream = stream;
        s.connects++;
        s.backoff = RETRY_MIN_MS;
        this.setState(s, 'live', undefined);
        log.info('source live', { connects: s.connects });
        for (const w of s.waiters.splice(0)) w();
        if (s.config.onDemand && clientReaders(stream) === 0) this.linger(s);
        return stream;
      },
    };
    try {
      conn = s.driver.open(s.config, sink);
    } catch (err) {
      this.ended(s, generation, `could not open: ${describeError(err)}`);
      return;
    }
    s.conn = conn;
    void conn.ended.then((reason) => this.ended(s, generation, reason));
  }

  private ended(s: Source, generation: number, reason: string): void {
    if (generation !== s.generation) return;
    s.conn = null;
    s.lastError = reason;
    if (!s.wanted || this.closed) {
      this.setState(s, 'idle');
      this.endStream(s, reason);
      return;
    }
    if (s.config.onDemand && s.waiters.length === 0 && !(s.stream && clientReaders(s.stream) > 0)) {
      // Nobody is waiting for it any more (the readers that asked gave up): an on-demand source stops.
      this.stop(s, `${reason}; no reader waits for it`);
      s.lastError = reason;
      return;
    }
    if (s.resolved && this.resolver) {
      // Is the path still where this source goes? Retry only if so.
      const resolver = this.resolver;
      void resolver(s.config.path).then(
        (config) => this.reresolved(s, generation, reason, config?.url ?? null),
        () => this.reresolved(s, generation, reason, null),
      );
      return;
    }
    this.retry(s, reason);
  }

  private reresolved(s: Source, generation: number, reason: string, url: string | null): void {
    if (generation !== s.generation || !s.wanted || this.closed) return;
    if (url === s.config.url) return this.retry(s, reason);
    this.stop(s, `${reason}; ${url === null ? 'no origin has the path now' : 'the path has moved to another origin'}`);
    s.lastError = reason;
  }

  private retry(s: Source, reason: string): void {
    s.retries++;
    this.setState(s, 'retrying', reason);
    this.log.warn('source dropped, retrying', { path: s.config.path, reason, inMs: s.backoff });
    s.retryTimer = setTimeout(() => this.connect(s), s.backoff);
    s.backoff = Math.min(RETRY_MAX_MS, s.backoff * 2);
  }

  private watchReaders(s: Source, stream: Stream): void {
    for (const off of s.offReaders) off();
    s.offReaders = [
      stream.on('reader-added', (info) => {
        if (isInternalReader(info)) return;
        if (s.lingerTimer) clearTimeout(s.lingerTimer);
        s.lingerTimer = null;
      }),
      stream.on('reader-removed', () => {
        if (s.config.onDemand && clientReaders(stream) === 0) this.linger(s);
      }),
      stream.on('end', () => {
        // Ended from outside (idle timeout, API kick): a wanted always-on source reconnects.
        if (s.stream === stream) s.stream = null;
      }),
    ];
  }

  private linger(s: Source): void {
    if (s.lingerTimer) return;
    s.lingerTimer = setTimeout(() => {
      s.lingerTimer = null;
      if (s.stream && clientReaders(s.stream) > 0) return;
      this.stop(s, `no reader for ${s.config.lingerMs} ms`);
    }, s.config.lingerMs);
    s.lingerTimer.unref();
  }

  private stop(s: Source, reason: string): void {
    s.wanted = false;
    if (s.retryTimer) clearTimeout(s.retryTimer);
    s.retryTimer = null;
    s.generation++;
    s.conn?.close(reason);
    s.conn = null;
    this.setState(s, 'idle');
    this.endStream(s, reason);
    if (s.resolved && this.sources.get(s.config.path) === s) this.sources.delete(s.config.path);
    this.log.info('source stopped', { path: s.config.path, reason });
  }

  private endStream(s: Source, reason: string): void {
    const stream = s.stream;
    s.stream = null;
    for (const off of s.offReaders) off();
    s.offReaders = [];
    // A stream another publisher has taken over is theirs now: it goes on.
    if (stream && !stream.isEnded) this.registry.unpublish(stream, reason, s.publisher ?? undefined);
    s.publisher = null;
  }

  close(): void {
    this.closed = true;
    for (const s of this.sources.values()) {
      if (s.lingerTimer) clearTimeout(s.lingerTimer);
      if (s.wanted || s.conn) this.stop(s, 'shutting down');
      for (const w of s.waiters.splice(0)) w();
    }
  }
}
