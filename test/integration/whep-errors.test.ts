/**
 * WHEP error cases get the status codes of the draft (and MediaMTX), while the stream keeps flowing
 * to another viewer. No peer connection is made, so no network namespace is needed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RtmpClient } from '../../gateway/src/protocols/rtmp/client.js';
import { readHttpFlv, type FlvReaderClient } from '../helpers/flv-client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { sleep, waitFor } from '../helpers/wait.js';

/** A Chrome-like recvonly offer (trimmed to what matters). */
function offer(video = 'H264', pm = '1', audio = 'opus'): string {
  return [
    'v=0',
    'o=- 1 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0 1',
    'm=video 9 UDP/TLS/RTP/SAVPF 102',
    'c=IN IP4 0.0.0.0',
    'a=mid:0',
    'a=recvonly',
    'a=rtcp-mux',
    `a=rtpmap:102 ${video}/90000`,
    `a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=${pm};profile-level-id=42e01f`,
    'a=ice-ufrag:abcd',
    'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF',
    'a=setup:actpass',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    'c=IN IP4 0.0.0.0',
    'a=mid:1',
    'a=recvonly',
    `a=rtpmap:111 ${audio}/48000/2`,
    '',
  ].join('\r\n');
}

describe('WHEP errors', { concurrency: false }, () => {
  let gw: TestGateway;
  let pub: RtmpClient;
  let reader: FlvReaderClient;
  let timer: NodeJS.Timeout;
  const url = (p: string) => `http://127.0.0.1:${gw.httpPort}/${p}`;

  before(async () => {
    gw = await startGateway({ webrtc: { iceServers: [{ urls: 'stun:stun.example.net' }, { urls: 'turn:turn.example.net', secret: 's3cret' }] } });
    // A live stream (made by livegate's RTMP client: an AVC sequence header and a keyframe a tick).
    pub = new RtmpClient();
    await pub.connect(gw.rtmpUrl('live/other'));
    await pub.publish();
    const avcc = Buffer.from('0142c00dffe100186742c00dd90141fb011000000300100000030320f142a48001000568cb83cb20', 'hex');
    pub.sendMedia(9, 0, Buffer.concat([Buffer.from('1700000000', 'hex'), avcc]));
    let ts = 0;
    timer = setInterval(() => pub.sendMedia(9, (ts += 40), Buffer.from('17010000000000000265888400', 'hex')), 40);
    await waitFor(() => gw.gateway.registry.get('live/other'), 3000, 'stream live');
    reader = readHttpFlv(url('live/other.flv'), { keepTags: false });
    await waitFor(() => reader.bytes > 100, 3000, 'reader flowing');
  });

  after(async () => {
    clearInterval(timer);
    reader?.close();
    pub?.close();
    await gw?.close();
  });

  const post = (path: string, body: string, type = 'application/sdp') =>
    fetch(url(path), { method: 'POST', headers: { 'Content-Type': type }, body });

  test('wrong content type → 400', async () => {
    const r = await post('live/other/whep', offer(), 'application/json');
    assert.equal(r.status, 400);
  });
  test('unparsable SDP → 400', async () => {
    assert.equal((await post('live/other/whep', 'hello')).status, 400);
    assert.equal((await post('live/other/whep', 'v=0\r\nm=video\r\n')).status, 400);
  });
  test('no H264 packetization-mode 1 → 422 with a reason', async () => {
    const vp8 = await post('live/other/whep', offer('VP8'));
    assert.equal(vp8.status, 422);
    assert.match(await vp8.text(), /H264/);
    assert.equal((await post('live/other/whep', offer('H264', '0'))).status, 422);
  });
  test('no Opus → 422', async () => {
    const r = await post('live/other/whep', offer('H264', '1', 'PCMU'));
    assert.equal(r.status, 422);
    assert.match(await r.text(), /Opus/);
  });
  test('stream not live → 404 as problem+json (the admission gate\'s not-found, as on every HTTP route)', async () => {
    const r = await post('live/nothing/whep', offer());
    assert.equal(r.status, 404);
    assert.equal(r.headers.get('content-type'), 'application/problem+json');
    assert.match(((await r.json()) as { detail: string }).detail, /not live/);
  });
  test('a stream with B-frames → 422 that says why', async () => {
    const b = new RtmpClient();
    await b.connect(gw.rtmpUrl('live/bframes'));
    await b.publish();
    const avcc = Buffer.from('0142c00dffe100186742c00dd90141fb011000000300100000030320f142a48001000568cb83cb20', 'hex');
    b.sendMedia(9, 0, Buffer.concat([Buffer.from('1700000000', 'hex'), avcc]));
    b.sendMedia(9, 0, Buffer.from('17010000280000000265888400', 'hex')); // composition time 40 ms: reordered
    await waitFor(() => gw.gateway.registry.get('live/bframes')?.videoReordered, 3000, 'reordered video seen');
    const r = await post('live/bframes/whep', offer());
    assert.equal(r.status, 422);
    assert.match(await r.text(), /B-frames/);
    b.close();
  });
  test('unknown session → 404 for PATCH and DELETE', async () => {
    const s = url('live/other/whep/00000000-0000-0000-0000-000000000000');
    assert.equal((await fetch(s, { method: 'DELETE' })).status, 404);
    assert.equal((await fetch(s, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: 'a=x' })).status, 404);
  });
  test('an oversized offer → 413, and CORS preflight exposes the WHEP headers', async () => {
    assert.equal((await post('live/other/whep', 'v=0\r\n' + 'a=x\r\n'.repeat(20000))).status, 413);
    const pre = await fetch(url('live/other/whep'), { method: 'OPTIONS', headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    assert.match(pre.headers.get('access-control-expose-headers') ?? '', /Location/);
  });
  test('the other stream kept flowing to its reader', async () => {
    const before = reader.bytes;
    await sleep(300);
    assert.ok(reader.bytes > before);
    assert.equal(gw.gateway.registry.get('live/other')?.readerCount, 1);
  });
});
