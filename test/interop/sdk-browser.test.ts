/**
 * Acceptance (issue 11): the browser SDK and the demo app in headless Chromium, against real ffmpeg
 * publishers, in a loopback-only network namespace.
 * - The demo's publish page (fake camera) publishes; the demo's play page in a second browser
 *   context plays it over WebRTC at the camera size with sound, loading neither mpegts.js nor hls.js.
 * - The publisher switches camera on the same WHIP session; a second publisher gets
 *   LivegateError('busy'); closing the tab ends the stream for its FLV reader.
 * - The ladder: WebRTC disabled in the gateway, and a WHEP answer that never connects, both land
 *   on FLV with a `fallback` event, frames, the 1 kHz tone and latency under 1.5 s.
 * - Reconnect: ffmpeg killed and restarted 3 s later; WebRTC and FLV players resume on their own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, WEBRTC_FLAGS } from '../helpers/browser.js';
import { openPlayer, playing, view } from '../helpers/demo-page.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { readHttpFlv } from '../helpers/flv-client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { IN_LOOPBACK_NETNS, runInLoopbackNamespace } from '../helpers/netns.js';
import { requireTools } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';

/**
 * Fake cameras to switch between and a fake microphone, granted without a prompt. Chromium's second
 * fake camera delivers Y16 (a depth format its encoder never encodes: the picture stops); the third
 * delivers MJPEG, as real webcams do, and is the one switched to.
 */
const MEDIA_FLAGS = ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream=device-count=3'];

