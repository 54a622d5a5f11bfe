/**
 * How many WebRTC sessions livegate holds: each one is a peer connection with its own UDP socket
 * and some 140 KB, so offers that never complete ICE (a broken or hostile client) must not pile up
 * until descriptors run out for every other protocol. WHIP publishers and WHEP viewers count together:
 * - at most `maxSessions` at once (answered or being answered);
 * - at most `maxNegotiatingPerIp` from one client address that have not completed ICE yet;
 * - a session whose ICE has not completed within `iceTimeoutMs` is ended by its owner.
 * A refusal says when to try again (503 + Retry-After).
 */

export interface WebrtcSessionLimitOptions {
  maxSessions: number;
  maxNegotiatingPerIp: number;
}

export type SessionAdmission =
  | { ok: true; slot: SessionSlot }
  | { ok: false; reason: string; retryAfterSeconds: number };

/**
 * One admitted session's place: `hold()` when a session takes it (it then releases it as it closes),
 * `connected()` once ICE completes, `release()` when it ends (idempotent). A place nobody held is
 * given back by whoever admitted it.
 */
export interface SessionSlot {
  readonly held: boolean;
  hold(): SessionSlot;
  connected(): void;
  release(): void;
}

export class WebrtcSessionLimits {
  private sessions = 0;
  private readonly negotiating = new Map<string, number>();

  constructor(private readonly options: WebrtcSessionLimitOptions) {}

  get total(): number {
    return this.sessions;
  }

  /** Negotiating sessions from `ip` (for tests and the API). */
  negotiatingFrom(ip: string): number {
    return this.negotiating.get(ip) ?? 0;
  }

  admit(ip: string): SessionAdmission {
    if (this.sessions >= this.options.maxSessions) {
      return { ok: false, reason: `${this.options.maxSessions} WebRTC sessions already`, retryAfterSeconds: 5 };
    }
    const pending = this.negotiating.get(ip) ?? 0;
    if (pending >= this.options.maxNegotiatingPerIp) {
      return { ok: false, reason: `${pending} WebRTC sessions from ${ip} have not completed ICE yet`, retryAfterSeconds: 2 };
    }
    this.sessions++;
    this.negotiating.set(ip, pending + 1);
    let negotiating = true;
    let released = false;
    let held = false;
    const settle = (): void => {
      if (!negotiating) return;
      negotiating = false;
      const n = (this.negotiating.get(ip) ?? 1) - 1;
      if (n > 0) this.negotiating.set(ip, n);
      else this.negotiating.delete(ip);
    };
    const slot: SessionSlot = {
      get held() {
        return held;
      },
      hold: () => {
        held = true;
        return slot;
      },
      connected: settle,
      release: () => {
        if (released) return;
        released = true;
        settle();
        this.sessions--;
      },
    };
    return { ok: true, slot };
  }
}

/** The address part of `ip:port` or `[v6]:port` (the client, whatever port it sent from). */
export function clientIp(remote: string | undefined): string {
  if (!remote) return '';
  return remote.replace(/^::ffff:/, '');
}
