import assert from 'node:assert/strict';
import { test } from 'node:test';
import { codeForStatus, errorFromResponse, LivegateError } from '../../../sdk-browser/src/errors.js';
import { parseIceServerLinks } from '../../../sdk-browser/src/signaling.js';
import { endpointUrl } from '../../../sdk-browser/src/urls.js';

test('HTTP statuses map to stable codes, by what the request was', () => {
  assert.equal(codeForStatus(409, 'whip', true), 'busy');
  assert.equal(codeForStatus(409, 'whep', true), 'not-live');
  assert.equal(codeForStatus(404, 'flv', false), 'not-live');
  assert.equal(codeForStatus(404, 'whep', false), 'unsupported', 'a plain 404: no WHEP endpoint on this server');
  assert.equal(codeForStatus(401, 'whep', true), 'unauthorized');
  assert.equal(codeForStatus(403, 'flv', true), 'forbidden');
  assert.equal(codeForStatus(422, 'whep', true), 'unsupported-codec');
  assert.equal(codeForStatus(503, 'whep', true), 'unavailable');
  assert.equal(codeForStatus(500, 'api', false), 'server');
  assert.equal(codeForStatus(400, 'whip', true), 'bad-request');
});

test('an error answer carries the server problem detail and Retry-After', async () => {
  const res = new Response(JSON.stringify({ status: 409, detail: 'stream "live/x" is not live' }), {
    status: 409,
    headers: { 'Content-Type': 'application/problem+json', 'Retry-After': '2' },
  });
  const e = await errorFromResponse(res, 'whep');
  assert.ok(e instanceof LivegateError);
  assert.equal(e.code, 'not-live');
  assert.equal(e.status, 409);
  assert.equal(e.detail, 'stream "live/x" is not live');
  assert.equal(e.retryAfterSeconds, 2);
  assert.match(e.message, /WHEP POST answered 409: stream "live\/x" is not live/);
});

test('ICE servers from Link headers (several joined by commas, quoted parameters)', () => {
  const header =
    '<stun:stun.example.net:3478>; rel="ice-server", <turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="1700000000:u"; credential="a,b;c"; credential-type="password", <https://example.net/x>; rel="next"';
  assert.deepEqual(parseIceServerLinks(header), [
    { urls: 'stun:stun.example.net:3478' },
    { urls: 'turn:turn.example.net:3478?transport=udp', username: '1700000000:u', credential: 'a,b;c' },
  ]);
  assert.deepEqual(parseIceServerLinks(null), []);
  assert.deepEqual(parseIceServerLinks('garbage <<<>'), []);
});

test('endpoint URLs: the path cleaned, the token in the query for FLV and HLS only', () => {
  assert.equal(endpointUrl('http://h:8080/', '/live//cam1/', 'whep', 't'), 'http://h:8080/live/cam1/whep');
  assert.equal(endpointUrl('https://h', 'live/cam1', 'ws-flv', 'a b'), 'wss://h/live/cam1.flv?token=a+b');
  assert.equal(endpointUrl('http://h:8080', 'live/cam1', 'flv'), 'http://h:8080/live/cam1.flv');
  assert.equal(endpointUrl('http://h:8080', 'live/cam 1', 'hls'), 'http://h:8080/live/cam%201/index.m3u8');
});
