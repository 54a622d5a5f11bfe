/** TURN REST credentials (coturn use-auth-secret) and Link headers. Vector made with
 * `printf '1700000000:livegate' | openssl dgst -sha1 -hmac north -binary | base64`. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { iceServersFor, linkHeader, turnRestCredentials } from '../../../gateway/src/nat/ice-servers.js';

test('TURN REST credentials match openssl', () => {
  assert.deepEqual(turnRestCredentials('north', 'livegate', 1700000000), { username: '1700000000:livegate', credential: 'rFnaa2SBskT82CXyCQARJBLNPtk=' });
});

test('servers for a client: static, secret-based (expiring), plain STUN; Link headers', () => {
  const servers = iceServersFor(
    [
      { urls: 'stun:stun.example.net' },
      { urls: 'turn:turn.example.net?transport=udp', username: 'u', credential: 'p"w' },
      { urls: 'turns:turn.example.net', secret: 'north', ttlSeconds: 600 },
    ],
    'livegate',
    1699999400,
  );
  assert.deepEqual(servers[0], { urls: 'stun:stun.example.net' });
  assert.deepEqual(servers[2], { urls: 'turns:turn.example.net', username: '1700000000:livegate', credential: 'rFnaa2SBskT82CXyCQARJBLNPtk=' });
  assert.equal(linkHeader(servers[0]!), '<stun:stun.example.net>; rel="ice-server"');
  assert.equal(linkHeader(servers[1]!), '<turn:turn.example.net?transport=udp>; rel="ice-server"; username="u"; credential="p\\"w"; credential-type="password"');
});
