/** The one error type of the SDK: a stable `code` to branch on, and the server's problem detail. */

/** Why something failed. Stable: pages may switch on these. */
export type LivegateErrorCode =
  /** The path has no publisher (yet): the player waits for it. */
  | 'not-live'
  /** No or invalid credentials (HTTP 401). */
  | 'unauthorized'
  /** Valid credentials that may not do this (HTTP 403). */
  | 'forbidden'
  /** The path is already being published (HTTP 409 from WHIP). */
  | 'busy'
  /** The server or the browser cannot carry the media (HTTP 422, no common codec). */
  | 'unsupported-codec'
  /** This browser has no WebRTC (RTCPeerConnection). */
  | 'no-webrtc'
  /** The protocol cannot be used here: the server does not serve it, or the browser lacks what it needs (MSE). */
  | 'unsupported'
  /** The server is at its limits (HTTP 503); retried after its Retry-After. */
  | 'unavailable'
  /** The server could not be reached, the connection dropped, or ICE/DTLS failed. */
  | 'network'
  /** Nothing came in time (first frame, ICE, the server's answer). */
  | 'timeout'
  /** The user or the browser refused the camera, microphone or screen. */
  | 'media-permission'
  /** The server refused the request as malformed (HTTP 400, 413). */
  | 'bad-request'
  /** The server failed (HTTP 5xx other than 503). */
  | 'server';

export interface LivegateErrorInit {
  /** HTTP status of the answer that caused it, when there was one. */
  status?: number;
  /** The server's explanation (the `detail` of its problem+json body, or its text). */
  detail?: string;
  /** Seconds the server asked to wait (Retry-After). */
  retryAfterSeconds?: number;
  cause?: unknown;
}

export class LivegateError extends Error {
  override readonly name = 'LivegateError';
  readonly status: number | undefined;
  readonly detail: string | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly code: LivegateErrorCode,
    message: string,
    init: LivegateErrorInit = {},
  ) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.detail = init.detail;
    this.retryAfterSeconds = init.retryAfterSeconds;
  }
}

/** What a request was, so that a status maps to the code that means something for it. */
export type RequestKind = 'whep' | 'whip' | 'flv' | 'hls' | 'api';

/** The code of an HTTP error answer (status ≥ 400) to a request of `kind`. */
export function codeForStatus(status: number, kind: RequestKind, isProblem: boolean): LivegateErrorCode {
  switch (status) {
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      // WHIP/WHEP answer every error of theirs as problem+json; a plain 404 means no such endpoint.
      if ((kind === 'whep' || kind === 'whip') && !isProblem) return 'unsupported';
      return kind === 'whip' ? 'bad-request' : 'not-live';
    case 409:
      return kind === 'whip' ? 'busy' : 'not-live';
    case 415:
    case 422:
      return 'unsupported-codec';
    case 503:
      return 'unavailable';
    case 400:
    case 413:
      return 'bad-request';
    default:
      return status >= 500 ? 'server' : 'bad-request';
  }
}

/** A LivegateError from an HTTP answer with status ≥ 400; reads its problem detail. */
export async function errorFromResponse(res: Response, kind: RequestKind): Promise<LivegateError> {
  const type = res.headers.get('Content-Type') ?? '';
  const isProblem = type.startsWith('application/problem+json');
  let detail: string | undefined;
  try {
    const text = (await res.text()).slice(0, 2000);
    if (isProblem) {
      const body = JSON.parse(text) as { detail?: unknown; title?: unknown };
      detail = typeof body.detail === 'string' ? body.detail : typeof body.title === 'string' ? body.title : undefined;
    } else {
      detail = text.trim() || undefined;
    }
  } catch {
    // No readable body: the status alone says it.
  }
  const retry = Number(res.headers.get('Retry-After'));
  const code = codeForStatus(res.status, kind, isProblem);
  const what = kind === 'api' ? 'API request' : kind === 'flv' || kind === 'hls' ? kind.toUpperCase() + ' request' : kind.toUpperCase() + ' POST';
  return new LivegateError(code, `${what} answered ${res.status}${detail ? `: ${detail}` : ''}`, {
    status: res.status,
    detail,
    retryAfterSeconds: Number.isFinite(retry) && retry > 0 ? retry : undefined,
  });
}

/** Any thrown value as a LivegateError (a TypeError from fetch is a network failure). */
export function asLivegateError(err: unknown, fallback: LivegateErrorCode = 'network'): LivegateError {
  if (err instanceof LivegateError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new LivegateError(fallback, message, { cause: err });
}
