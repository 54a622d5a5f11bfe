import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerChallenge, challenges, digestResponse, parseAuthorization, parseAuthParams, verifyDigest } from '../../../../gateway/src/protocols/rtsp/rtsp-auth.js';

test('Digest responses: RFC 2617 §3.5 (MD5) and RFC 7616 §3.9.1 (MD5 and SHA-256) vectors', () => {
  assert.equal(
    digestResponse({ algorithm: 'MD5', user: 'Mufasa', realm: 'testrealm@host.com', pass: 'Circle Of Life', method: 'GET', uri: '/dir/index.html', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', qop: 'auth', nc: '00000001', cnonce: '0a4f113b' }),
    '6629fae49393a05397450978507c4ef1',
  );
  const rfc7616 = { user: 'Mufasa', realm: 'http-auth@example.org', pass: 'Circle of Life', method: 'GET', uri: '/dir/index.html', nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', qop: 'auth', nc: '00000001', cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ' };
  assert.equal(digestResponse({ ...rfc7616, algorithm: 'MD5' }), '8ca523f5e9506fed4657c9700eebdbec');
  assert.equal(digestResponse({ ...rfc7616, algorithm: 'SHA-256' }), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
});

test('an Authorization header from ffmpeg (Digest, no qop) verifies with the right password only', () => {
  const nonce = 'a1b2c3';
  const uri = 'rtsp://127.0.0.1:8554/live/cam1';
  const response = digestResponse({ algorithm: 'MD5', user: 'studio', realm: 'livegate', pass: 's3cret', method: 'ANNOUNCE', uri, nonce });
  const c = parseAuthorization(`Digest username="studio", realm="livegate", nonce="${nonce}", uri="${uri}", response="${response}"`);
  assert.ok(c && c.scheme === 'digest');
  assert.equal(verifyDigest(c, 'ANNOUNCE', 's3cret'), true);
  assert.equal(verifyDigest(c, 'ANNOUNCE', 'wrong'), false);
  assert.equal(verifyDigest(c, 'RECORD', 's3cret'), false);
});

test('Basic, and what is neither', () => {
  assert.deepEqual(parseAuthorization(`Basic ${Buffer.from('a:b:c').toString('base64')}`), { scheme: 'basic', user: 'a', pass: 'b:c' });
  assert.equal(parseAuthorization('Basic !!!'), null);
  assert.equal(parseAuthorization('Bearer x'), null);
  assert.equal(parseAuthorization('Digest username="x"'), null);
  assert.equal(parseAuthorization('Digest username="x", realm="r", nonce="n", uri="u", response="r", algorithm=SHA-512'), null);
  assert.deepEqual([...parseAuthParams('a=1, b="x, \\"y\\"",c=')], [['a', '1'], ['b', 'x, "y"'], ['c', '']]);
});

test('a client answers a camera: the strongest Digest, else Basic; the server side accepts it', () => {
  const [digest, basic] = challenges('cam', 'n0nce');
  const answer = answerChallenge([basic!, digest!], { user: 'admin', pass: 'pw', method: 'DESCRIBE', uri: 'rtsp://cam/s' })!;
  const c = parseAuthorization(answer);
  assert.ok(c && c.scheme === 'digest' && c.algorithm === 'MD5');
  assert.equal(verifyDigest(c, 'DESCRIBE', 'pw'), true);
  const sha = answerChallenge(['Digest realm="cam", nonce="n1", algorithm=MD5', 'Digest realm="cam", nonce="n2", algorithm=SHA-256, qop="auth,auth-int"'], { user: 'admin', pass: 'pw', method: 'DESCRIBE', uri: 'rtsp://cam/s' })!;
  const s = parseAuthorization(sha);
  assert.ok(s && s.scheme === 'digest' && s.algorithm === 'SHA-256' && s.qop === 'auth' && s.nc === '00000001');
  assert.equal(verifyDigest(s, 'DESCRIBE', 'pw'), true);
  assert.equal(answerChallenge([basic!], { user: 'u', pass: 'p', method: 'DESCRIBE', uri: 'x' }), `Basic ${Buffer.from('u:p').toString('base64')}`);
  assert.equal(answerChallenge(['Negotiate abc'], { user: 'u', pass: 'p', method: 'DESCRIBE', uri: 'x' }), null);
});
