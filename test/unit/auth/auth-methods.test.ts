/**
 * The auth methods one by one (no network but a local JWKS/hook server): internal users with plain,
 * sha256 and scrypt passwords, `any`, IP limits; IP rules; JWT (HS256, ES256 from a JWKS, expiry,
 * issuer, permissions claim); the hook (fields, 2xx/401/403, timeout, cache); and how
 * ConfiguredAccess chains them.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { ConfiguredAccess } from '../../../gateway/src/auth/access-checker.js';
import { HookAuth } from '../../../gateway/src/auth/hook.js';
import { IpRules } from '../../../gateway/src/auth/ip-rules.js';
import { JwtAuth, type JwtOptions } from '../../../gateway/src/auth/jwt.js';
import { hashPassword } from '../../../gateway/src/auth/password.js';
import { InternalUsers } from '../../../gateway/src/auth/users.js';
import type { AccessRequest } from '../../../gateway/src/core/access.js';
import { matchPath } from '../../../gateway/src/core/path.js';

const req = (over: Partial<AccessRequest>): AccessRequest => ({ action: 'read', protocol: 'test', path: 'live/a', ip: '127.0.0.1', id: 't1', ...over });
const SECRET = 'a-secret-of-at-least-16-bytes';
const hs256 = (claims: object, exp: string | number = '1h') => new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(exp).sign(new TextEncoder().encode(SECRET));
const jwtOptions = (over: Partial<JwtOptions> = {}): JwtOptions => ({ algorithms: ['HS256', 'ES256'], permissionsClaim: 'permissions', clockToleranceS: 0, jwksCooldownMs: 0, secret: SECRET, ...over });

test('path patterns: exact, * across segments, ~regex', () => {
  assert.ok(matchPath('live/a', 'live/a') && !matchPath('live/a', 'live/ab'));
  assert.ok(matchPath('live/*', 'live/a/b') && !matchPath('live/*', 'other/a'));
  assert.ok(matchPath('~^cam[0-9]+$', 'cam12') && !matchPath('~^cam[0-9]+$', 'cam1x'));
});

describe('internal users', () => {
  test('plain, sha256: and $scrypt$ passwords; a wrong one is unauthorized; an unknown user is not theirs to judge', async () => {
    const scrypt = await hashPassword('s3', 10);
    const users = new InternalUsers([
      { user: 'a', pass: 'p1', permissions: [{ action: 'read' }] },
      { user: 'b', pass: `sha256:${createHash('sha256').update('p2').digest('hex')}`, permissions: [{ action: 'publish', path: 'live/*' }] },
      { user: 'c', pass: scrypt, permissions: [{ action: 'read', path: 'live/c' }] },
    ]);
    assert.equal((await users.check(req({ user: 'a', password: 'p1' })))?.allow, true);
    assert.deepEqual(await users.check(req({ user: 'a', password: 'nope' })), { allow: false, reason: 'unauthorized', message: 'wrong user name or password' });
    assert.equal((await users.check(req({ action: 'publish', path: 'live/x', user: 'b', password: 'p2' })))?.allow, true);
    const other = await users.check(req({ action: 'publish', path: 'other/x', user: 'b', password: 'p2' }));
    assert.equal(other?.allow === false && other.reason, 'forbidden');
    assert.equal((await users.check(req({ path: 'live/c', user: 'c', password: 's3' })))?.allow, true);
    assert.equal((await users.check(req({ path: 'live/c', user: 'c', password: 's4' })))?.allow, false);
    assert.equal(await users.check(req({ user: 'zed', password: 'x' })), null);
    assert.equal(await users.check(req({})), null, 'no credentials and no `any` user: not theirs to judge');
  });

  test('`any` opens what it permits to everyone; a user bound to addresses is forbidden elsewhere', async () => {
    const users = new InternalUsers([
      { user: 'any', permissions: [{ action: 'read' }] },
      { user: 'cam', pass: 'x', ips: ['10.0.0.0/8'], permissions: [{ action: 'publish' }] },
    ]);
    assert.equal((await users.check(req({})))?.allow, true);
    assert.equal(await users.check(req({ action: 'publish' })), null);
    assert.equal((await users.check(req({ action: 'publish', user: 'cam', password: 'x', ip: '10.1.2.3' })))?.allow, true);
    assert.equal((await users.check(req({ action: 'publish', user: 'cam', password: 'x', ip: '::ffff:10.1.2.3' })))?.allow, true, 'an IPv4-mapped address');
    const elsewhere = await users.check(req({ action: 'publish', user: 'cam', password: 'x', ip: '192.168.1.1' }));
    assert.equal(elsewhere?.allow === false && elsewhere.reason, 'forbidden');
  });
});

test('IP rules: deny wins, an allow list admits only its addresses, per action', () => {
  const rules = new IpRules([
    { actions: ['publish'], allow: ['127.0.0.1', '10.0.0.0/8'] },
    { deny: ['10.6.6.0/24'] },
  ]);
  assert.equal(rules.refusal(req({ action: 'publish', ip: '10.1.1.1' })), null);
  assert.match(rules.refusal(req({ action: 'publish', ip: '10.6.6.6' })) ?? '', /may not publish/);
  assert.match(rules.refusal(req({ action: 'publish', ip: '192.168.0.1' })) ?? '', /may not publish/);
  assert.equal(rules.refusal(req({ action: 'read', ip: '192.168.0.1' })), null);
  assert.match(rules.refusal(req({ action: 'read', ip: '10.6.6.1' })) ?? '', /may not read/);
});

describe('JWT', () => {
  let jwks: Server;
  let jwksUrl: string;
  let keys: { kid: string; privateKey: CryptoKey; jwk: object }[] = [];
  let fetches = 0;
  const es256 = (kid: string, claims: object, exp: string | number = '1h') =>
    new SignJWT({ ...claims }).setProtectedHeader({ alg: 'ES256', kid }).setExpirationTime(exp).setIssuer('https://issuer.test').sign(keys.find((k) => k.kid === kid)!.privateKey);
  const addKey = async (kid: string) => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    keys.push({ kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } });
  };

  before(async () => {
    await addKey('k1');
    jwks = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
  });
  after(() => jwks.close());

  test('HS256: valid, expired, bad signature, another path (forbidden), no exp, not a JWT (not its to judge)', async () => {
    const jwt = new JwtAuth(jwtOptions());
    const ok = await jwt.check(req({ token: await hs256({ sub: 'viewer', permissions: [{ action: 'read', path: 'live/*' }] }) }));
    assert.deepEqual(ok && { allow: ok.allow, identity: ok.allow ? ok.identity : null }, { allow: true, identity: 'viewer' });
    assert.ok(ok?.allow && ok.expiresAt! > Date.now());
    const expired = await jwt.check(req({ token: await hs256({ permissions: [{ action: 'read' }] }, Math.floor(Date.now() / 1000) - 10) }));
    assert.deepEqual(expired, { allow: false, reason: 'unauthorized', message: 'invalid token: expired' });
    const forged = (await hs256({ permissions: [{ action: 'read' }] })).slice(0, -4) + 'AAAA';
    assert.equal((await jwt.check(req({ token: forged })))?.allow, false);
    const other = await jwt.check(req({ token: await hs256({ permissions: [{ action: 'read', path: 'live/b' }] }) }));
    assert.equal(other?.allow === false && other.reason, 'forbidden');
    const noExp = await new SignJWT({ permissions: [{ action: 'read' }] }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
    assert.equal((await jwt.check(req({ token: noExp })))?.allow, false, 'exp is required');
    assert.equal(await jwt.check(req({ token: 'opaque-token' })), null);
  });

  test('ES256 from a JWKS URL, issuer checked; a rotated key is fetched without a restart', async () => {
    const jwt = new JwtAuth(jwtOptions({ secret: undefined, jwksUrl, issuer: 'https://issuer.test' }) as JwtOptions);
    const claims = { permissions: [{ action: 'publish', path: 'live/a' }] };
    assert.equal((await jwt.check(req({ action: 'publish', token: await es256('k1', claims) })))?.allow, true);
    const before = fetches;
    await addKey('k2');
    assert.equal((await jwt.check(req({ action: 'publish', token: await es256('k2', claims) })))?.allow, true, 'the new key is used');
    assert.ok(fetches > before, 'the JWKS was fetched again');
    const wrongIssuer = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setExpirationTime('1h').setIssuer('https://evil.test').sign(keys[0]!.privateKey);
    assert.equal((await jwt.check(req({ action: 'publish', token: wrongIssuer })))?.allow, false);
  });
});

describe('HTTP hook', () => {
  let hook: Server;
  let url: string;
  let answer = 200;
  let delayMs = 0;
  const bodies: { [k: string]: string }[] = [];
  before(async () => {
    hook = createServer((r, res) => {
      let text = '';
      r.on('data', (d: Buffer) => (text += d.toString()));
      r.on('end', () => {
        bodies.push(JSON.parse(text) as { [k: string]: string });
        setTimeout(() => res.writeHead(answer).end(), delayMs);
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/auth`;
  });
  after(() => hook.close());

  test('the documented fields; 2xx allows, 401 unauthorized, 403 forbidden; a slow hook refuses; allow answers cached', async () => {
    const h = new HookAuth({ url, timeoutMs: 300, cacheSeconds: 0 });
    const r = req({ action: 'publish', protocol: 'rtmp', path: 'live/h', user: 'u', password: 'p', token: 't', id: 's1', query: 'token=t', userAgent: 'FMLE/3.0' });
    assert.equal((await h.check(r)).allow, true);
    assert.deepEqual(bodies.at(-1), { action: 'publish', protocol: 'rtmp', path: 'live/h', user: 'u', password: 'p', token: 't', ip: '127.0.0.1', id: 's1', query: 'token=t', userAgent: 'FMLE/3.0' });
    answer = 401;
    assert.deepEqual(await h.check(r), { allow: false, reason: 'unauthorized', message: 'refused by the auth hook' });
    answer = 403;
    const f = await h.check(r);
    assert.equal(f.allow === false && f.reason, 'forbidden');
    answer = 200;
    delayMs = 1000;
    const slow = await h.check(r);
    assert.equal(slow.allow, false, 'fails closed');
    assert.match(slow.allow ? '' : slow.message, /did not answer within 300 ms/);
    delayMs = 0;
    const cached = new HookAuth({ url, timeoutMs: 1000, cacheSeconds: 5 });
    const n = bodies.length;
    for (let i = 0; i < 5; i++) assert.equal((await cached.check({ ...r, id: `s${i}` })).allow, true);
    assert.equal(bodies.length, n + 1, 'asked once, then remembered');
  });
});

test('ConfiguredAccess: no method is open; methods are asked in order; nobody recognising the credentials is unauthorized', async () => {
  const open = new ConfiguredAccess({ methods: [], users: [], ipRules: [] });
  assert.equal(open.open, true);
  assert.equal((await open.check(req({})))?.allow, true);
  const access = new ConfiguredAccess({ methods: ['users', 'jwt'], users: [{ user: 'a', pass: 'p', permissions: [{ action: 'read' }] }], jwt: jwtOptions(), ipRules: [{ deny: ['10.0.0.0/8'] }] });
  assert.equal((await access.check(req({ user: 'a', password: 'p' }))).allow, true);
  assert.equal((await access.check(req({ token: await hs256({ permissions: [{ action: 'read' }] }) }))).allow, true);
  assert.deepEqual(await access.check(req({})), { allow: false, reason: 'unauthorized', message: 'credentials required' });
  assert.deepEqual(await access.check(req({ token: 'opaque' })), { allow: false, reason: 'unauthorized', message: 'credentials not accepted' });
  const denied = await access.check(req({ user: 'a', password: 'p', ip: '10.0.0.1' }));
  assert.equal(denied.allow === false && denied.reason, 'forbidden');
});
