/**
 * The cluster's parts against a real redis-server (Debian's), in-process gateways: claims are atomic
 * and expire, only their holder releases them; Redis down at start → publishes refused (fail closed)
 * until it is up; the RTMP pull with credentials when reads need them; the redirect mode; records
 * that are not livegate's in Redis are ignored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'node:http';
import { RedisStore } from '../../gateway/src/cluster/redis-store.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { readHttpFlv } from '../helpers/flv-client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';

const CLUSTER = { ttlMs: 3000, heartbeatMs: 500, lingerMs: 1000 };

function get(url: string): Promise<{ status: number; location: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, location: res.headers.location });
      req.destroy();
    });
    req.on('error', reject);
    req.end();
  });
}

describe('cluster on Redis (in-process nodes)', { concurrency: false }, () => {
  let redis: RedisServer;
  before(async () => {
    if (process.env.CI !== 'true' && !hasTool('redis-server')) return;
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  test('claims: one holder among 20 concurrent claimers; only the holder renews or releases; the claim expires', async (t) => {
    if (!requireTools(t, 'redis-server')) return;
    const store = new RedisStore({ url: redis.url, keyPrefix: 'claims-test:', commandTimeoutMs: 1000 });
    await store.connect();
    try {
      const holders = await Promise.all(Array.from({ length: 20 }, (_, i) => store.claim('live/x', `n${i}`, 800)));
      const winner = holders[0]!;
      assert.ok(holders.every((h) => h === winner), JSON.stringify(holders));
      const other = winner === 'n1' ? 'n2' : 'n1';
      await store.release('live/x', other);
      assert.equal(await store.holder('live/x'), winner, 'another node cannot release it');
      assert.equal(await store.claim('live/x', other, 800), winner, 'nor take it');
      await sleep(500);
      assert.equal(await store.claim('live/x', winner, 800), winner, 'the holder renews');
      await sleep(500);
      assert.equal(await store.holder('live/x'), winner, 'renewed: still held after the first TTL');
      await waitFor(async () => (await store.holder('live/x')) === null, 2000, 'the claim expires');
      assert.equal(await store.claim('live/x', other, 800), other, 'then another node takes it');
      await store.release('live/x', other);
      assert.equal(await store.holder('live/x'), null);
    } finally {
      await store.close();
    }
  });

  test('Redis down at start: the node starts, publishes are refused (fail closed) until Redis is up', async (t) => {
    if (!requireTools(t, 'redis-server', 'ffmpeg')) return;
    const port = await freePort();
    const gw = await startGateway({ cluster: { redis: `redis://127.0.0.1:${port}`, nodeId: 'lonely', ...CLUSTER } });
    let pub: Publisher | undefined;
    let late: RedisServer | undefined;
    try {
      assert.ok(gw.logs.some((l) => l.level === 'error' && /Redis unreachable at start/.test(l.msg)));
      const refused = publish(gw.rtmpUrl('live/y'), { size: '320x180' });
      assert.notEqual(await refused.exited, 0);
      const line = gw.logs.find((l) => l.msg === 'publish refused by the cluster');
      assert.equal(line?.reason, 'unavailable');
      const whip = await fetch(gw.httpUrl('live/y/whip'), { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: 'v=0\r\n' });
      assert.equal(whip.status, 503);
      late = await startRedis(port);
      await waitFor(() => gw.gateway.cluster!.view().then((v) => v.redis.connected), 5000, 'connected');
      pub = publish(gw.rtmpUrl('live/y'), { size: '320x180' });
      await waitFor(() => gw.gateway.registry.get('live/y')?.tracks.length === 2, 15000, 'published once Redis is up');
      const view = await gw.gateway.cluster!.view();
      assert.deepEqual(view.paths, [{ path: 'live/y', node: 'lonely' }]);
    } finally {
      await pub?.stop();
      await gw.close();
      await late?.stop();
    }
  });

  describe('two nodes', { concurrency: false }, () => {
    let origin: TestGateway;
    let edge: TestGateway;
    /** An edge in redirect mode: its own node, as the pulling edge must not redirect (it would, once the origin's record lists the path). */
    let redirector: TestGateway;
    let pub: Publisher;
    before(async () => {
      if (!redis) return;
      const users = [
        { user: 'cam', pass: 'cam-secret', permissions: [{ action: 'publish' as const }] },
        { user: 'viewer', pass: 'viewer-secret', permissions: [{ action: 'read' as const }] },
        { user: 'edge', pass: 'edge-secret', permissions: [{ action: 'read' as const }] },
      ];
      origin = await startGateway({ auth: { methods: ['users'], users }, cluster: { redis: redis.url, nodeId: 'origin', ...CLUSTER } });
      edge = await startGateway({
        auth: { methods: ['users'], users },
        cluster: { redis: redis.url, nodeId: 'edge', pullProtocol: 'rtmp', pullCredentials: { user: 'edge', pass: 'edge-secret' }, ...CLUSTER },
      });
      redirector = await startGateway({ auth: { methods: ['users'], users }, cluster: { redis: redis.url, nodeId: 'redirector', redirect: true, ...CLUSTER } });
    });
    after(async () => {
      await pub?.stop();
      await redirector?.close();
      await edge?.close();
      await origin?.close();
    });

    test('the edge pulls over RTMP with its own credentials; the reader is checked on the edge', async (t) => {
      if (!requireTools(t, 'redis-server', 'ffmpeg')) return;
      pub = publish(origin.rtmpUrl('live/z?user=cam&pass=cam-secret'), { size: '320x180', gop: 25 });
      await waitFor(() => origin.gateway.registry.get('live/z')?.tracks.length === 2, 15000, 'live on the origin');
      const refused = readHttpFlv(edge.httpUrl('live/z.flv?user=viewer&pass=wrong'));
      await refused.ended;
      assert.equal(refused.status, 401);
      assert.deepEqual((await edge.gateway.cluster!.view()).pulls, [], 'a refused reader starts no pull');
      const reader = readHttpFlv(edge.httpUrl('live/z.flv?user=viewer&pass=viewer-secret'));
      await waitFor(() => reader.tags.some((tag) => tag.type === 9), 10000, 'video through the edge');
      const served = (await origin.gateway.cluster!.view()).served;
      assert.deepEqual(served.map((s) => [s.path, s.edge, s.protocol]), [['live/z', 'edge', 'rtmp']]);
      reader.close();
      await waitFor(async () => (await origin.gateway.cluster!.view()).served.length === 0, 5000, 'the pull ends after the linger');
    });

    test('redirect mode: an HTTP player asking a node without the path is sent to the node that has it', async (t) => {
      if (!requireTools(t, 'redis-server', 'ffmpeg')) return;
      // The origin's record lists the path from its next heartbeat on (and the edge's no longer does,
      // its pull having ended: a pulling edge would be a target too).
      const originBase = new URL(origin.httpUrl('live/z.flv')).origin;
      await waitFor(
        async () => {
          const target = await redirector.gateway.cluster!.redirectTarget('live/z');
          return target !== null && new URL(target).origin === originBase;
        },
        5000,
        'the records list live/z on the origin only',
      );
      const flv = await get(redirector.httpUrl('live/z.flv?user=viewer&pass=viewer-secret'));
      assert.equal(flv.status, 302);
      assert.equal(flv.location, origin.httpUrl('live/z.flv?user=viewer&pass=viewer-secret'));
      const hls = await get(redirector.httpUrl('live/z/index.m3u8'));
      assert.equal(hls.status, 302);
      assert.equal(hls.location, origin.httpUrl('live/z/index.m3u8'));
      const unknown = await get(redirector.httpUrl('live/none.flv?user=viewer&pass=viewer-secret'));
      assert.equal(unknown.status, 404, 'a path nobody has is answered here');
    });

    test('records in Redis that are not livegate records are ignored', async (t) => {
      if (!requireTools(t, 'redis-server')) return;
      const store = new RedisStore({ url: redis.url, keyPrefix: 'livegate:', commandTimeoutMs: 1000 });
      await store.connect();
      try {
        await store.putNode('garbage', 'not json {', 60_000);
        await store.putNode('huge', 'x'.repeat(300 * 1024), 60_000);
        await store.putNode('shapeless', '{"id":7,"urls":null}', 60_000);
        await store.putNode('array', '[1,2,3]', 60_000);
        const view = await edge.gateway.cluster!.view();
        assert.deepEqual(view.nodes.map((n) => n.id), ['edge', 'origin', 'redirector']);
      } finally {
        await store.deleteNode('garbage');
        await store.deleteNode('huge');
        await store.deleteNode('shapeless');
        await store.deleteNode('array');
        await store.close();
      }
    });
  });
});
