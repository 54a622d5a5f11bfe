/**
 * Who may connect, and as what: the decisions the SRT listener takes on a CONCLUSION before it
 * builds a connection — stream id, path, mode, the access policy, the passphrase and the stream's
 * state — each refusal with the SRT rejection code a libsrt caller understands. No sockets.
 */
import type { StreamRegistry } from '../../core/stream-registry.js';
import { matchPath, normalizePath } from '../../core/path.js';
import { decodeKeyMaterial, type KeyMaterial } from './crypto.js';
import type { Handshake } from './handshake.js';
import { AccessReject, MIN_PEER_VERSION, RejectReason } from './listener-handshake.js';
import { parseStreamId, type SrtMode, type StreamIdRequest } from './stream-id.js';

export interface SrtPassphraseRule {
  /** Path pattern: exact, or with `*` matching any characters (e.g. `live/*`). */
  path: string;
  publish?: string;
  read?: string;
}

/** What an access policy (the authentication layer, later) is asked about each caller. */
export interface SrtAccessRequest extends StreamIdRequest {
  mode: SrtMode;
  remoteAddress: string;
  streamId: string;
}
/** null allows; otherwise the SRT access-control code (AccessReject) and why. */
export type SrtAccessDecision = null | { code: number; reason: string };
export type SrtAccessPolicy = (request: SrtAccessRequest) => SrtAccessDecision;

export interface AdmissionContext {
  registry: StreamRegistry;
  passphrases: readonly SrtPassphraseRule[];
  access: SrtAccessPolicy | null;
  connections: number;
  maxConnections: number;
  remoteAddress: string;
}

export type Admission =
  | { ok: true; request: SrtAccessRequest; passphrase: string | null; km: KeyMaterial | null }
  /**
   * Refused. `retryInMs`: the path's publisher is silent and may be taken over that much later;
   * the listener leaves the caller unanswered (it repeats its handshake every 250 ms) instead.
   */
  | { ok: false; code: number; reason: string; retryInMs?: number };

export function admit(hs: Handshake, ctx: AdmissionContext): Admission {
  const no = (code: number, reason: string): Admission => ({ ok: false, code, reason });
  if (hs.version !== 5 || !hs.hsReq) return no(RejectReason.Rogue, 'not an SRT v5 handshake (HSREQ missing)');
  if (hs.hsReq.version < MIN_PEER_VERSION) return no(RejectReason.Version, `peer SRT version ${hs.hsReq.version.toString(16)} is older than 1.3`);
  if (ctx.connections >= ctx.maxConnections) return no(AccessReject.Overload, `${ctx.maxConnections} connections already`);
  const parsed = parseStreamId(hs.streamId ?? '');
  if (!parsed.ok) return no(parsed.badMode ? AccessReject.BadMode : AccessReject.BadRequest, parsed.reason);
  const path = normalizePath(parsed.request.path);
  if (!path) return no(AccessReject.BadRequest, `invalid stream path "${parsed.request.path}"`);
  const live = ctx.registry.get(path);
  // A bare path: publish to a path nobody publishes, read one that is live.
  const mode: SrtMode = parsed.request.mode ?? (live ? 'read' : 'publish');
  const request: SrtAccessRequest = { ...parsed.request, path, mode, remoteAddress: ctx.remoteAddress, streamId: hs.streamId ?? '' };
  const denied = ctx.access?.(request);
  if (denied) return no(denied.code, denied.reason);

  const passphrase = passphraseFor(ctx.passphrases, path, mode);
  let km: KeyMaterial | null = null;
  if (passphrase !== null) {
    if (!hs.kmReq) return no(RejectReason.Unsecure, `a passphrase is required to ${mode} ${path}`);
    // PBKDF2 runs only here, after the SYN cookie was checked: a flood cannot make us derive keys.
    const r = decodeKeyMaterial(hs.kmReq, passphrase);
    if (!r.ok) return no(r.reason === 'bad-secret' ? RejectReason.BadSecret : RejectReason.Crypto, r.message);
    km = r.km;
  } else if (hs.kmReq) {
    // libsrt's enforced encryption refuses this too.
    return no(RejectReason.Unsecure, `${path} is not encrypted for ${mode}, but the caller set a passphrase`);
  }

  if (mode === 'read' && !live) return no(AccessReject.NotFound, `stream "${path}" is not live`);
  if (mode === 'publish') {
    const verdict = ctx.registry.check(path);
    if (!verdict.ok) return { ok: false, code: AccessReject.Conflict, reason: verdict.reason, retryInMs: verdict.retryInMs };
  }
  return { ok: true, request, passphrase, km };
}

function passphraseFor(rules: readonly SrtPassphraseRule[], path: string, mode: SrtMode): string | null {
  for (const rule of rules) {
    if (!matchPath(rule.path, path)) continue;
    const p = mode === 'publish' ? rule.publish : rule.read;
    if (p !== undefined) return p;
  }
  return null;
}

export { matchPath };
