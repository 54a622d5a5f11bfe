/**
 * Acceptance (issue 13): the HTTP hook and the lifecycle notifications, against a local hook server.
 * ffmpeg publishes over RTMP with `?token=`: the hook receives the documented fields, allows, and the
 * media reaches an HTTP-FLV reader (also allowed by the hook); a hook that does not answer in time
 * refuses (fail closed); on_publish, on_read, on_read_end and on_unpublish arrive with their fields.
 * A publisher that sends its media without waiting for the answer to its publish loses none of it
 * while the hook decides.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { RtmpClient } from '../../gateway/src/protocols/rtmp/client.js';
import { readHttpFlv } from '../helpers/flv-client.js';
import { publish } from '../helpers/ffmpeg.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

type Body = { [k: string]: unknown };

describe('the HTTP hook and lifecycle notifications', { concurrency: false }, () => {
  let hook: Server;
  let gw: TestGateway;
  const asked: Body[] = [];
  const notified: Body[] = [];

  before(async () => {
    if (!hasTool('ffmpeg') && process.env.CI !== 'true') return;
    hook = createServer((req, res) => {
      let text = '';
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => {
        const body = JSON.parse(text) as Body;
        if (req.url === '/notify') {
          notified.push(body);
          return res.writeHead(204).end();
        }
        asked.push(body);
        if (body.token === 'slow') return setTimeout(() => res.writeHead(200).end(), 1500);
        if (body.token === 'late-allow') return setTimeout(() => res.writeHead(200).end(), 250);
        res.writeHead(body.token === 'allow' ? 200 : 403).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(hook.address() as AddressInfo).port}`;
    gw = await startGateway({ auth: { methods: ['hook'], hook: { url: `${base}/auth`, timeoutMs: 400, notifyUrl: `${base}/notify` } } });
  });
  after(async () => {
    await gw?.close();
    hook?.close();
  });

  test('the hook gets the documented fields and lets media through; a slow hook refuses; lifecycle notifications arrive', async (t) => {
    if (!requireTools(t, 'ffmpeg')) return;
    const source = publish(`${gw.rtmpUrl('live/h')}?token=allow`, { size: '320x240', rate: 25 });
    try {
      await waitFor(() => gw.gateway.registry.get('live/h')?.tracks.length === 2, 10_000, 'published through the hook');
      const pub = asked.find((b) => b.action === 'publish')!;
      assert.deepEqual(Object.keys(pub).sort(), ['action', 'id', 'ip', 'password', 'path', 'protocol', 'query', 'token', 'user', 'userAgent']);
      assert.deepEqual({ ...pub, id: typeof pub.id, userAgent: typeof pub.userAgent }, {
        action: 'publish', protocol: 'rtmp', path: 'live/h', user: '', password: '', token: 'allow', ip: '127.0.0.1', id: 'string', query: 'token=allow', userAgent: 'string',
      });
      const reader = readHttpFlv(gw.httpUrl('live/h.flv?token=allow'));
      await waitFor(() => reader.tags.filter((x) => x.type === 9).length > 20, 10_000, 'video at the reader');
      assert.ok(asked.some((b) => b.action === 'read' && b.protocol === 'http-flv' && b.token === 'allow'));
      const t0 = performance.now();
      const slow = await fetch(gw.httpUrl('live/h.flv?token=slow'));
      assert.equal(slow.status, 403, 'a hook that does not answer in time refuses');
      assert.ok(performance.now() - t0 < 1400, 'after the hook timeout, not after the hook');
      assert.match(((await slow.json()) as { detail: string }).detail, /did not answer within 400 ms/);
      assert.equal((await fetch(gw.httpUrl('live/h.flv?token=nope'))).status, 403);
      reader.close();
      await waitFor(() => notified.some((n) => n.event === 'on_read_end'), 5000, 'on_read_end');
    } finally {
      await source.stop();
    }
    await waitFor(() => notified.some((n) => n.event === 'on_unpublish'), 8000, 'on_unpublish');
    const events = notified.map((n) => `${n.event}:${n.protocol}:${n.path}`);
    for (const e of ['on_publish:rtmp:live/h', 'on_read:http-flv:live/h', 'on_read_end:http-flv:live/h', 'on_unpublish:rtmp:live/h']) assert.ok(events.includes(e), `${e} in ${events.join(', ')}`);
    const onPublish = notified.find((n) => n.event === 'on_publish')!;
    assert.equal(onPublish.ip, '127.0.0.1');
    assert.equal(onPublish.query, 'token=allow');
    assert.equal(typeof onPublish.time, 'number');
  });

  test('media sent before the publish is answered (the hook takes 250 ms) is kept, not lost', async () => {
    const client = new RtmpClient();
    await client.connect(`${gw.rtmpUrl('live/eager')}?token=late-allow`);
    const accepted = client.publish();
    // The AVC sequence header and a keyframe once the publish command is with the hook: before the gate has answered.
    await waitFor(() => asked.some((b) => b.path === 'live/eager' && b.action === 'publish'), 3000, 'the hook asked');
    const avcc = Buffer.from('0142c00dffe100186742c00dd90141fb011000000300100000030320f142a48001000568cb83cb20', 'hex');
    client.sendMedia(9, 0, Buffer.concat([Buffer.from('1700000000', 'hex'), avcc]));
    client.sendMedia(9, 0, Buffer.from('17010000000000000265888400', 'hex'));
    await accepted;
    const stream = await waitFor(() => gw.gateway.registry.get('live/eager'), 3000, 'published');
    await waitFor(() => stream.tracks.some((t) => t.kind === 'video' && t.config !== null), 3000, 'the held sequence header reached the stream');
    assert.ok(gw.logs.some((l) => l.msg === 'publish started' && l.heldMessages === 2), 'two messages held and replayed');
    client.close();
  });
});