if (!IN_LOOPBACK_NETNS) {
  test('browser SDK and demo in Chromium (run in a loopback-only network namespace)', { timeout: 420_000 }, async (t) => {
    if (!requireTools(t, 'ffmpeg', 'chromium', 'unshare', 'ip')) return;
    const { code, output } = await runInLoopbackNamespace(import.meta.url);
    t.diagnostic(output.split('\n').filter((l) => /✔|✖|ℹ|Error|error|expected|actual/.test(l)).slice(0, 60).join('\n'));
    assert.equal(code, 0, output.slice(-5000));
  });
} else {
  describe('browser SDK and demo', { concurrency: false }, () => {
    const MEDIA_TIMEOUT = 2000;
    let gw: TestGateway;
    let browser: Browser;

    before(async () => {
      gw = await startGateway({ webrtc: { additionalHosts: ['127.0.0.1'], publisherMediaTimeoutMs: MEDIA_TIMEOUT } });
      await gw.gateway.web!.load();
      browser = await launchChromium([...WEBRTC_FLAGS, ...MEDIA_FLAGS]);
    });
    after(async () => {
      await browser?.close();
      await gw?.close();
    });

    describe('the demo publishes from the camera and plays it back over WebRTC', { concurrency: false }, () => {
      let publisherPage: Page;
      let player: Awaited<ReturnType<typeof openPlayer>>;
      let camera: { width: number; height: number; devices: { id: string; label: string }[] };

      test('the publish page goes live with the fake camera and microphone', async () => {
        const context = await browser.newContext();
        publisherPage = await context.newPage();
        await publisherPage.goto(gw.httpUrl('#/publish'));
        await publisherPage.fill('#publish-path', 'live/demo');
        await publisherPage.selectOption('#publish-resolution', '640x360');
        await publisherPage.click('#publish-start');
        await publisherPage.waitForFunction(() => document.getElementById('publish-status')?.textContent === 'Live on live/demo.', undefined, { timeout: 20_000 });
        camera = await publisherPage.evaluate(async () => {
          const w = window as unknown as { demo: { publisher: { mediaStream: MediaStream } } };
          const s = w.demo.publisher.mediaStream.getVideoTracks()[0]!.getSettings();
          const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput').map((d) => ({ id: d.deviceId, label: d.label }));
          return { width: s.width ?? 0, height: s.height ?? 0, devices };
        });
        assert.equal(camera.width, 640);
        assert.equal(camera.height, 360);
        const stream = await waitFor(() => {
          const s = gw.gateway.registry.get('live/demo');
          return s && s.tracks.length === 2 ? s : null;
        }, 15_000, 'WHIP stream with two tracks');
        assert.equal(stream.publisher.protocol, 'whip');
        assert.deepEqual(stream.tracks.map((t) => t.codec).sort(), ['h264', 'opus']);
      });

      test('the play page (a second context) plays it over WebRTC at the camera size, with sound, without mpegts.js or hls.js', async () => {
        player = await openPlayer(browser, gw, 'live/demo');
        const v = await playing(player.page, 'webrtc', 20_000);
        await waitFor(async () => ((await view(player.page)).width === camera.width ? true : null), 10_000, 'stats at the camera size');
        const now = await view(player.page);
        assert.equal(now.width, camera.width);
        assert.equal(now.height, camera.height);
        assert.ok(v.peak > 0.05, `peak ${v.peak}`);
        assert.ok(!v.events.some((e) => e.type === 'fallback'), JSON.stringify(v.events));
        const sdk = player.requests.filter((u) => u.includes('/sdk/'));
        assert.ok(sdk.some((u) => u.endsWith('/sdk/livegate.js')), sdk.join(' '));
        assert.deepEqual(player.requests.filter((u) => /mpegts|hls/i.test(u)), [], 'no FLV or HLS player downloaded');
      });

      test('switchCamera keeps the same WHIP session, and the viewer keeps getting frames', async () => {
        const stream = gw.gateway.registry.get('live/demo')!;
        const publisherId = stream.publisher.id;
        const before = await publisherPage.evaluate(() => (window as unknown as { demo: { publisher: { sessionUrl: string } } }).demo.publisher.sessionUrl);
        const other = camera.devices.find((d) => d.label === 'fake_device_2');
        assert.ok(other, JSON.stringify(camera.devices));
        await publisherPage.evaluate(async (id) => {
          const w = window as unknown as { demo: { publisher: { switchCamera(id: string): Promise<void> } } };
          await w.demo.publisher.switchCamera(id);
        }, other.id);
        const label = await publisherPage.evaluate(() => (window as unknown as { demo: { publisher: { mediaStream: MediaStream } } }).demo.publisher.mediaStream.getVideoTracks()[0]!.label);
        assert.equal(label, 'fake_device_2');
        const after = await publisherPage.evaluate(() => (window as unknown as { demo: { publisher: { sessionUrl: string } } }).demo.publisher.sessionUrl);
        assert.equal(after, before);
        const presented = (await view(player.page)).presented;
        await waitFor(async () => ((await view(player.page)).presented > presented + 30 ? true : null), 10_000, 'frames after the switch');
        assert.equal(gw.gateway.registry.get('live/demo'), stream);
        assert.equal(stream.publisher.id, publisherId);
      });

      test('a second publisher of the live path gets LivegateError("busy")', async () => {
        const page = await (await browser.newContext()).newPage();
        await page.goto(gw.httpUrl(''));
        const result = await page.evaluate(async () => {
          const sdk = (await import('/sdk/livegate.js' as string)) as typeof import('@livegate/sdk');
          const p = new sdk.LivegatePublisher({ server: location.origin, path: 'live/demo' });
          try {
            await p.start({ width: 320, height: 240 });
            return { ok: true };
          } catch (e) {
            const err = e as InstanceType<typeof sdk.LivegateError>;
            return { ok: false, isLivegateError: err instanceof sdk.LivegateError, code: err.code, status: err.status, state: p.state };
          }
        });
        assert.deepEqual(result, { ok: false, isLivegateError: true, code: 'busy', status: 409, state: 'failed' });
        await page.context().close();
      });

      test('closing the publishing tab ends the stream for its FLV reader within the media timeout', async () => {
        const reader = readHttpFlv(gw.httpUrl('live/demo.flv'));
        await waitFor(() => (reader.tags.length > 10 ? true : null), 10_000, 'FLV tags');
        const closedAt = performance.now();
        await publisherPage.close();
        let endedAt = 0;
        void reader.ended.then(() => (endedAt = performance.now()));
        await waitFor(() => (endedAt > 0 ? true : null), MEDIA_TIMEOUT + 3000, 'FLV reader ended');
        const ms = endedAt - closedAt;
        assert.ok(ms < MEDIA_TIMEOUT + 1500, `FLV reader ended ${Math.round(ms)} ms after the tab closed`);
        await player.context.close();
      });
    });

    describe('the ladder climbs down to FLV', { concurrency: false }, () => {
      for (const c of [
        { name: 'WebRTC disabled in the gateway', config: { webrtc: { enabled: false } }, reason: /does not serve WebRTC/ },
        {
          name: 'a WHEP answer that never connects (ICE to a dead address)',
          config: { webrtc: { additionalHosts: ['10.255.255.1'] } },
          reason: /no frame over webrtc within 5000 ms|WebRTC connection failed/,
        },
      ]) {
        test(`${c.name}: fallback with the reason, frames, the tone, latency under 1.5 s`, async (t) => {
          const gw2 = await startGateway(c.config);
          let ffmpeg: Publisher | undefined;
          let page: Awaited<ReturnType<typeof openPlayer>> | undefined;
          try {
            // The player comes first: the stream is not live yet, and is waited for.
            page = await openPlayer(browser, gw2, 'live/ladder');
            await waitFor(async () => ((await view(page!.page)).state === 'waiting' ? true : null), 10_000, 'waiting for the stream');
            ffmpeg = publish(gw2.rtmpUrl('live/ladder'), { size: '640x360', gop: 30 });
            const live = await waitFor(() => (gw2.gateway.registry.get('live/ladder')?.tracks.length === 2 ? performance.now() : null), 15_000, 'stream live');
            const v = await playing(page.page, 'flv', 15_000);
            const ms = performance.now() - live;
            const fallback = v.events.find((e) => e.type === 'fallback');
            assert.ok(fallback, JSON.stringify(v.events));
            assert.match(fallback.detail, /^webrtc → flv: /);
            assert.match(fallback.detail, c.reason);
            assert.ok(ms < 5000 + 5000, `FLV playing ${Math.round(ms)} ms after the stream went live`);
            assert.ok(Math.abs(v.toneHz - 1000) < 30, `tone at ${v.toneHz} Hz`);
            assert.equal(v.width, 640);
            // The latency the player reports, once it has held the live edge for a few seconds.
            await sleep(4000);
            const later = await view(page.page);
            assert.equal(later.state, 'playing');
            assert.ok(later.latencyMs !== null && later.latencyMs < 1500, `latency ${later.latencyMs} ms`);
            assert.ok(later.presented > v.presented + 60, 'still presenting frames');
            t.diagnostic(`${c.name}: FLV playing ${Math.round(ms)} ms after the stream went live; fallback "${fallback.detail}"; tone ${v.toneHz.toFixed(0)} Hz; latency ${later.latencyMs} ms`);
          } finally {
            await page?.context.close();
            await ffmpeg?.stop();
            await gw2.close();
          }
        });
      }
    });

    test('reconnect: ffmpeg killed and back 3 s later; WebRTC and FLV players resume by themselves within 5 s', async (t) => {
      let ffmpeg = publish(gw.rtmpUrl('live/re'), { size: '640x360', gop: 30 });
      const pages: Awaited<ReturnType<typeof openPlayer>>[] = [];
      try {
        await waitFor(() => gw.gateway.registry.get('live/re')?.tracks.length === 2, 15_000, 'stream live');
        pages.push(await openPlayer(browser, gw, 'live/re', 'webrtc'), await openPlayer(browser, gw, 'live/re', 'flv'));
        await playing(pages[0]!.page, 'webrtc', 20_000);
        await playing(pages[1]!.page, 'flv', 20_000);
        ffmpeg.child.kill('SIGKILL');
        await ffmpeg.exited;
        await sleep(3000);
        const backAt = Date.now();
        ffmpeg = publish(gw.rtmpUrl('live/re'), { size: '640x360', gop: 30 });
        for (const [i, name] of ['webrtc', 'flv'].entries()) {
          const page = pages[i]!.page;
          const resumedAt = await waitFor(async () => {
            const v = await view(page);
            return v.lastFrameAt > backAt && v.state === 'playing' ? v.lastFrameAt : null;
          }, 15_000, `${name} resumed`, 50);
          const first = await page.evaluate(() => (window as unknown as { demo: { events: { type: string; at: number }[] } }).demo.events);
          assert.ok(resumedAt - backAt < 5000, `${name} resumed ${resumedAt - backAt} ms after the publisher came back; events ${JSON.stringify(first)}`);
          const v = await view(page);
          assert.equal(v.protocol, name, 'on the same rung');
          t.diagnostic(`${name}: resumed ${resumedAt - backAt} ms after the publisher came back`);
        }
      } finally {
        for (const p of pages) await p.context.close();
        await ffmpeg.stop();
      }
    });
  });
}
