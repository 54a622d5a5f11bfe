/**
 * The player's ladder of protocols: tried in order; a rung that fails is remembered for the rest of
 * the session and the player climbs down to the next. Pure: no DOM, no timers.
 */
import type { LivegateError } from './errors.js';

/** A way to play: WebRTC (WHEP), WS-FLV (mpegts.js) or HLS (hls.js). */
export type PlaybackProtocol = 'webrtc' | 'flv' | 'hls';

export const DEFAULT_LADDER: readonly PlaybackProtocol[] = ['webrtc', 'flv', 'hls'];

/** What makes a rung fail for the session, as opposed to a condition worth waiting out on the same rung. */
export function failsRung(error: LivegateError): boolean {
  switch (error.code) {
    case 'not-live': // the stream comes back: wait on the same rung
    case 'network': // the server or the network blipped: every rung would fail alike
    case 'unavailable': // the server asks to come back later
    case 'unauthorized': // credentials fail on every rung alike
    case 'forbidden':
      return false;
    default:
      return true;
  }
}

export class Ladder {
  private readonly rungs: PlaybackProtocol[];
  private readonly failures = new Map<PlaybackProtocol, LivegateError>();

  constructor(rungs: readonly PlaybackProtocol[]) {
    this.rungs = [...new Set(rungs)];
    if (this.rungs.length === 0) throw new TypeError('the protocol ladder is empty');
  }

  get protocols(): readonly PlaybackProtocol[] {
    return this.rungs;
  }

  /** The first rung that has not failed, or null when every rung has. */
  current(): PlaybackProtocol | null {
    return this.rungs.find((r) => !this.failures.has(r)) ?? null;
  }

  /** Marks `rung` failed with `error`; returns the rung to try next (null: none left). */
  fail(rung: PlaybackProtocol, error: LivegateError): PlaybackProtocol | null {
    this.failures.set(rung, error);
    return this.current();
  }

  /** Why `rung` failed, if it did. */
  failure(rung: PlaybackProtocol): LivegateError | undefined {
    return this.failures.get(rung);
  }

  /** Forgets every failure (after every rung failed, the player starts the ladder over). */
  reset(): void {
    this.failures.clear();
  }
}
