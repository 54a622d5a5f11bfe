/**
 * Refusals logged without letting a client flood the log: a refused client often retries at once,
 * again and again (srt-live-transmit does; a broken WebRTC page may POST in a loop). The first
 * refusal per key (client address and why) is logged; repeats within `periodMs` are only counted,
 * and the next line logged for that key says how many were left out.
 */
import type { LogFields, Logger } from './log.js';

const MAX_KEYS = 1000;

export class RefusalLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly periodMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs `msg` at `level` unless `key` was logged within the period. */
  refused(key: string, msg: string, fields: LogFields, level: 'info' | 'warn' | 'error' = 'info'): void {
    const now = this.now();
    const last = this.last.get(key);
    if (last && now - last.at < this.periodMs) {
      last.suppressed++;
      return;
    }
    if (this.last.size >= MAX_KEYS) this.last.clear();
    this.last.set(key, { at: now, suppressed: 0 });
    this.log[level](msg, { ...fields, repeatsSuppressed: last?.suppressed || undefined });
  }
}
