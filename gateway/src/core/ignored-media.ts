/**
 * What an ingest throws away, told to the operator without flooding the log: the first unit of each
 * kind (video without its parameter sets, a codec livegate cannot carry …) is logged at once, then,
 * while the condition lasts, one line every `intervalMs` with how many more were dropped; when the
 * ingest says the condition is over, one line says so.
 */
import type { Logger } from './log.js';

export interface IgnoredMediaOptions {
  /** Period of the "still ignoring" lines (default 10 s). */
  intervalMs?: number;
  now?: () => number;
}

interface Condition {
  reason: string;
  /** Dropped since the last line about it. */
  count: number;
  total: number;
  lastLogAt: number;
}

/** Kinds tracked at once: a hostile source cannot grow the map (the reasons come from a fixed set). */
const MAX_KINDS = 64;

export class IgnoredMediaReport {
  private readonly conditions = new Map<string, Condition>();
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly log: Logger,
    options: IgnoredMediaOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 10_000;
    this.now = options.now ?? (() => performance.now());
  }

  /** One thing dropped, of condition `kind` (stable), because of `reason` (for the log). */
  ignored(reason: string, kind: string = reason): void {
    const now = this.now();
    const c = this.conditions.get(kind);
    if (!c) {
      if (this.conditions.size >= MAX_KINDS) return;
      this.conditions.set(kind, { reason, count: 0, total: 1, lastLogAt: now });
      this.log.warn('media ignored', { kind, reason });
      return;
    }
    c.count++;
    c.total++;
    c.reason = reason;
    if (now - c.lastLogAt >= this.intervalMs) {
      this.log.warn('media still ignored', { kind, reason, count: c.count, total: c.total, periodMs: Math.round(now - c.lastLogAt) });
      c.count = 0;
      c.lastLogAt = now;
    }
  }

  /** The condition `kind` is over. */
  usable(kind: string): void {
    const c = this.conditions.get(kind);
    if (!c) return;
    this.conditions.delete(kind);
    this.log.info('media usable again', { kind, ignored: c.total });
  }

  /** Units dropped so far for `kind` while it lasts (0 once it is over). */
  count(kind: string): number {
    return this.conditions.get(kind)?.total ?? 0;
  }
}
