/**
 * Who may do what: the types of the one admission gate (`StreamRegistry.admit`). Every publish and
 * every read, on every protocol, and every API and metrics request, is an AccessRequest; the answer
 * is a grant or a typed refusal that each protocol turns into its own wire answer (RTMP `_error`,
 * SRT rejection 2401/2403/2404/2409, HTTP 401/403/404/409). How credentials are checked (users, JWT,
 * an HTTP hook, IP rules) is given to the registry by whoever builds the gateway: the core and the
 * protocols never know.
 */

export type AccessAction = 'publish' | 'read' | 'api' | 'metrics';

/** Credentials as the protocol carried them. */
export interface Credentials {
  user?: string;
  password?: string;
  /** A bearer token or a `?token=` value (a JWT, or an opaque token for a hook). */
  token?: string;
}

export interface AccessRequest extends Credentials {
  action: AccessAction;
  /** `rtmp`, `srt`, `webrtc`, `http-flv`, `ws-flv`, `hls`, `api`, `metrics`… */
  protocol: string;
  /** The stream path (normalized); empty for `api` and `metrics`. */
  path: string;
  /** The client's IP address. */
  ip: string;
  /** The session (or request) id, as logs and the API show it. */
  id: string;
  /** The query string the client sent, without `?` (empty when none). */
  query?: string;
  userAgent?: string;
}

/**
 * - `unauthorized`: no credentials, or invalid ones (RTMP `NetStream.Publish.Unauthorized`, SRT 2401, HTTP 401);
 * - `forbidden`: valid credentials that do not allow this (SRT 2403, HTTP 403);
 * - `not-found`: nothing to read at the path (SRT 2404, HTTP 404);
 * - `busy`: the path is being published by someone else (SRT 2409, HTTP 409);
 * - `unavailable`: the gateway cannot decide now (the cluster's Redis is unreachable: a new publish
 *   fails closed) — try again later (SRT 2503, HTTP 503).
 */
export type RefusalReason = 'unauthorized' | 'forbidden' | 'not-found' | 'busy' | 'unavailable';

/** What the checker of credentials answers. */
export type AccessVerdict =
  | {
      allow: true;
      /** Who was recognised (a user name, a JWT subject), null when the policy is open. */
      identity: string | null;
      /** ms since the epoch when the credentials stop being valid (a JWT's `exp`), or null. */
      expiresAt: number | null;
      /** The method that decided (`open`, `users`, `jwt`, `hook`). */
      method: string;
    }
  | { allow: false; reason: 'unauthorized' | 'forbidden'; message: string };

/** Checks credentials (given to the registry at start; see `auth/`). */
export interface AccessChecker {
  check(request: AccessRequest): Promise<AccessVerdict>;
}

/** Allowed: who, until when. */
export interface AccessGrant {
  readonly ok: true;
  readonly request: AccessRequest;
  readonly identity: string | null;
  readonly expiresAt: number | null;
  readonly method: string;
}

/** Refused, and why (the message is safe to show the client). */
export interface AccessRefusal {
  readonly ok: false;
  readonly reason: RefusalReason;
  readonly message: string;
  /** `busy` with a silent publisher: it may be taken over this much later. */
  readonly retryInMs?: number;
  /** Whether a client that retries later is slowed down (this IP failed its credentials repeatedly). */
  readonly throttled?: boolean;
}

export type AccessDecision = AccessGrant | AccessRefusal;

/** A checker that allows everything: the open default (the gateway warns at start). */
export const openAccess: AccessChecker = {
  check: () => Promise.resolve({ allow: true, identity: null, expiresAt: null, method: 'open' }),
};

/** HTTP status of a refusal, for every HTTP route. */
export function httpStatusOf(reason: RefusalReason): 401 | 403 | 404 | 409 | 503 {
  switch (reason) {
    case 'unauthorized':
      return 401;
    case 'forbidden':
      return 403;
    case 'not-found':
      return 404;
    case 'busy':
      return 409;
    case 'unavailable':
      return 503;
  }
}

const MAX_CREDENTIAL = 8192;

/** `token`, or `user` and `pass`, from a query (an RTMP stream key's, an SRT stream id's, a URL's). */
export function queryCredentials(q: URLSearchParams): Credentials {
  const out: Credentials = {};
  const token = q.get('token');
  const user = q.get('user');
  const pass = q.get('pass');
  if (token && token.length <= MAX_CREDENTIAL) out.token = token;
  if (user && user.length <= 256) out.user = user;
  if (pass && pass.length <= 1024) out.password = pass;
  return out;
}
