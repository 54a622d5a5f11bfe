/**
 * The gateway serves the browser SDK (/sdk/livegate.js and its on-demand chunks) and the demo (/),
 * says what it serves (/api/v1/info), and pushes stream changes as server-sent events
 * (/api/v1/events). Real HTTP on loopback; an RTMP publisher from livegate's own client.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { publishKnown } from '../helpers/h264-source.js';
import { waitFor } from '../helpers/wait.js';

interface Got {
  status: number;
  headers: { [k: string]: string | string[] | undefined };
  body: Buffer;
}

function get(url: string, headers: { [k: string]: string } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    })
      .on('error', reject)
      .end();
  });
}

/** Reads `event: streams` messages from an event stream until `until` says stop. */
function readEvents(url: string, until: (streams: { path: string }[][]) => boolean, onFirst: () => void = () => undefined): Promise<{ path: string }[][]> {
  return new Promise((resolve, reject) => {
    const seen: { path: string }[][] = [];
    const req = request(url, (res) => {
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/event-stream/);
      let text = '';
      res.on('data', (d: Buffer) => {
        text += d.toString();
        let end: number;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (/^event: streams$/m.test(block) && data) {
            seen.push((JSON.parse(data) as { streams: { path: string }[] }).streams);
            if (seen.length === 1) onFirst();
          }
        }
        if (until(seen)) {
          req.destroy();
          resolve(seen);
        }
      });
    });
    req.on('error', (e) => (seen.length > 0 ? undefined : reject(e)));
    req.end();
  });
}

describe('SDK, demo, info and events over HTTP', () => {
  let gw: TestGateway;
  let noDemo: TestGateway;

  before(async () => {
    gw = await startGateway({ webrtc: { enabled: false } });
    noDemo = await startGateway({ http: { demo: false } });
  });
  after(async () => {
    await gw?.close();
    await noDemo?.close();
  });

  test('/sdk/livegate.js is an ES module, gzipped on request, with an ETag that answers 304', async () => {
    const plain = await get(gw.httpUrl('sdk/livegate.js'));
    assert.equal(plain.status, 200);
    assert.match(String(plain.headers['content-type']), /^text\/javascript/);
    assert.equal(plain.headers['cache-control'], 'no-cache');
    const text = plain.body.toString();
    assert.match(text, /export\{/);
    assert.match(text, /LivegatePlayer|LivegatePublisher/);
    const gz = await get(gw.httpUrl('sdk/livegate.js'), { 'Accept-Encoding': 'gzip, br' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.deepEqual(gunzipSync(gz.body), plain.body);
    const again = await get(gw.httpUrl('sdk/livegate.js'), { 'If-None-Match': String(plain.headers.etag) });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    // The lazily loaded players are chunks of their own, named by content: cached for good.
    const chunks = [...text.matchAll(/chunks\/[A-Za-z0-9_-]+\.js/g)].map((m) => m[0]);
    const mpegts = chunks.find((c) => c.startsWith('chunks/mpegts-lib-'));
    assert.ok(mpegts, `an mpegts.js chunk among ${chunks.join(', ')}`);
    const chunk = await get(gw.httpUrl(`sdk/${mpegts}`));
    assert.equal(chunk.status, 200);
    assert.match(String(chunk.headers['cache-control']), /immutable/);
  });

  test('the demo is served at / (and not with http.demo: false); the SDK is served either way', async () => {
    const page = await get(gw.httpUrl(''));
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.body.toString(), /<script type="module" src="\/demo\/app.js">/);
    const app = await get(gw.httpUrl('demo/app.js'));
    assert.equal(app.status, 200);
    assert.match(app.body.toString(), /from"\/sdk\/livegate\.js"/);
    assert.equal((await get(gw.httpUrl('demo/style.css'))).status, 200);
    assert.equal((await get(noDemo.httpUrl(''))).status, 404);
    assert.equal((await get(noDemo.httpUrl('sdk/livegate.js'))).status, 200);
  });

  test('paths outside the built files are 404, not files of the machine', async () => {
    for (const p of ['sdk/../package.json', 'sdk/%2e%2e/%2e%2e/package.json', 'sdk/chunks/nothing.js', 'demo/../../etc/passwd', 'demo/main.ts']) {
      const res = await get(gw.httpUrl(p));
      assert.ok(res.status === 404 || res.status === 400, `${p}: ${res.status}`);
    }
  });

  test('/api/v1/info says what the gateway serves', async () => {
    const info = JSON.parse((await get(gw.httpUrl('api/v1/info'))).body.toString()) as {
      name: string;
      play: { webrtc: boolean; flv: boolean; hls: boolean };
      publish: { rtmp: boolean };
      ports: { rtmp: number; http: number };
    };
    assert.equal(info.name, 'livegate');
    assert.deepEqual(info.play, { webrtc: false, flv: true, hls: true });
    assert.equal(info.publish.rtmp, true);
    assert.equal(info.ports.rtmp, gw.rtmpPort);
    assert.equal(info.ports.http, gw.httpPort);
    const other = JSON.parse((await get(noDemo.httpUrl('api/v1/info'))).body.toString()) as { play: { webrtc: boolean } };
    assert.equal(other.play.webrtc, true);
  });

  test('/api/v1/events: a snapshot at once, another as soon as a path goes live (not at the next interval)', async () => {
    let started = 0;
    let pub: Awaited<ReturnType<typeof publishKnown>> | undefined;
    const seen = await readEvents(
      gw.httpUrl('api/v1/events?path=live/sse&interval=60000'),
      (all) => all.some((s) => s.some((x) => x.path === 'live/sse')),
      () => {
        started = performance.now();
        void publishKnown(gw.rtmpUrl('live/sse')).then((p) => (pub = p));
      },
    );
    const ms = performance.now() - started;
    assert.deepEqual(seen[0], [], 'the first snapshot: not live');
    assert.equal(seen.at(-1)![0]!.path, 'live/sse');
    assert.ok(ms < 5000, `live seen after ${Math.round(ms)} ms`);
    await waitFor(() => pub, 5000, 'publisher');
    pub!.client.close();
    await pub!.done.catch(() => undefined);
  });

  test('/api/v1/events refuses a bad path with 400', async () => {
    const res = await get(gw.httpUrl('api/v1/events?path=../x'));
    assert.equal(res.status, 400);
  });
});
