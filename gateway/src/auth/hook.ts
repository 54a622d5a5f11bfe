/**
 * An HTTP hook decides: every request is POSTed as JSON
 * `{ action, protocol, path, user, password, token, ip, id, query, userAgent }` to the configured URL;
 * a 2xx answer allows, 401 refuses as unauthorized, anything else (and no answer within the timeout)
 * as forbidden — it fails closed. Allow answers can be remembered for a few seconds (a player that
 * reconnects, an HLS client's requests), keyed by everything but the session id.
 */
import type { AccessRequest, AccessVerdict } from '../core/access.js';
import { allow, forbidden, unauthorized, type AuthMethod } from './method.js';

export interface HookOptions {
  url: string;
  timeoutMs: number;
  /** Seconds an allow answer is remembered (0: never). */
  cacheSeconds: number;
}

const MAX_CACHED = 10_000;

export class HookAuth implements AuthMethod {
  readonly name = 'hook';
  private readonly cache = new Map<string, number>();
  /** Requests in flight, by cache key: a crowd with the same credentials asks the hook once. */
  private readonly inFlight = new Map<string, Promise<AccessVerdict>>();

  constructor(private readonly options: HookOptions) {}

  check(req: AccessRequest): Promise<AccessVerdict> {
    const body = {
      action: req.action,
      protocol: req.protocol,
      path: req.path,
      user: req.user ?? '',
      password: req.password ?? '',
      token: req.token ?? '',
      ip: req.ip,
      id: req.id,
      query: req.query ?? '',
      userAgent: req.userAgent ?? '',
    };
    const key = JSON.stringify({ ...body, id: '' });
    if (this.options.cacheSeconds > 0) {
      const until = this.cache.get(key);
      if (until !== undefined && until > Date.now()) return Promise.resolve(allow(this.name, req.user ?? null));
    }
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const asking = this.ask(body, key).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, asking);
    return asking;
  }

  private async ask(body: object, key: string): Promise<AccessVerdict> {
    let status: number;
    try {
      const res = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs),
        redirect: 'error',
      });
      status = res.status;
      await res.body?.cancel().catch(() => {});
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      return forbidden(timedOut ? `the auth hook did not answer within ${this.options.timeoutMs} ms` : 'the auth hook could not be reached');
    }
    if (status >= 200 && status < 300) {
      if (this.options.cacheSeconds > 0) {
        if (this.cache.size >= MAX_CACHED) this.cache.clear();
        this.cache.set(key, Date.now() + this.options.cacheSeconds * 1000);
      }
      const user = (body as { user: string }).user;
      return allow(this.name, user || null);
    }
    return status === 401 ? unauthorized('refused by the auth hook') : forbidden(`refused by the auth hook (${status})`);
  }
}
