/**
 * Acceptance (issue 13), table-driven: every protocol, with real clients, against one admission gate
 * (users + JWT). For each protocol — RTMP publish (ffmpeg) and play (ffprobe), SRT publish (ffmpeg,
 * `#!::` form) and read (srt-live-transmit, `read:` form), WHIP and WHEP (offers over HTTP), HTTP-FLV
 * (ffprobe), RTSP publish (ffmpeg) and play (ffprobe), WS-FLV (a WebSocket client), HLS (ffprobe: the token travels on in the playlists) and
 * the API — no credentials and wrong ones are refused as unauthorized, an expired JWT too, a JWT for
 * another path is forbidden, and a valid one works; the refusal is the protocol's own (HTTP 401/403,
 * RTMP onStatus error, SRT rejection) and the gate's reason is the expected one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import type { AccessRequest, RefusalReason } from '../../gateway/src/core/access.js';
import { probe, publish, run, type Publisher } from '../helpers/ffmpeg.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { sltRead } from '../helpers/srt.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';

const SECRET = 'auth-matrix-secret-0123456789';
type Perm = { action: string; path?: string };
const jwt = (permissions: Perm[], exp: string | number = '1h') =>
  new SignJWT({ sub: 'tester', permissions }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(exp).sign(new TextEncoder().encode(SECRET));

/** An offer as a browser makes it (recvonly for WHEP, sendonly for WHIP), trimmed to what matters. */
function offer(direction: 'recvonly' | 'sendonly'): string {
  return ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0 1',
    'm=video 9 UDP/TLS/RTP/SAVPF 102', 'c=IN IP4 0.0.0.0', 'a=mid:0', `a=${direction}`, 'a=rtcp-mux', 'a=rtpmap:102 H264/90000',
    'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f', 'a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF', 'a=setup:actpass',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'c=IN IP4 0.0.0.0', 'a=mid:1', `a=${direction}`, 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2', ''].join('\r\n');
}

type Outcome = { ok: boolean; status?: number; detail?: string };

