/**
 * Acceptance (issue 16, cluster on Redis): three livegate processes (the real CLI) and Debian's
 * redis-server. ffmpeg publishes to node A; 50 HTTP-FLV readers on B and the SDK's WebRTC player in
 * Chromium on C play it through one pull per edge; a second publisher of the path on C is refused;
 * the last reader leaving B ends B's pull; A killed → the path is free within TTL + 2 s, ffmpeg
 * republishes on B and the player on C resumes by itself; Redis stopped → live streams go on and a
 * new publish is refused with the reason; Redis back → claims re-established, publishing works again.
 * Runs in a loopback-only network namespace (Chromium's WebRTC).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, WEBRTC_FLAGS } from '../helpers/browser.js';
import { openPlayer, playing, view } from '../helpers/demo-page.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { readHttpFlv, type FlvReaderClient } from '../helpers/flv-client.js';
import { spawnGateway, type ChildGateway } from '../helpers/gateway.js';
import { IN_LOOPBACK_NETNS, runInLoopbackNamespace } from '../helpers/netns.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { requireTools } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';

const TTL_MS = 3000;
const LINGER_MS = 1500;

type ClusterView = {
  node: string;
  redis: { connected: boolean; lastError: string | null };
  nodes: { id: string; self: boolean; paths: { path: string; role: string }[]; pulls: { path: string; from: string }[]; load: { readers: number } }[];
  paths: { path: string; node: string }[];
  pulls: { path: string; from: string }[];
  served: { path: string; edge: string; reader: string; protocol: string }[];
};

async function cluster(gw: ChildGateway): Promise<ClusterView> {
  return (await (await fetch(gw.httpUrl('api/v1/cluster'))).json()) as ClusterView;
}

if (!IN_LOOPBACK_NETNS) {
  test('cluster on Redis: three livegate processes (run in a loopback-only network namespace)', { timeout: 420_000 }, async (t) => {
    if (!requireTools(t, 'ffmpeg', 'chromium', 'redis-server', 'unshare', 'ip')) return;
    const { code, output } = await runInLoopbackNamespace(import.meta.url);
    t.diagnostic(output.split('\n').filter((l) => /✔|✖|ℹ|Error|error|expected|actual/.test(l)).slice(0, 80).join('\n'));
    assert.equal(code, 0, output.slice(-6000));
  });
} else {
  describe('cluster on Redis', { concurrency: false }, () => {
    let redis: RedisServer;
    let a: ChildGateway;
    let b: ChildGateway;
    let c: ChildGateway;
    let browser: Browser;
    let pub: Publisher | undefined;
    let readers: FlvReaderClient[] = [];
    let player: Awaited<ReturnType<typeof openPlayer>>;

    const node = (id: string, redisUrl: string): Promise<ChildGateway> =>
      spawnGateway({
        // Edges pull over SRT here (the RTMP pull is in test/integration/cluster.test.ts).
        cluster: { redis: redisUrl, nodeId: id, ttlMs: TTL_MS, heartbeatMs: 500, lingerMs: LINGER_MS, pullProtocol: 'srt' },
        webrtc: { additionalHosts: ['127.0.0.1'] },
      });

    before(async () => {
      redis = await startRedis();
      [a, b, c] = await Promise.all([node('A', redis.url), node('B', redis.url), node('C', redis.url)]);
      browser = await launchChromium([...WEBRTC_FLAGS]);
    });
    after(async () => {
      for (const r of readers) r.close();
      await browser?.close();
      await pub?.stop();
      await Promise.all([a?.close(), b?.close(), c?.close()]);
      await redis?.stop();
    });

    test('published on A: 50 FLV readers on B and a WebRTC player on C; A serves one pull per edge', async () => {
      pub = publish(a.rtmpUrl('live/c'), { size: '640x360', gop: 30 });
      await waitFor(async () => (await cluster(b)).paths.some((p) => p.path === 'live/c' && p.node === 'A'), 15_000, 'A holds live/c');
      readers = Array.from({ length: 50 }, () => readHttpFlv(b.httpUrl('live/c.flv'), { keepTags: false }));
      await waitFor(() => readers.every((r) => r.bytes > 50_000), 20_000, 'every FLV reader on B receives the stream');
      assert.ok(readers.every((r) => r.status === 200));
      assert.ok(readers.every((r) => r.tags.some((t) => t.type === 9) && r.tags.some((t) => t.type === 8)), 'video and audio tags');
      player = await openPlayer(browser, { httpUrl: c.httpUrl }, 'live/c', 'webrtc');
      const v = await playing(player.page, 'webrtc', 30_000);
      assert.equal(v.width, 640);
      assert.ok(Math.abs(v.toneHz - 1000) < 30, `tone at ${v.toneHz} Hz`);

      const onA = await cluster(a);
      const edges = onA.served.filter((s) => s.path === 'live/c').map((s) => s.edge).sort();
      assert.deepEqual(edges, ['B', 'C'], `one pull per edge: ${JSON.stringify(onA.served)}`);
      assert.ok(onA.served.every((s) => s.protocol === 'srt'), 'pulled over SRT');
      assert.deepEqual((await cluster(b)).pulls, [{ path: 'live/c', from: 'A' }]);
      assert.deepEqual((await cluster(c)).pulls, [{ path: 'live/c', from: 'A' }]);
      assert.deepEqual(onA.nodes.map((n) => n.id), ['A', 'B', 'C']);
    });

    test("the last reader leaving B ends B's pull", async () => {
      for (const r of readers) r.close();
      readers = [];
      const left = performance.now();
      await waitFor(async () => !(await cluster(a)).served.some((s) => s.edge === 'B'), LINGER_MS + 5000, "B's pull ended on A");
      const ms = performance.now() - left;
      assert.deepEqual((await cluster(b)).pulls, []);
      assert.ok(ms >= LINGER_MS - 200, `ended after the linger (${Math.round(ms)} ms)`);
      assert.deepEqual((await cluster(a)).served.map((s) => s.edge), ['C'], 'C still pulls');
    });

    test('a second publisher of the path is refused while A holds it: on C (which plays it) and on B (which does not have it now)', async () => {
      const onC = publish(c.rtmpUrl('live/c'), { size: '320x180' });
      assert.notEqual(await onC.exited, 0);
      assert.match(onC.stderr(), /already being published/);
      const whip = await fetch(c.httpUrl('live/c/whip'), { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: 'v=0\r\n' });
      assert.equal(whip.status, 409);
      // B has no stream at the path any more: the claim refuses it, saying where the path is.
      const onB = publish(b.rtmpUrl('live/c'), { size: '320x180' });
      assert.notEqual(await onB.exited, 0);
      assert.match(onB.stderr(), /published on node A/);
      const whipB = await fetch(b.httpUrl('live/c/whip'), { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: 'v=0\r\n' });
      assert.equal(whipB.status, 409);
      assert.match(await whipB.text(), /published on node A/);
      assert.equal((await cluster(a)).paths.find((p) => p.path === 'live/c')?.node, 'A');
      assert.deepEqual((await cluster(b)).pulls, [], 'the refused publisher started nothing on B');
    });

    test('A killed: the path is free within TTL + 2 s; ffmpeg republishes on B and the player on C resumes without a reload', async (t) => {
      const killedAt = performance.now();
      a.child.kill('SIGKILL');
      await pub!.stop();
      pub = undefined;
      await waitFor(async () => !(await cluster(b)).paths.some((p) => p.path === 'live/c'), TTL_MS + 2000, 'live/c free');
      const freeMs = performance.now() - killedAt;
      await waitFor(async () => !(await cluster(b)).nodes.some((n) => n.id === 'A'), TTL_MS + 2000, 'A gone from the nodes');
      const backAt = Date.now();
      pub = publish(b.rtmpUrl('live/c'), { size: '640x360', gop: 30 });
      await waitFor(async () => (await cluster(c)).paths.some((p) => p.path === 'live/c' && p.node === 'B'), 15_000, 'B holds live/c');
      const resumedAt = await waitFor(async () => {
        const v = await view(player.page);
        return v.lastFrameAt > backAt + 500 && v.state === 'playing' ? v.lastFrameAt : null;
      }, 30_000, 'the player on C resumed', 100);
      const v = await view(player.page);
      assert.equal(v.protocol, 'webrtc');
      assert.deepEqual((await cluster(c)).pulls, [{ path: 'live/c', from: 'B' }]);
      assert.deepEqual((await cluster(b)).served.map((s) => s.edge), ['C']);
      t.diagnostic(`path free ${Math.round(freeMs)} ms after SIGKILL (TTL ${TTL_MS} ms); player on C resumed ${resumedAt - backAt} ms after the republish`);
    });

    test('Redis stopped: live streams go on, a new publish is refused with the reason; Redis back: claims re-established', async (t) => {
      const local = readHttpFlv(b.httpUrl('live/c.flv'), { keepTags: false });
      await waitFor(() => local.bytes > 20_000, 10_000, 'FLV on B');
      await redis.stop();
      await waitFor(async () => !(await cluster(c)).redis.connected, 5000, 'C sees Redis down');
      const bytes = local.bytes;
      const frames = (await view(player.page)).presented;
      await sleep(3000);
      assert.ok(local.bytes > bytes + 100_000, `the FLV reader on B goes on (${local.bytes - bytes} bytes in 3 s)`);
      assert.ok((await view(player.page)).presented > frames + 45, 'the WebRTC player on C goes on');
      const refused = publish(c.rtmpUrl('live/new'), { size: '320x180' });
      assert.notEqual(await refused.exited, 0);
      const log = c.logs.find((l) => l.msg === 'publish refused by the cluster' && l.path === 'live/new');
      assert.ok(log, 'a log line says why');
      assert.equal(log.reason, 'unavailable');
      assert.match(String(log.why), /Redis/);
      assert.ok(c.logs.some((l) => l.level === 'error' && /Redis unreachable/.test(l.msg)));

      const downFor = performance.now();
      redis = await startRedis(redis.port);
      await waitFor(async () => (await cluster(c)).paths.some((p) => p.path === 'live/c' && p.node === 'B'), 10_000, "B's claim re-established");
      const reclaimMs = performance.now() - downFor;
      const next = publish(c.rtmpUrl('live/new'), { size: '320x180' });
      try {
        await waitFor(async () => (await cluster(b)).paths.some((p) => p.path === 'live/new' && p.node === 'C'), 15_000, 'C publishes live/new');
      } finally {
        await next.stop();
      }
      assert.ok(local.bytes > bytes + 200_000, 'the FLV reader on B never stopped');
      local.close();
      t.diagnostic(`claims re-established ${Math.round(reclaimMs)} ms after Redis came back`);
    });
  });
}
