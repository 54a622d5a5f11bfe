/**
 * LL-HLS over HTTP against a live stream published in real time (known H264 at 25 fps with a keyframe
 * every second, and AAC), with livegate's own HTTP client code:
 * - instant start: the first playlist of a path answers at once from the GOP cache;
 * - blocking reload: a request for the next part is held and answered when the part exists (timed);
 *   bad and too-far values get 400; a preload-hint request completes with the part's bytes;
 * - segments, parts and the init segment are fMP4 (moof / ftyp); delta updates skip old segments;
 * - hostile requests get clean answers, 10,000 concurrent blocking requests included, while a healthy
 *   client's parts keep coming.
 * @run-alone: the 10,000-request burst is a load test; its timing must not share the 2 cores.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { spawnGateway, startGateway, type ChildGateway, type TestGateway } from '../helpers/gateway.js';
import { publishKnown } from '../helpers/h264-source.js';
import { waitFor } from '../helpers/wait.js';

const PATH = 'live/hls';

interface Fetched {
  status: number;
  body: Buffer;
  ms: number;
  headers: Headers;
}

async function get(url: string): Promise<Fetched> {
  const t0 = performance.now();
  const res = await fetch(url);
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, body, ms: performance.now() - t0, headers: res.headers };
}

/** The last segment's msn and how many parts it has, and the preload hint, from a media playlist. */
function position(playlist: string): { msn: number; parts: number; hint: string | null; skipped: number } {
  const lines = playlist.split('\n');
  const mediaSequence = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)![1]);
  const skipped = Number(/#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)/.exec(playlist)?.[1] ?? 0);
  const complete = lines.filter((l) => l.startsWith('#EXTINF')).length + skipped;
  const afterLast = lines.slice(lines.map((l) => l.startsWith('#EXTINF')).lastIndexOf(true) + 1);
  return {
    msn: mediaSequence + complete,
    parts: afterLast.filter((l) => l.startsWith('#EXT-X-PART:')).length,
    hint: /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/.exec(playlist)?.[1] ?? null,
    skipped,
  };
}