describe('one admission gate on every protocol', { concurrency: false }, () => {
  let gw: TestGateway;
  let source: Publisher;
  const refusals: { request: AccessRequest; reason: RefusalReason }[] = [];

  before(async () => {
    if (!hasTool('ffmpeg') && process.env.CI !== 'true') return;
    gw = await startGateway({
      auth: {
        methods: ['users', 'jwt'],
        users: [{ user: 'admin', pass: 'admin-pass', permissions: [{ action: 'publish' }, { action: 'read' }, { action: 'api' }] }],
        jwt: { secret: SECRET, algorithms: ['HS256'] },
        // Many refusals from 127.0.0.1 on purpose: not slowed here (slowing has its own test).
        failures: { freeFailures: 100_000 },
      },
    });
    gw.gateway.registry.on('refused', (e) => refusals.push(e));
    source = publish(`${gw.rtmpUrl('live/a')}?user=admin&pass=admin-pass`, { size: '320x240', rate: 25, gop: 25 });
    await waitFor(() => gw.gateway.registry.get('live/a')?.tracks.length === 2, 15_000, 'the source (admin over RTMP) live');
  });
  after(async () => {
    await source?.stop();
    await gw?.close();
  });

  /** Runs ffmpeg publishing to `url` until the path is live (ok) or ffmpeg gives up (refused). */
  async function ffmpegPublish(url: string, path: string, format: 'flv' | 'mpegts' | 'rtsp'): Promise<Outcome> {
    const p = publish(url, { size: '160x120', rate: 10, format });
    try {
      const live = await Promise.race([
        waitFor(() => gw.gateway.registry.get(path)?.tracks.length === 2, 10_000, `${path} live`).then(() => true),
        p.exited.then(() => false),
      ]);
      return { ok: live, detail: p.stderr().slice(0, 300) };
    } finally {
      await p.stop();
      await waitFor(() => gw.gateway.registry.get(path) === undefined, 5000, `${path} ended`).catch(() => {});
    }
  }

  async function http(method: string, path: string, init: { token?: string; body?: string; type?: string; basic?: string } = {}): Promise<Outcome> {
    const headers: { [k: string]: string } = {};
    if (init.token) headers.Authorization = `Bearer ${init.token}`;
    if (init.basic) headers.Authorization = `Basic ${Buffer.from(init.basic).toString('base64')}`;
    if (init.type) headers['Content-Type'] = init.type;
    const r = await fetch(gw.httpUrl(path), { method, headers, ...(init.body ? { body: init.body } : {}) });
    const text = await r.text();
    if (r.status === 201) {
      const location = r.headers.get('location');
      if (location) await fetch(gw.httpUrl(location.slice(1)), { method: 'DELETE' });
    }
    if (r.status === 401) assert.match(r.headers.get('www-authenticate') ?? '', /Bearer realm="livegate"/, `${method} ${path}: 401 with a challenge`);
    if (r.status >= 400) assert.equal(r.headers.get('content-type'), 'application/problem+json', `${method} ${path}: one error shape`);
    return { ok: r.status < 300, status: r.status, detail: text.slice(0, 200) };
  }

  const q = (token?: string) => (token ? `?token=${token}` : '');

  /** The status of a GET whose success is a live stream (its body is not waited for). */
  async function headOf(path: string): Promise<Outcome> {
    const r = await fetch(gw.httpUrl(path));
    if (r.status >= 400) {
      assert.equal(r.headers.get('content-type'), 'application/problem+json', `GET ${path}: one error shape`);
      if (r.status === 401) assert.match(r.headers.get('www-authenticate') ?? '', /Bearer realm="livegate"/);
    }
    await r.body?.cancel();
    return { ok: r.status < 300, status: r.status };
  }

  /** Each protocol: what it is asked to do (on which path, as which action), and how a real client tries. */
  const protocols: { name: string; gate: string; action: 'publish' | 'read' | 'api'; path: string; attempt(token?: string): Promise<Outcome> }[] = [
    { name: 'RTMP publish (ffmpeg)', gate: 'rtmp', action: 'publish', path: 'live/rtmp-in', attempt: (t) => ffmpegPublish(`${gw.rtmpUrl('live/rtmp-in')}${q(t)}`, 'live/rtmp-in', 'flv') },
    {
      name: 'RTMP play (ffprobe)', gate: 'rtmp', action: 'read', path: 'live/a',
      attempt: (t) => probe(`${gw.rtmpUrl('live/a')}${q(t)}`, 10_000).then((s) => ({ ok: s.length === 2 }), (e: Error) => ({ ok: false, detail: e.message.slice(-300) })),
    },
    {
      name: 'SRT publish (ffmpeg, #!:: stream id)', gate: 'srt', action: 'publish', path: 'live/srt-in',
      attempt: (t) => ffmpegPublish(gw.srtUrl(`#!::r=live/srt-in,m=publish${t ? `,s=${t}` : ''}`), 'live/srt-in', 'mpegts'),
    },
    {
      name: 'SRT read (srt-live-transmit, read: stream id)', gate: 'srt', action: 'read', path: 'live/a',
      attempt: async (t) => {
        const r = sltRead(gw.srtUrl(`read:live/a${t ? `:token=${t}` : ''}`));
        const got = await Promise.race([waitFor(() => r.bytes().length > 50_000, 8000, 'TS bytes').then(() => true, () => false), r.exited.then(() => false)]);
        await r.stop();
        return { ok: got, detail: r.stderr().slice(-300) };
      },
    },
    { name: 'RTSP publish (ffmpeg, ?token=)', gate: 'rtsp', action: 'publish', path: 'live/rtsp-in', attempt: (t) => ffmpegPublish(`${gw.rtspUrl('live/rtsp-in')}${q(t)}`, 'live/rtsp-in', 'rtsp') },
    {
      name: 'RTSP play (ffprobe, ?token=)', gate: 'rtsp', action: 'read', path: 'live/a',
      attempt: (t) => probe(`${gw.rtspUrl('live/a')}${q(t)}`, 10_000).then((s) => ({ ok: s.length === 2 }), (e: Error) => ({ ok: false, detail: e.message.slice(-300) })),
    },
    { name: 'WHIP publish', gate: 'whip', action: 'publish', path: 'live/whip-in', attempt: (t) => http('POST', 'live/whip-in/whip', { ...(t ? { token: t } : {}), body: offer('sendonly'), type: 'application/sdp' }) },
    { name: 'WHEP play', gate: 'whep', action: 'read', path: 'live/a', attempt: (t) => http('POST', 'live/a/whep', { ...(t ? { token: t } : {}), body: offer('recvonly'), type: 'application/sdp' }) },
    {
      name: 'HTTP-FLV (ffprobe)', gate: 'http-flv', action: 'read', path: 'live/a',
      attempt: async (t) => {
        const r = await headOf(`live/a.flv${q(t)}`);
        if (!r.ok) return r;
        return probe(gw.httpUrl(`live/a.flv${q(t)}`), 10_000).then((s) => ({ ok: s.length === 2 }), (e: Error) => ({ ok: false, detail: e.message }));
      },
    },
    {
      name: 'WS-FLV (WebSocket, Authorization)', gate: 'ws-flv', action: 'read', path: 'live/a',
      attempt: (t) =>
        new Promise<Outcome>((resolve) => {
          const ws = new WebSocket(`ws://127.0.0.1:${gw.httpPort}/live/a.flv`, t ? { headers: { Authorization: `Bearer ${t}` } } : {});
          ws.once('message', () => (ws.close(), resolve({ ok: true })));
          ws.once('unexpected-response', (_req, res) => resolve({ ok: false, status: res.statusCode ?? 0 }));
          ws.once('error', () => resolve({ ok: false }));
        }),
    },
    {
      name: 'HLS (ffprobe, ?token= carried on in the playlists)', gate: 'hls', action: 'read', path: 'live/a',
      attempt: async (t) => {
        const r = await headOf(`live/a/index.m3u8${q(t)}`);
        if (!r.ok) return r;
        return probe(gw.httpUrl(`live/a/index.m3u8${q(t)}`), 15_000).then((s) => ({ ok: s.length === 2 }), (e: Error) => ({ ok: false, detail: e.message.slice(-300) }));
      },
    },
    { name: 'API', gate: 'api', action: 'api', path: '', attempt: (t) => http('GET', 'api/v1/streams', t ? { token: t } : {}) },
  ];

  for (const p of protocols) {
    test(`${p.name}: none → unauthorized, wrong → unauthorized, expired → unauthorized, another path → forbidden, valid → works`, async (t) => {
      if (!requireTools(t, 'ffmpeg', 'ffprobe', 'srt-live-transmit')) return;
      const own: Perm[] = [{ action: p.action, ...(p.path ? { path: p.path } : {}) }];
      const valid = await jwt(own);
      const cases: { name: string; token?: string; want: RefusalReason | 'ok' }[] = [
        { name: 'no credentials', want: 'unauthorized' },
        { name: 'a forged token', token: valid.slice(0, -6) + 'AAAAAA', want: 'unauthorized' },
        { name: 'an expired JWT', token: await jwt(own, Math.floor(Date.now() / 1000) - 60), want: 'unauthorized' },
        { name: 'a JWT for another path', token: await jwt(p.action === 'api' ? [{ action: 'read' }] : [{ action: p.action, path: 'live/elsewhere' }]), want: 'forbidden' },
        { name: 'a valid JWT', token: valid, want: 'ok' },
      ];
      for (const c of cases) {
        const before = refusals.length;
        const outcome = await p.attempt(c.token);
        const gate = refusals.slice(before).filter((r) => r.request.protocol === p.gate && r.request.action === p.action);
        if (c.want === 'ok') {
          assert.equal(outcome.ok, true, `${p.name}, ${c.name}: works (${outcome.detail ?? ''})`);
          assert.deepEqual(gate, [], `${p.name}, ${c.name}: not refused`);
        } else {
          assert.equal(outcome.ok, false, `${p.name}, ${c.name}: refused`);
          assert.ok(gate.length > 0 && gate.every((r) => r.reason === c.want), `${p.name}, ${c.name}: the gate said ${JSON.stringify(gate.map((r) => r.reason))}, expected ${c.want}`);
          if (outcome.status !== undefined) assert.equal(outcome.status, c.want === 'unauthorized' ? 401 : 403, `${p.name}, ${c.name}: HTTP status`);
        }
      }
    });
  }

  test('users: RTMP ?user=&pass=, SRT publish:path:user:pass, RTSP Basic and API Basic work for a user; a wrong password is unauthorized', async (t) => {
    if (!requireTools(t, 'ffmpeg')) return;
    assert.equal((await ffmpegPublish(`${gw.rtmpUrl('live/u-rtmp')}?user=admin&pass=admin-pass`, 'live/u-rtmp', 'flv')).ok, true);
    assert.equal((await ffmpegPublish(gw.srtUrl('publish:live/u-srt:admin:admin-pass'), 'live/u-srt', 'mpegts')).ok, true);
    assert.equal((await ffmpegPublish(gw.srtUrl('publish:live/u-srt:admin:nope'), 'live/u-srt', 'mpegts')).ok, false);
    // RTSP: ffmpeg answers the 401's Basic challenge with the URL's user and password.
    const rtspAs = (userPass: string) => gw.rtspUrl('live/u-rtsp').replace('rtsp://', `rtsp://${userPass}@`);
    assert.equal((await ffmpegPublish(rtspAs('admin:admin-pass'), 'live/u-rtsp', 'rtsp')).ok, true);
    assert.equal((await ffmpegPublish(rtspAs('admin:nope'), 'live/u-rtsp', 'rtsp')).ok, false);
    assert.equal((await probe(rtspAs('admin:admin-pass').replace('u-rtsp', 'a'), 10_000)).length, 2, 'RTSP play with Basic credentials');
    assert.equal((await http('GET', 'api/v1/streams', { basic: 'admin:admin-pass' })).status, 200);
    const wrong = await fetch(gw.httpUrl('api/v1/streams'), { headers: { Authorization: `Basic ${Buffer.from('admin:x').toString('base64')}` } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('www-authenticate'), 'Bearer realm="livegate"', 'no Basic challenge: a browser would prompt for a password over the SDK\'s requests');
    // The gateway's info stays public (the SDK reads what it serves before it has credentials).
    assert.equal((await fetch(gw.httpUrl('api/v1/info'))).status, 200);
    // ffmpeg saw the RTMP refusal as the server's error status.
    const bad = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10', '-t', '3', '-c:v', 'libx264', '-f', 'flv', `${gw.rtmpUrl('live/u-rtmp')}?user=admin&pass=nope`]);
    assert.notEqual(await bad.exited, 0);
    assert.match(bad.stderr(), /Unauthorized|wrong user name or password/);
    await sleep(10);
  });
});
