/** Exponential backoff for reconnects: 0.5 s, 1 s, 2 s, … up to 10 s, unlimited by default. */

export interface BackoffOptions {
  /** First delay (ms). Default 500. */
  initialDelayMs?: number;
  /** Largest delay (ms). Default 10 000. */
  maxDelayMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Attempts before giving up; default Infinity (never). */
  maxAttempts?: number;
  /** Random spread of each delay, as a fraction (0.2 = ±20 %), so many clients do not retry in step. Default 0.2. */
  jitter?: number;
}

export class Backoff {
  private readonly initial: number;
  private readonly max: number;
  private readonly factor: number;
  private readonly maxAttempts: number;
  private readonly jitter: number;
  private attempts = 0;

  constructor(options: BackoffOptions = {}, private readonly random: () => number = Math.random) {
    this.initial = Math.max(0, options.initialDelayMs ?? 500);
    this.max = Math.max(this.initial, options.maxDelayMs ?? 10_000);
    this.factor = Math.max(1, options.factor ?? 2);
    this.maxAttempts = options.maxAttempts ?? Infinity;
    this.jitter = Math.min(1, Math.max(0, options.jitter ?? 0.2));
  }

  /** Attempts made since the last reset. */
  get attempt(): number {
    return this.attempts;
  }

  /** True once maxAttempts delays have been handed out. */
  get exhausted(): boolean {
    return this.attempts >= this.maxAttempts;
  }

  /**
   * The delay before the next attempt (ms), or null when the attempts are used up. `atLeastMs`
   * (a server's Retry-After) raises it.
   */
  next(atLeastMs = 0): number | null {
    if (this.exhausted) return null;
    const base = Math.min(this.max, this.initial * this.factor ** this.attempts);
    this.attempts++;
    const spread = base * this.jitter * (this.random() * 2 - 1);
    return Math.round(Math.max(atLeastMs, Math.min(this.max, base + spread)));
  }

  /** Back to the first delay: call once a connection has worked. */
  reset(): void {
    this.attempts = 0;
  }
}
