/**
 * RTSP authentication as clients and cameras speak it (RFC 2326 §D.1 refers to HTTP's): Basic
 * (RFC 7617) and Digest (RFC 7616 with MD5 or SHA-256, with or without `qop=auth`). Both sides: the
 * server reads a client's `Authorization` and checks a Digest answer; the camera puller answers a
 * camera's `WWW-Authenticate`. Pure; header values are bounded by the RTSP reader's head limit.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type DigestAlgorithm = 'MD5' | 'SHA-256';

export type RtspCredentials =
  | { scheme: 'basic'; user: string; pass: string }
  | { scheme: 'digest'; user: string; realm: string; nonce: string; uri: string; response: string; algorithm: DigestAlgorithm; qop?: string; nc?: string; cnonce?: string };

/** `a=1, b="x, y"` → Map (names lower-case, quotes removed). */
export function parseAuthParams(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null && m[0].length > 0) out.set(m[1]!.toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!);
  return out;
}

function algorithmOf(value: string | undefined): DigestAlgorithm | null {
  const a = (value ?? 'MD5').toUpperCase();
  return a === 'MD5' ? 'MD5' : a === 'SHA-256' ? 'SHA-256' : null;
}

/** The credentials in an `Authorization` header value, or null when it is neither valid Basic nor Digest. */
export function parseAuthorization(header: string): RtspCredentials | null {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const rest = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme === 'basic') {
    const decoded = Buffer.from(rest, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0 ? null : { scheme: 'basic', user: decoded.slice(0, colon), pass: decoded.slice(colon + 1) };
  }
  if (scheme === 'digest') {
    const p = parseAuthParams(rest);
    const algorithm = algorithmOf(p.get('algorithm'));
    const [user, realm, nonce, uri, response] = ['username', 'realm', 'nonce', 'uri', 'response'].map((k) => p.get(k));
    if (!algorithm || user === undefined || realm === undefined || !nonce || !uri || !response) return null;
    return { scheme: 'digest', user, realm, nonce, uri, response: response.toLowerCase(), algorithm, qop: p.get('qop'), nc: p.get('nc'), cnonce: p.get('cnonce') };
  }
  return null;
}

function h(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm === 'MD5' ? 'md5' : 'sha256').update(text).digest('hex');
}

/** The Digest `response` for these inputs (RFC 7616 §3.4.1). */
export function digestResponse(o: { algorithm: DigestAlgorithm; user: string; realm: string; pass: string; method: string; uri: string; nonce: string; qop?: string; nc?: string; cnonce?: string }): string {
  const ha1 = h(o.algorithm, `${o.user}:${o.realm}:${o.pass}`);
  const ha2 = h(o.algorithm, `${o.method}:${o.uri}`);
  return o.qop ? h(o.algorithm, `${ha1}:${o.nonce}:${o.nc ?? ''}:${o.cnonce ?? ''}:${o.qop}:${ha2}`) : h(o.algorithm, `${ha1}:${o.nonce}:${ha2}`);
}

/** Whether a Digest answer was made with `pass` for `method` (the nonce's freshness is the caller's). */
export function verifyDigest(c: Extract<RtspCredentials, { scheme: 'digest' }>, method: string, pass: string): boolean {
  const expected = Buffer.from(digestResponse({ ...c, pass, method }));
  const got = Buffer.from(c.response);
  return expected.length === got.length && timingSafeEqual(expected, got);
}

/** A server's challenges: Digest (a fresh nonce) then Basic, as cameras and ffmpeg expect. */
export function challenges(realm: string, nonce: string): string[] {
  return [`Digest realm="${realm}", nonce="${nonce}", algorithm="MD5"`, `Basic realm="${realm}"`];
}

export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

/**
 * The `Authorization` value a client sends after a 401 with these `WWW-Authenticate` values: the
 * strongest Digest offered (SHA-256 over MD5), else Basic; null when none is usable.
 */
export function answerChallenge(wwwAuthenticate: string[], o: { user: string; pass: string; method: string; uri: string; nc?: number }): string | null {
  let best: { algorithm: DigestAlgorithm; params: Map<string, string> } | null = null;
  let basic = false;
  for (const value of wwwAuthenticate) {
    const space = value.indexOf(' ');
    const scheme = (space < 0 ? value : value.slice(0, space)).toLowerCase();
    if (scheme === 'basic') basic = true;
    if (scheme !== 'digest') continue;
    const params = parseAuthParams(value.slice(space + 1));
    const algorithm = algorithmOf(params.get('algorithm'));
    if (!algorithm || !params.get('nonce')) continue;
    if (!best || (algorithm === 'SHA-256' && best.algorithm === 'MD5')) best = { algorithm, params };
  }
  if (best) {
    const realm = best.params.get('realm') ?? '';
    const nonce = best.params.get('nonce')!;
    const qops = (best.params.get('qop') ?? '').split(',').map((q) => q.trim());
    const qop = qops.includes('auth') ? 'auth' : undefined;
    const nc = qop ? (o.nc ?? 1).toString(16).padStart(8, '0') : undefined;
    const cnonce = qop ? randomBytes(8).toString('hex') : undefined;
    const response = digestResponse({ algorithm: best.algorithm, user: o.user, realm, pass: o.pass, method: o.method, uri: o.uri, nonce, qop, nc, cnonce });
    const opaque = best.params.get('opaque');
    return (
      `Digest username="${o.user}", realm="${realm}", nonce="${nonce}", uri="${o.uri}", response="${response}"` +
      (best.algorithm === 'SHA-256' ? ', algorithm=SHA-256' : '') +
      (qop ? `, qop=${qop}, nc=${nc}, cnonce="${cnonce}"` : '') +
      (opaque !== undefined ? `, opaque="${opaque}"` : '')
    );
  }
  return basic ? `Basic ${Buffer.from(`${o.user}:${o.pass}`).toString('base64')}` : null;
}
