import { openAccess, type AccessChecker, type AccessDecision, type AccessRequest, type AccessVerdict, type RefusalReason } from './access.js';
import { TypedEmitter } from './events.js';
import { describeError, StreamBusyError } from './errors.js';
import { FailureThrottle, type ThrottleOptions } from './failure-throttle.js';
import type { Logger } from './log.js';
import { RefusalLog } from './refusal-log.js';
import { Stream, type PublisherInfo, type StreamOptions } from './stream.js';

export { normalizePath } from './path.js';

export interface RegistryOptions extends StreamOptions {
  /** A second publisher on a live path replaces the first at once instead of being refused. */
  allowTakeover: boolean;
  /**
   * A publisher that has sent nothing for this long is replaced by a new publisher of its path
   * (an encoder that crashed and restarted, whose old session has not timed out yet). Default 1000.
   */
  takeoverAfterSilenceMs?: number;
  /** A publisher that sends nothing for this long is disconnected. */
  publisherIdleTimeoutMs: number;
  /** Checks the credentials of every publish, read, API and metrics request (see `admit`); open when absent. */
  access?: AccessChecker;
  /** How repeated bad credentials from one address are slowed (see FailureThrottle). */
  failureThrottle?: ThrottleOptions;
  /** Sessions whose credentials expire (a JWT's `exp`) are closed then, not only refused at admission. */
  endSessionsOnExpiry?: boolean;
}

export type RegistryEvents = {
  publish: Stream;
  unpublish: { stream: Stream; reason: string };
  /** A new publisher took a live stream over; its readers stay. */
  takeover: { stream: Stream; previous: PublisherInfo; reason: string };
  /** A request was refused at admission. */
  refused: { request: AccessRequest; reason: RefusalReason };
};

/**
 * Who else may own a path (a cluster: another node's publisher). Asked by the admission gate for
 * every publish that this process would accept; `claim` resolves once the path is this process's,
 * or with the refusal to give (`busy`: another node publishes it; `unavailable`: ownership cannot be
 * decided now, and a publish fails closed).
 */
export interface PathOwnership {
  claim(path: string): Promise<{ ok: true } | { ok: false; reason: 'busy' | 'unavailable'; message: string }>;
}

/** Whether a publisher may start on a path now. */
export type PublishCheck =
  | { ok: true; takeover: boolean }
  /**
   * Refused. `retryInMs`: the current publisher has been silent a while; if it stays silent this much
   * longer it can be taken over (a caller that can wait, or be asked to retry, should).
   */
  | { ok: false; reason: string; retryInMs?: number };

const TICK_MS = 1000;
const DEFAULT_TAKEOVER_AFTER_SILENCE_MS = 1000;

/** path → live Stream. The only place that decides who may publish where. */
export class StreamRegistry extends TypedEmitter<RegistryEvents> {
  private readonly streams = new Map<string, Stream>();
  private readonly timer: NodeJS.Timeout;
  private lastTick = performance.now();
  /** The stream whose previous publisher is being closed by a take-over. */
  private handingOver: Stream | null = null;
  private readonly failures: FailureThrottle;
  /** The credentials checker (options.access at start; replaced by a config reload). */
  private access: AccessChecker | undefined;
  private readonly refusals: RefusalLog;

