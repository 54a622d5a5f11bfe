/** One way of checking credentials (internal users, JWT, an HTTP hook). */
import type { AccessRequest, AccessVerdict } from '../core/access.js';

export interface AuthMethod {
  readonly name: string;
  /** A verdict, or null when these credentials are not this method's to judge (the next method is asked). */
  check(request: AccessRequest): Promise<AccessVerdict | null>;
  close?(): void;
}

export const allow = (method: string, identity: string | null, expiresAt: number | null = null): AccessVerdict => ({ allow: true, identity, expiresAt, method });
export const unauthorized = (message: string): AccessVerdict => ({ allow: false, reason: 'unauthorized', message });
export const forbidden = (message: string): AccessVerdict => ({ allow: false, reason: 'forbidden', message });