describe('LL-HLS', { concurrency: false }, () => {
  let gw: TestGateway;
  let stopPublisher: () => void;
  const url = (file: string): string => gw.httpUrl(`${PATH}/${file}`);

  before(async () => {
    gw = await startGateway({ hls: { segmentTargetMs: 1000, partTargetMs: 200, segmentCount: 7 } });
    const pub = await publishKnown(gw.rtmpUrl(PATH), 40);
    stopPublisher = () => pub.client.close();
    await waitFor(() => gw.gateway.registry.get(PATH)?.tracks.length === 2, 5000, 'publisher live');
    // A GOP in the cache, as for a viewer arriving at any time.
    await new Promise((r) => setTimeout(r, 1500));
  });

  after(async () => {
    stopPublisher?.();
    await gw?.close();
  });

  test('instant start: the first requests answer at once from the GOP cache; CODECS and RESOLUTION', async () => {
    const index = await get(url('index.m3u8'));
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('content-type'), 'application/vnd.apple.mpegurl');
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const text = index.body.toString();
    assert.match(text, /#EXT-X-STREAM-INF:BANDWIDTH=\d+.*CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2",RESOLUTION=320x240\nstream\.m3u8\n/);
    assert.ok(index.ms < 500, `the first playlist took ${index.ms.toFixed(0)} ms (a segment is 1 s)`);
    const media = (await get(url('stream.m3u8'))).body.toString();
    assert.match(media, /#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0\.6,CAN-SKIP-UNTIL=\d+/);
    assert.match(media, /#EXT-X-PART-INF:PART-TARGET=0\.2\n/);
    assert.match(media, /#EXT-X-PART:DURATION=0\.2,URI="[0-9a-f]{8}-p\d+\.m4s",INDEPENDENT=YES/);
    assert.match(media, /#EXT-X-PROGRAM-DATE-TIME:20\d\d-/);
    const api = (await (await fetch(gw.httpUrl(`api/v1/streams/${PATH}`))).json()) as { outputs: { name: string; stats?: { bytes: number } }[] };
    const hls = api.outputs.find((o) => o.name === 'hls');
    assert.ok(hls && hls.stats!.bytes > 0, 'the API counts the window\'s bytes');
  });

  test('blocking reload: the next part\'s playlist is held until the part exists, then names it', async () => {
    // A blocking request returns as a part is cut: the one after it is a whole part away.
    const now = position((await get(url('stream.m3u8'))).body.toString());
    const fresh = (await get(url(`stream.m3u8?_HLS_msn=${now.msn}&_HLS_part=${now.parts}`))).body.toString();
    const { msn, parts } = position(fresh);
    const next = await get(url(`stream.m3u8?_HLS_msn=${msn}&_HLS_part=${parts}`));
    assert.equal(next.status, 200);
    const after = position(next.body.toString());
    assert.ok(after.msn > msn || after.parts > parts, `asked for ${msn}.${parts}, got a playlist up to ${after.msn}.${after.parts - 1}`);
    assert.ok(next.ms > 100 && next.ms < 1500, `held ${next.ms.toFixed(0)} ms (a part is 200 ms)`);
  });

  test('bad values get 400; a preload hint request completes with the part; segments, parts and init are fMP4', async () => {
    const { msn, hint } = position((await get(url('stream.m3u8'))).body.toString());
    for (const q of ['_HLS_msn=-1', '_HLS_msn=abc', '_HLS_msn=1.5', '_HLS_part=1', `_HLS_msn=${msn + 3}`, '_HLS_msn=99999999999999999999', `_HLS_msn=${msn}&_HLS_part=40`, '_HLS_skip=NO']) {
      const r = await get(url(`stream.m3u8?${q}`));
      assert.equal(r.status, 400, `${q} → ${r.status}`);
      assert.ok(r.ms < 200, `${q} answered at once`);
    }
    assert.ok(hint);
    const part = await get(url(hint));
    assert.equal(part.status, 200);
    assert.equal(part.body.toString('latin1', 4, 8), 'moof');
    assert.equal(part.headers.get('content-type'), 'video/mp4');
    let media = '';
    await waitFor(async () => /#EXTINF/.test((media = (await get(url('stream.m3u8'))).body.toString())), 5000, 'a complete segment');
    const init = await get(url(/#EXT-X-MAP:URI="([^"]+)"/.exec(media)![1]!));
    assert.equal(init.body.toString('latin1', 4, 8), 'ftyp');
    const segment = await get(url(/\n([0-9a-f]{8}-s\d+\.m4s)\n/.exec(media)![1]!));
    assert.equal(segment.status, 200);
    assert.equal(segment.body.toString('latin1', 4, 8), 'moof');
    assert.match(segment.headers.get('cache-control') ?? '', /max-age/);
    for (const f of ['00000000-p1.m4s', 'deadbeef-init0.mp4']) assert.equal((await get(url(f))).status, 404, `${f}: another muxer's file`);
  });

  test('delta update: _HLS_skip=YES leaves out the segments older than CAN-SKIP-UNTIL', async () => {
    await waitFor(async () => position((await get(url('stream.m3u8'))).body.toString()).msn >= 8, 15_000, 'eight segments');
    const full = (await get(url('stream.m3u8'))).body.toString();
    const delta = (await get(url('stream.m3u8?_HLS_skip=YES'))).body.toString();
    const p = position(delta);
    assert.ok(p.skipped >= 1, `skipped ${p.skipped}`);
    assert.ok(delta.length < full.length);
    assert.equal(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(delta)![1], /#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(full)![1]);
  });

});

describe('LL-HLS under a flood (the gateway in a process of its own)', { concurrency: false }, () => {
  let gw: ChildGateway;
  let stopPublisher: () => void;

  before(async () => {
    gw = await spawnGateway({ hls: { segmentTargetMs: 1000, partTargetMs: 200, segmentCount: 7 } });
    const pub = await publishKnown(gw.rtmpUrl(PATH), 40);
    stopPublisher = () => pub.client.close();
    await waitFor(async () => (await fetch(gw.httpUrl(`api/v1/streams/${PATH}`))).status === 200, 5000, 'publisher live');
    await new Promise((r) => setTimeout(r, 1500));
  });

  after(async () => {
    stopPublisher?.();
    await gw?.close();
  });

  test('hostile requests: a path with .., an unknown path, 10,000 concurrent blocking requests; a healthy client never stalls', async (t) => {
    const url = (file: string): string => gw.httpUrl(`${PATH}/${file}`);
    assert.ok([400, 404].includes((await get(gw.httpUrl('live/../etc/index.m3u8'))).status));
    assert.equal((await get(gw.httpUrl('live/nothing/index.m3u8'))).status, 404);
    // A healthy LL-HLS client: blocking reloads, one part after the other.
    let healthy = true;
    let worstGapMs = 0;
    let parts = 0;
    const client = (async () => {
      let { msn, parts: p } = position((await get(url('stream.m3u8'))).body.toString());
      let last = performance.now();
      while (healthy) {
        const r = await get(url(`stream.m3u8?_HLS_msn=${msn}&_HLS_part=${p}`));
        assert.equal(r.status, 200);
        const now = performance.now();
        worstGapMs = Math.max(worstGapMs, now - last);
        last = now;
        parts++;
        ({ msn, parts: p } = position(r.body.toString()));
      }
    })();
    const { msn, parts: p } = position((await get(url('stream.m3u8'))).body.toString());
    // 10,000 blocking requests from another process (its own file descriptors), all for the next part.
    const script = `
      const http = require('node:http');
      const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
      const counts = {};
      let done = 0;
      const t0 = Date.now();
      for (let i = 0; i < 10000; i++) {
        http.get(${JSON.stringify(url(`stream.m3u8?_HLS_msn=${msn}&_HLS_part=${p + 1}`))}, { agent }, (res) => {
          res.resume();
          res.on('end', () => { counts[res.statusCode] = (counts[res.statusCode] || 0) + 1; if (++done === 10000) { console.log(JSON.stringify({ counts, ms: Date.now() - t0 })); } });
        }).on('error', (e) => { counts[e.code] = (counts[e.code] || 0) + 1; if (++done === 10000) console.log(JSON.stringify({ counts, ms: Date.now() - t0 })); });
      }`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    healthy = false;
    await client;
    assert.equal(code, 0);
    const result = JSON.parse(out) as { counts: { [status: string]: number }; ms: number };
    const answered = (result.counts['200'] ?? 0) + (result.counts['503'] ?? 0);
    assert.equal(answered, 10_000, `every request answered cleanly: ${JSON.stringify(result.counts)} in ${result.ms} ms`);
    assert.ok((result.counts['200'] ?? 0) > 9000, `most got their playlist: ${JSON.stringify(result.counts)}`);
    assert.ok(parts > 3, `the healthy client went on (${parts} playlists)`);
    // The gateway runs in its own process (as in production: the publisher and this client are not
    // starved by its event loop), so the healthy client's wait measures the gateway: 10,000 new
    // connections arrive within a second or two, and a part still reaches the client that keeps up.
    // Measured 0.65–0.9 s on the idle 2-core box (one event-loop turn takes the connections of the
    // burst), against 2.6 s with the gateway sharing this process; the bound leaves room for a busy CI.
    assert.ok(worstGapMs < 2500, `its worst wait for a part was ${worstGapMs.toFixed(0)} ms`);
    t.diagnostic(`10,000 blocking requests: ${JSON.stringify(result.counts)} in ${result.ms} ms; the healthy client's worst wait ${worstGapMs.toFixed(0)} ms over ${parts} playlists`);
    const api = (await (await fetch(gw.httpUrl(`api/v1/streams/${PATH}`))).json()) as { outputs: { name: string; stats?: { waiting?: number } }[] };
    assert.equal(api.outputs.find((o) => o.name === 'hls')?.stats?.waiting, 0, 'no request left waiting');
  });
});
