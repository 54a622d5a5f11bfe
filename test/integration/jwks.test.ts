/**
 * Acceptance (issue 13): JWT keys from a JWKS URL (a local server), rotated while the gateway runs —
 * a token signed by the new key is accepted without a restart, one signed by the retired key is
 * refused once the set no longer has it.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { publishKnown } from '../helpers/h264-source.js';
import { waitFor } from '../helpers/wait.js';

describe('JWKS key rotation', { concurrency: false }, () => {
  let jwks: Server;
  let gw: TestGateway;
  let stop: () => void;
  const keys = new Map<string, { privateKey: CryptoKey; jwk: object }>();
  let served: string[] = [];
  const sign = (kid: string, permissions: object[]) =>
    new SignJWT({ permissions, jti: String(Math.random()) }).setProtectedHeader({ alg: 'ES256', kid }).setExpirationTime('10m').sign(keys.get(kid)!.privateKey);
  const addKey = async (kid: string) => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    keys.set(kid, { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } });
  };

  before(async () => {
    await addKey('2026-a');
    served = ['2026-a'];
    jwks = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys: served.map((k) => keys.get(k)!.jwk) })));
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    gw = await startGateway({ auth: { methods: ['jwt'], jwt: { jwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`, algorithms: ['ES256'], jwksCooldownMs: 0 } } });
    const pub = await publishKnown(`${gw.rtmpUrl('live/k')}?token=${await sign('2026-a', [{ action: 'publish' }])}`, 20);
    stop = () => pub.client.close();
    await waitFor(() => gw.gateway.registry.get('live/k'), 5000, 'published with a key from the JWKS');
  });
  after(async () => {
    stop?.();
    await gw?.close();
    jwks?.close();
  });

  test('a rotated key is picked up without a restart; the retired one stops working', async () => {
    const status = async (token: string) => (await fetch(gw.httpUrl(`live/k.flv?token=${token}`), { method: 'HEAD' })).status;
    const read = [{ action: 'read', path: 'live/k' }];
    assert.equal(await status(await sign('2026-a', read)), 200);
    await addKey('2026-b');
    served = ['2026-b'];
    assert.equal(await status(await sign('2026-b', read)), 200, 'the new key, fetched when a token names it');
    assert.equal(await status(await sign('2026-a', read)), 401, 'the retired key, once the set no longer has it');
  });
});
