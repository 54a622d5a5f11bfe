/**
 * StreamRegistry.admit, the one admission gate: credentials first (a refused client learns nothing
 * about what is live), then not-found for reads and busy for publishes; repeated bad credentials from
 * one address slowed; a checker that throws refuses; with a checker, publish() needs a grant.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import type { AccessChecker, AccessRequest } from '../../../gateway/src/core/access.js';
import { silentLogger } from '../../../gateway/src/core/log.js';
import { StreamRegistry } from '../../../gateway/src/core/stream-registry.js';

let registry: StreamRegistry;
afterEach(() => registry?.closeAll('test over'));

const base = { allowTakeover: false, publisherIdleTimeoutMs: 60_000, maxBacklogBytes: 1 << 20, stuckTimeoutMs: 5000, gop: { maxBytes: 1 << 20, maxUnits: 100 } };
const tokenChecker: AccessChecker = {
  check: (r) => Promise.resolve(r.token === 'good' ? { allow: true, identity: 'u', expiresAt: null, method: 'test' } : { allow: false, reason: 'unauthorized', message: 'bad token' }),
};
const req = (over: Partial<AccessRequest>): AccessRequest => ({ action: 'read', protocol: 'test', path: 'live/a', ip: '10.0.0.1', id: 'r', ...over });

test('credentials first, then not-found and busy; the grant carries who', async () => {
  registry = new StreamRegistry({ ...base, access: tokenChecker }, silentLogger);
  assert.deepEqual(await registry.admit(req({})), { ok: false, reason: 'unauthorized', message: 'bad token' }, 'not live, but the client is told only that it is unauthorized');
  assert.equal((await registry.admit(req({ token: 'good' }))).ok === false && 'not-found', 'not-found');
  const grant = await registry.admit(req({ action: 'publish', token: 'good' }));
  assert.ok(grant.ok && grant.identity === 'u');
  assert.throws(() => registry.publish('live/a', { id: 'p0', protocol: 'test', remoteAddress: '', close: () => {} }), /not admitted/);
  assert.throws(() => registry.publish('live/b', { id: 'p0', protocol: 'test', remoteAddress: '', grant, close: () => {} }), /not admitted/, 'a grant for another path');
  registry.publish('live/a', { id: 'p1', protocol: 'test', remoteAddress: '', grant, close: () => {} });
  assert.equal((await registry.admit(req({ token: 'good' }))).ok, true);
  const busy = await registry.admit(req({ action: 'publish', token: 'good' }));
  assert.equal(busy.ok === false && busy.reason, 'busy');
});

test('bad credentials from one address past the free ones are answered slower; others are not slowed', async () => {
  registry = new StreamRegistry({ ...base, access: tokenChecker, failureThrottle: { freeFailures: 3, windowMs: 60_000, baseDelayMs: 100, maxDelayMs: 400 } }, silentLogger);
  const timed = async (r: AccessRequest): Promise<number> => {
    const t0 = performance.now();
    await registry.admit(r);
    return performance.now() - t0;
  };
  for (let i = 0; i < 3; i++) assert.ok((await timed(req({}))) < 50);
  const slowed = await registry.admit(req({}));
  assert.equal(slowed.ok === false && slowed.throttled, true);
  assert.ok((await timed(req({}))) >= 190, 'the fifth waits 200 ms');
  assert.ok((await timed(req({ ip: '10.0.0.2' }))) < 50, 'another address is not slowed');
  assert.ok((await timed(req({ token: 'good', action: 'publish' }))) < 50, 'good credentials are not slowed');
});

test('a checker that throws refuses (fails closed)', async () => {
  registry = new StreamRegistry({ ...base, access: { check: () => Promise.reject(new Error('boom')) } }, silentLogger);
  assert.deepEqual(await registry.admit(req({})), { ok: false, reason: 'unauthorized', message: 'the access check failed' });
});

test('endSessionsOnExpiry: a reader, then the publisher, are closed when their credentials expire', async () => {
  const expiring: AccessChecker = {
    check: (r) => Promise.resolve({ allow: true, identity: 'u', expiresAt: Date.now() + (r.action === 'read' ? 300 : 1300), method: 'test' }),
  };
  registry = new StreamRegistry({ ...base, access: expiring, endSessionsOnExpiry: true }, silentLogger);
  const pubGrant = await registry.admit(req({ action: 'publish' }));
  assert.ok(pubGrant.ok);
  let publisherClosed = '';
  const stream = registry.publish('live/a', { id: 'p', protocol: 'test', remoteAddress: '', grant: pubGrant, close: (reason) => (publisherClosed = reason) });
  const readGrant = await registry.admit(req({}));
  assert.ok(readGrant.ok);
  let dropped = '';
  stream.addReader({ id: 'r', protocol: 'test', remoteAddress: '', grant: readGrant }, { start: () => {}, unit: () => {}, trackUpdate: () => {}, metadata: () => {}, end: () => {}, backlog: () => 0, drop: (reason) => (dropped = reason) });
  const t0 = Date.now();
  while (!dropped && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 50));
  assert.equal(dropped, 'credentials expired');
  assert.equal(stream.readerCount, 0);
  assert.equal(publisherClosed, '', 'the publisher’s credentials are still valid');
  while (!publisherClosed && Date.now() - t0 < 4000) await new Promise((r) => setTimeout(r, 50));
  assert.equal(publisherClosed, 'credentials expired');
  assert.equal(registry.get('live/a'), undefined);
});
