/**
 * Repeated failed credentials from one address are slowed: past `freeFailures` in a window, each
 * refusal to that address is answered only after a delay that doubles with every further failure
 * (up to `maxDelayMs`). A client guessing passwords gets a few tries a second at most; a refused
 * client still costs no more than its refusal (a timer while its answer waits).
 */

export interface ThrottleOptions {
  windowMs: number;
  freeFailures: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

const MAX_ADDRESSES = 10_000;
export const DEFAULT_THROTTLE: ThrottleOptions = { windowMs: 60_000, freeFailures: 10, baseDelayMs: 250, maxDelayMs: 4000 };

export class FailureThrottle {
  private readonly failures = new Map<string, { since: number; count: number }>();

  constructor(
    private readonly options: ThrottleOptions = DEFAULT_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts a failure from `ip`; returns how long its refusal should wait (ms, 0 for none). */
  failed(ip: string): number {
    const now = this.now();
    let f = this.failures.get(ip);
    if (!f || now - f.since > this.options.windowMs) {
      if (this.failures.size >= MAX_ADDRESSES) this.prune(now);
      f = { since: now, count: 0 };
      this.failures.set(ip, f);
    }
    f.count++;
    const over = f.count - this.options.freeFailures;
    return over <= 0 ? 0 : Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** Math.min(over - 1, 16));
  }

  /** Failures from `ip` in the current window. */
  count(ip: string): number {
    const f = this.failures.get(ip);
    return f && this.now() - f.since <= this.options.windowMs ? f.count : 0;
  }

  private prune(now: number): void {
    for (const [ip, f] of this.failures) if (now - f.since > this.options.windowMs) this.failures.delete(ip);
    if (this.failures.size >= MAX_ADDRESSES) this.failures.clear();
  }
}
