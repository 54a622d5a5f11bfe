/**
 * Requests held until what they ask for exists (blocking playlist reloads, preload hints, the first
 * segment): each waits on a check, run again whenever the muxer has something new, bounded in time
 * and in number. A crowd that becomes ready at once is answered `SLICE` per turn of the event loop, so
 * that ingest and every other session go on meanwhile; requests that arrive while a crowd is being
 * answered are looked at first in every turn, so a player that keeps up (it asks for the next part as
 * soon as it has one) is not queued behind a crowd that asked long before.
 */

interface Waiter {
  check(): boolean;
  done(ready: boolean): void;
  timer: NodeJS.Timeout;
}

/** Held requests at most (each is a socket and a timer); more are answered false at once. */
export const MAX_WAITERS = 20_000;
/** Held requests answered per turn of the event loop. */
const SLICE = 256;

export class ReadyWaiters {
  private readonly waiters = new Set<Waiter>();
  private waking = false;
  private rewake = false;
  /** Waiters added while a crowd is being answered: checked first in each slice. */
  private fresh: Waiter[] = [];
  private stopped = false;

  get size(): number {
    return this.waiters.size;
  }

  /** Resolves true once `check()` holds (at once if it does now), false after `timeoutMs`, past MAX_WAITERS, or at `stop()`. */
  whenReady(check: () => boolean, timeoutMs: number): Promise<boolean> {
    if (check()) return Promise.resolve(true);
    if (this.stopped || this.waiters.size >= MAX_WAITERS) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w: Waiter = { check, done: resolve, timer: setTimeout(() => this.finish(w, false), timeoutMs) };
      this.waiters.add(w);
      if (this.waking) this.fresh.push(w);
    });
  }

  /** Something new exists: answer the waiters whose check now holds. */
  wake(): void {
    if (this.waking) {
      // A crowd is being answered (a slice per turn, and a turn can be long when thousands of
      // connections arrive at once): the requests made since are answered now.
      this.rewake = true;
      this.answerFresh(0);
      return;
    }
    this.waking = true;
    this.slice([...this.waiters]);
  }

  /** Nothing more will come: every waiter is answered false. */
  stop(): void {
    this.stopped = true;
    for (const w of [...this.waiters]) this.finish(w, false);
  }

  /** Answers the fresh waiters that are ready (up to a slice in all); returns how many are answered in all. */
  private answerFresh(answered: number): number {
    if (this.fresh.length === 0) return answered;
    // Those not ready yet stay fresh: something new may come for them before the crowd is through.
    const keep: Waiter[] = [];
    for (const w of this.fresh) {
      if (!this.waiters.has(w)) continue;
      if (answered < SLICE && w.check()) {
        this.finish(w, true);
        answered++;
      } else {
        keep.push(w);
      }
    }
    this.fresh = keep;
    return answered;
  }

  private slice(list: Waiter[]): void {
    let answered = this.answerFresh(0);
    while (list.length > 0 && answered < SLICE) {
      const w = list.pop()!;
      if (this.waiters.has(w) && w.check()) {
        this.finish(w, true);
        answered++;
      }
    }
    if (list.length > 0) {
      setImmediate(() => this.slice(list));
      return;
    }
    this.waking = false;
    this.fresh = [];
    if (this.rewake) {
      // Something new came while this crowd was being answered: look again at everyone still waiting.
      this.rewake = false;
      this.wake();
    }
  }

  private finish(w: Waiter, ready: boolean): void {
    if (!this.waiters.delete(w)) return;
    clearTimeout(w.timer);
    w.done(ready);
  }
}
