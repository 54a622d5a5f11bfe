/**
 * `npm run bench:auth`: what the admission gate costs per request, for each method (µs of wall time
 * per `StreamRegistry.admit`, one at a time on an idle loop: the CPU it takes), and a connect storm —
 * 1,000 HTTP-FLV readers with a JWT connecting within 2 s to one live stream (in another process):
 * the time until every one has its first bytes.
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { ConfiguredAccess, type AuthOptions } from '../gateway/src/auth/access-checker.js';
import { hashPassword } from '../gateway/src/auth/password.js';
import type { AccessRequest } from '../gateway/src/core/access.js';
import { silentLogger } from '../gateway/src/core/log.js';
import { StreamRegistry } from '../gateway/src/core/stream-registry.js';
import { startGateway } from '../test/helpers/gateway.js';
import { publishKnown } from '../test/helpers/h264-source.js';

const SECRET = 'bench-secret-0123456789abcdef';
const N = Number(process.env.BENCH_AUTH_N ?? 20_000);
const STORM = Number(process.env.BENCH_STORM_N ?? 1000);

async function perRequest(name: string, options: AuthOptions, request: AccessRequest, n = N): Promise<{ method: string; usPerAdmit: number }> {
  const registry = new StreamRegistry({ allowTakeover: false, publisherIdleTimeoutMs: 60_000, maxBacklogBytes: 1 << 20, stuckTimeoutMs: 5000, gop: { maxBytes: 1 << 20, maxUnits: 100 }, access: new ConfiguredAccess(options) }, silentLogger);
  for (let i = 0; i < Math.min(200, n); i++) await registry.admit({ ...request, action: 'publish', path: 'live/warm' });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const d = await registry.admit({ ...request, action: 'publish', path: 'live/bench', id: `r${i}` });
    if (!d.ok) throw new Error(`${name}: refused (${d.message})`);
  }
  const us = ((performance.now() - t0) * 1000) / n;
  registry.closeAll('bench over');
  return { method: name, usPerAdmit: Math.round(us * 10) / 10 };
}

/** Admissions each with its own token (none seen before). */
async function fresh(name: string, options: AuthOptions, request: AccessRequest, tokens: string[]): Promise<{ method: string; usPerAdmit: number }> {
  const registry = new StreamRegistry({ allowTakeover: false, publisherIdleTimeoutMs: 60_000, maxBacklogBytes: 1 << 20, stuckTimeoutMs: 5000, gop: { maxBytes: 1 << 20, maxUnits: 100 }, access: new ConfiguredAccess(options) }, silentLogger);
  await registry.admit({ ...request, token: tokens[0]! });
  const t0 = performance.now();
  for (const token of tokens.slice(1)) {
    const d = await registry.admit({ ...request, path: 'live/bench', token });
    if (!d.ok) throw new Error(`${name}: refused (${d.message})`);
  }
  const us = ((performance.now() - t0) * 1000) / (tokens.length - 1);
  registry.closeAll('bench over');
  return { method: name, usPerAdmit: Math.round(us * 10) / 10 };
}

