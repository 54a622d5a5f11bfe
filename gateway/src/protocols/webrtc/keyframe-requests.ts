/**
 * Keyframe requests to a publisher, at most one per interval: a request inside the interval is sent
 * when it ends (one for all that came meanwhile), never dropped — a dropped request after a loss
 * would leave the picture frozen until the encoder's next keyframe, which a browser never sends
 * unasked.
 */
export class KeyframeRequests {
  private last = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private pending: string | null = null;
  private closed = false;
  /** Requests sent. */
  sent = 0;

  constructor(
    private readonly intervalMs: number,
    /** Sends one request; returns false when it could not (nothing to send it to yet). */
    private readonly send: (reason: string) => boolean,
  ) {}

  request(reason: string): void {
    if (this.closed) return;
    const wait = this.last + this.intervalMs - performance.now();
    if (wait > 0) {
      this.pending ??= reason;
      this.timer ??= setTimeout(() => {
        this.timer = null;
        const pending = this.pending;
        this.pending = null;
        if (pending) this.request(pending);
      }, wait);
      return;
    }
    if (!this.send(reason)) return;
    this.last = performance.now();
    this.sent++;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