  constructor(
    readonly options: RegistryOptions,
    private readonly log: Logger,
  ) {
    super();
    this.refusals = new RefusalLog(log);
    this.failures = new FailureThrottle(options.failureThrottle);
    this.access = options.access;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  get(path: string): Stream | undefined {
    return this.streams.get(path);
  }

  list(): Stream[] {
    return [...this.streams.values()];
  }

  private get takeoverAfterSilenceMs(): number {
    return this.options.takeoverAfterSilenceMs ?? DEFAULT_TAKEOVER_AFTER_SILENCE_MS;
  }

  /**
   * The one admission gate: every publish and every read, on every protocol, and every API and
   * metrics request, is asked here before anything else is done for it. Credentials are checked
   * first (so a refused client learns nothing about which paths are live), then what the action
   * needs: a read needs a live stream (`not-found`), a publish a free path (`busy`, with
   * `retryInMs` when the path's publisher has gone silent). Refusals are logged once per client and
   * reason per interval; repeated bad credentials from one address are answered slower and slower.
   */
  async admit(request: AccessRequest): Promise<AccessDecision> {
    let verdict: AccessVerdict;
    try {
      verdict = await (this.access ?? openAccess).check(request);
    } catch (err) {
      this.log.error('access check failed', { id: request.id, error: describeError(err) });
      verdict = { allow: false, reason: 'unauthorized', message: 'the access check failed' };
    }
    if (!verdict.allow) {
      const delayMs = verdict.reason === 'unauthorized' ? this.failures.failed(request.ip) : 0;
      const { action, protocol, path, ip, id } = request;
      this.refusals.refused(`${ip}|${verdict.reason}|${action}`, 'access refused', { action, protocol, path: path || undefined, ip, id, reason: verdict.reason, why: verdict.message, failures: this.failures.count(ip) || undefined }, 'warn');
      this.emit('refused', { request, reason: verdict.reason });
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      return { ok: false, reason: verdict.reason, message: verdict.message, ...(delayMs > 0 ? { throttled: true } : {}) };
    }
    if (request.action === 'read' && !this.streams.has(request.path)) {
      // A path with an on-demand pull source: the reader's arrival starts it (and waits for it).
      const starting = this.demand?.(request.path);
      if (starting) await starting;
    }
    if (request.action === 'read' && !this.streams.has(request.path)) {
      this.emit('refused', { request, reason: 'not-found' });
      return { ok: false, reason: 'not-found', message: `stream "${request.path}" is not live` };
    }
    if (request.action === 'publish') {
      const check = this.check(request.path);
      if (!check.ok) {
        this.emit('refused', { request, reason: 'busy' });
        return { ok: false, reason: 'busy', message: check.reason, ...(check.retryInMs !== undefined ? { retryInMs: check.retryInMs } : {}) };
      }
      const claimed = this.ownership ? await this.ownership.claim(request.path) : ({ ok: true } as const);
      if (!claimed.ok) {
        this.refusals.refused(`${request.path}|${claimed.reason}`, 'publish refused by the cluster', { path: request.path, protocol: request.protocol, ip: request.ip, id: request.id, reason: claimed.reason, why: claimed.message }, claimed.reason === 'unavailable' ? 'error' : 'warn');
        this.emit('refused', { request, reason: claimed.reason });
        return { ok: false, reason: claimed.reason, message: claimed.message };
      }
    }
    return { ok: true, request, identity: verdict.identity, expiresAt: verdict.expiresAt, method: verdict.method };
  }

  private ownership: PathOwnership | null = null;

  /** Who else may own paths (a cluster); without it, this process owns every path. */
  setOwnership(ownership: PathOwnership | null): void {
    this.ownership = ownership;
  }

  /** Who starts a path's stream when a reader asks for it and it is not live (pull sources on demand). */
  private demand: ((path: string) => Promise<void> | null) | null = null;

  setDemandHandler(handler: (path: string) => Promise<void> | null): void {
    this.demand = handler;
  }

  /** Replaces the credentials checker (a config reload): live sessions stay; new requests are checked by it. */
  setAccess(access: AccessChecker): void {
    this.access = access;
  }

  /** Whether `publish(path, …)` would succeed now, and whether it would take the path over. */
  check(path: string): PublishCheck {
    const existing = this.streams.get(path);
    if (!existing) return { ok: true, takeover: false };
    if (this.options.allowTakeover) return { ok: true, takeover: true };
    const limit = this.takeoverAfterSilenceMs;
    const silentMs = performance.now() - existing.lastActivity;
    if (silentMs >= limit) return { ok: true, takeover: true };
    const reason = `stream "${path}" is already being published`;
    // A publisher silent for a quarter of the limit is suspect (every live source sends far more often).
    return silentMs >= limit / 4 ? { ok: false, reason, retryInMs: Math.ceil(limit - silentMs) } : { ok: false, reason };
  }

  /**
   * Starts a stream at `path` for `publisher`. A live path whose publisher has been silent for
   * `takeoverAfterSilenceMs` (or any live path, with `allowTakeover`) is taken over: the previous
   * publisher is closed and the stream carries on with the new one, readers and all (`handOver`).
   * Otherwise throws StreamBusyError (with `retryInMs`, see `check`).
   */
  publish(path: string, publisher: PublisherInfo): Stream {
    // With an access checker, nothing publishes without having been admitted for that path.
    const grant = publisher.grant;
    if (this.access && (!grant || grant.request.action !== 'publish' || grant.request.path !== path)) {
      throw new Error(`publish to ${path} by ${publisher.id} was not admitted (StreamRegistry.admit)`);
    }
    const verdict = this.check(path);
    if (!verdict.ok) throw new StreamBusyError(path, verdict.retryInMs);
    const existing = this.streams.get(path);
    if (existing) return this.takeOver(existing, publisher);
    const stream = new Stream(path, publisher, this.options, this.log);
    this.streams.set(path, stream);
    this.emit('publish', stream);
    return stream;
  }

  private takeOver(stream: Stream, publisher: PublisherInfo): Stream {
    const previous = stream.publisher;
    const silentMs = Math.round(performance.now() - stream.lastActivity);
    const reason =
      silentMs >= this.takeoverAfterSilenceMs
        ? `silent for ${silentMs} ms, taken over by another publisher (${publisher.id})`
        : 'taken over by another publisher';
    this.log.warn('publisher taken over', { path: stream.path, old: previous.id, new: publisher.id, protocol: publisher.protocol, silentMs });
    // The previous session flushes what it holds and unpublishes as it closes: its media still
    // reaches the readers, its unpublish is ignored.
    this.handingOver = stream;
    try {
      previous.close(reason);
    } finally {
      this.handingOver = null;
    }
    stream.handOver(publisher);
    this.emit('takeover', { stream, previous, reason });
    return stream;
  }

  /**
   * Ends `stream` (readers get end-of-stream) and frees its path. Idempotent. An ingest session
   * passes itself as `publisher`: a session that was taken over no longer ends the stream.
   */
  unpublish(stream: Stream, reason: string, publisher?: PublisherInfo): void {
    if (this.handingOver === stream || (publisher && stream.publisher !== publisher)) return;
    if (this.streams.get(stream.path) === stream) this.streams.delete(stream.path);
    if (stream.isEnded) return;
    stream.end(reason);
    this.emit('unpublish', { stream, reason });
  }

  /** Ends every stream (shutdown). */
  closeAll(reason: string): void {
    for (const stream of [...this.streams.values()]) {
      stream.publisher.close(reason);
      this.unpublish(stream, reason);
    }
    clearInterval(this.timer);
  }

  private tick(): void {
    const now = performance.now();
    const interval = now - this.lastTick;
    this.lastTick = now;
    const expiring = this.options.endSessionsOnExpiry === true;
    const wallNow = Date.now();
    for (const stream of this.streams.values()) {
      if (expiring) {
        const until = stream.publisher.grant?.expiresAt;
        if (until !== undefined && until !== null && until <= wallNow) {
          this.log.info('publisher credentials expired, closing', { path: stream.path, id: stream.publisher.id });
          stream.publisher.close('credentials expired');
          this.unpublish(stream, 'publisher credentials expired');
          continue;
        }
        stream.closeExpiredReaders(wallNow);
      }
      stream.tick(interval);
      if (now - stream.lastActivity > this.options.publisherIdleTimeoutMs) {
        this.log.warn('publisher idle, closing', { path: stream.path, id: stream.publisher.id });
        stream.publisher.close(`idle for ${this.options.publisherIdleTimeoutMs} ms`);
        this.unpublish(stream, 'publisher idle timeout');
      }
    }
  }
}
