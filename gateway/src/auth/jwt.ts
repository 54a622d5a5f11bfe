/**
 * JWT bearer tokens (jose): HS256 with a shared secret, RS256/ES256 with a public key from the
 * config, or keys from a JWKS URL (fetched on first use, and again when a token names a key id it
 * does not have: a rotated key is picked up without a restart). Issuer and audience are checked when
 * configured, `exp` always; what the token allows is its permissions claim (`[{ action, path }]`).
 * A token that is not a JWT is not this method's to judge (a hook may know it).
 */
import { createLocalJWKSet, createRemoteJWKSet, errors, importSPKI, jwtVerify, type CryptoKey, type JSONWebKeySet, type JWTVerifyGetKey, type JWTVerifyOptions, type KeyObject } from 'jose';
import type { AccessRequest, AccessVerdict } from '../core/access.js';
import { allow, forbidden, unauthorized, type AuthMethod } from './method.js';
import { permissionsFrom, permits } from './permissions.js';

export interface JwtOptions {
  /** HS256 shared secret. */
  secret?: string;
  /** PEM (SPKI) public key for RS256 or ES256. */
  publicKey?: string;
  /** A JWKS document's URL. */
  jwksUrl?: string;
  /** Inline JWKS (`{ keys: [...] }`). */
  jwks?: JSONWebKeySet;
  algorithms: ('HS256' | 'RS256' | 'ES256')[];
  issuer?: string;
  audience?: string;
  /** The claim holding `[{ action, path }]`. */
  permissionsClaim: string;
  /** Seconds of clock skew tolerated on `exp`/`nbf`. */
  clockToleranceS: number;
  /** Least time between two fetches of the JWKS (a token with an unknown key id fetches it again). */
  jwksCooldownMs: number;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/;
const MAX_TOKEN = 8192;
/**
 * Tokens whose signature was checked are remembered (at most this long, and never past their `exp`):
 * an HLS player sends its token with every request, five a second, and a signature check costs
 * 80–140 µs where a lookup costs one.
 */
const REMEMBER_MS = 60_000;
const MAX_REMEMBERED = 10_000;

type Payload = { [claim: string]: unknown; exp?: number; sub?: string };

export class JwtAuth implements AuthMethod {
  readonly name = 'jwt';
  private key: Promise<Uint8Array | KeyObject | CryptoKey> | JWTVerifyGetKey | null = null;
  private readonly verifyOptions: JWTVerifyOptions;
  private readonly verified = new Map<string, { payload: Payload; until: number }>();

  constructor(private readonly options: JwtOptions) {
    this.verifyOptions = {
      algorithms: options.algorithms,
      clockTolerance: options.clockToleranceS,
      ...(options.issuer ? { issuer: options.issuer } : {}),
      ...(options.audience ? { audience: options.audience } : {}),
      requiredClaims: ['exp'],
    };
    if (options.jwksUrl) {
      this.key = createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: options.jwksCooldownMs, cacheMaxAge: 10 * 60_000, timeoutDuration: 5000 });
    } else if (options.jwks) {
      this.key = createLocalJWKSet(options.jwks);
    } else if (options.publicKey) {
      const alg = options.algorithms.find((a) => a !== 'HS256') ?? 'RS256';
      this.key = importSPKI(options.publicKey, alg);
    } else if (options.secret) {
      this.key = Promise.resolve(new TextEncoder().encode(options.secret));
    }
  }

  async check(req: AccessRequest): Promise<AccessVerdict | null> {
    const token = req.token ?? (req.user === undefined && req.password !== undefined ? req.password : undefined);
    if (!token || token.length > MAX_TOKEN || !JWT_SHAPE.test(token) || !this.key) return null;
    let payload: Payload;
    const now = Date.now();
    const known = this.verified.get(token);
    if (known && known.until > now) {
      payload = known.payload;
    } else {
      try {
        const key = this.key;
        payload = (typeof key === 'function' ? await jwtVerify(token, key, this.verifyOptions) : await jwtVerify(token, await key, this.verifyOptions)).payload;
      } catch (err) {
        return unauthorized(`invalid token: ${reasonOf(err)}`);
      }
      if (this.verified.size >= MAX_REMEMBERED) this.verified.clear();
      this.verified.set(token, { payload, until: Math.min(now + REMEMBER_MS, typeof payload.exp === 'number' ? payload.exp * 1000 : now) });
    }
    const permissions = permissionsFrom(payload[this.options.permissionsClaim]);
    const who = typeof payload.sub === 'string' ? payload.sub : null;
    if (!permits(permissions, req.action, req.path)) return forbidden(`the token does not allow ${req.action}${req.path ? ` ${req.path}` : ''}`);
    return allow(this.name, who, typeof payload.exp === 'number' ? payload.exp * 1000 : null);
  }
}

function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim} ${err.reason}`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'bad signature';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no key matches';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof errors.JWKSTimeout) return 'the key set did not answer in time';
  if (err instanceof Error) return err.message.slice(0, 200);
  return 'unreadable';
}