async function main(): Promise<void> {
  const base: AccessRequest = { action: 'publish', protocol: 'bench', path: '', ip: '127.0.0.1', id: 'x', query: '', userAgent: '' };
  const perms = [{ action: 'publish' as const }, { action: 'read' as const }];
  const results = [];
  results.push(await perRequest('open (no method)', { methods: [], users: [], ipRules: [] }, base));
  results.push(await perRequest('users, plain password', { methods: ['users'], users: [{ user: 'u', pass: 'p', permissions: perms }], ipRules: [] }, { ...base, user: 'u', password: 'p' }));
  results.push(await perRequest('users, scrypt (remembered after the first check)', { methods: ['users'], users: [{ user: 'u', pass: await hashPassword('p'), permissions: perms }], ipRules: [] }, { ...base, user: 'u', password: 'p' }));
  const hsToken = await new SignJWT({ permissions: perms }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
  results.push(await perRequest('JWT HS256 (the same token again: remembered)', { methods: ['jwt'], users: [], ipRules: [], jwt: { secret: SECRET, algorithms: ['HS256'], permissionsClaim: 'permissions', clockToleranceS: 5, jwksCooldownMs: 5000 } }, { ...base, token: hsToken }));
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' };
  const esToken = await new SignJWT({ permissions: perms }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setExpirationTime('1h').sign(privateKey);
  results.push(await perRequest('JWT ES256 (the same token again: remembered)', { methods: ['jwt'], users: [], ipRules: [], jwt: { jwks: { keys: [jwk] }, algorithms: ['ES256'], permissionsClaim: 'permissions', clockToleranceS: 5, jwksCooldownMs: 5000 } }, { ...base, token: esToken }));
  const hook = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200).end());
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/auth`;
  results.push(await perRequest('hook, answers cached 10 s', { methods: ['hook'], users: [], ipRules: [], hook: { url: hookUrl, timeoutMs: 2000, cacheSeconds: 10 } }, { ...base, token: 't' }));
  results.push(await perRequest('hook, every request asked (local server)', { methods: ['hook'], users: [], ipRules: [], hook: { url: hookUrl, timeoutMs: 2000, cacheSeconds: 0 } }, { ...base, token: 't' }, 2000));
  // Every request with a token not seen before: the signature is checked each time.
  const many = await Promise.all(Array.from({ length: 2000 }, (_, i) => new SignJWT({ permissions: perms, n: i }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setExpirationTime('1h').sign(privateKey)));
  const manyHs = await Promise.all(Array.from({ length: 2000 }, (_, i) => new SignJWT({ permissions: perms, n: i }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))));
  results.push(await fresh('JWT HS256, a new token each time', { methods: ['jwt'], users: [], ipRules: [], jwt: { secret: SECRET, algorithms: ['HS256'], permissionsClaim: 'permissions', clockToleranceS: 5, jwksCooldownMs: 5000 } }, base, manyHs));
  results.push(await fresh('JWT ES256, a new token each time', { methods: ['jwt'], users: [], ipRules: [], jwt: { jwks: { keys: [jwk] }, algorithms: ['ES256'], permissionsClaim: 'permissions', clockToleranceS: 5, jwksCooldownMs: 5000 } }, base, many));
  hook.close();
  console.log(JSON.stringify({ admission: results }));

  // The connect storm: 1,000 HTTP-FLV readers with a JWT, within 2 s.
  const gw = await startGateway({ logLevel: 'warn', auth: { methods: ['jwt'], jwt: { secret: SECRET, algorithms: ['HS256'] }, failures: { freeFailures: 100_000 } } });
  const pub = await publishKnown(`${gw.rtmpUrl('live/storm')}?token=${hsToken}`, 100);
  const readToken = await new SignJWT({ permissions: [{ action: 'read', path: 'live/storm' }] }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
  await new Promise((r) => setTimeout(r, 1500));
  const child = fork(new URL('./storm-readers.ts', import.meta.url).pathname, [gw.httpUrl(`live/storm.flv?token=${readToken}`), String(STORM), '2000'], { execArgv: ['--import', 'tsx'] });
  const storm = await new Promise<unknown>((resolve) => child.once('message', resolve));
  console.log(JSON.stringify({ connectStorm: storm }));
  child.kill();
  pub.client.close();
  await gw.close();
  console.log('\nmethod                                              µs per admission');
  for (const r of results) console.log(`${r.method.padEnd(52)}${String(r.usPerAdmit).padStart(8)}`);
  const s = storm as { readers: number; allPlayingMs: number; p50Ms: number; p99Ms: number; failed: number };
  console.log(`\nconnect storm: ${s.readers} HTTP-FLV readers with a JWT within 2 s: all had media ${s.allPlayingMs} ms after the first connect (first bytes p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms after each one's request), ${s.failed} failed`);
}

void main();
