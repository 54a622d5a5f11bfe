/**
 * Acceptance (issue 12): LL-HLS in headless Chromium, in a loopback-only network namespace.
 * - hls.js (its own build, low-latency mode) plays ffmpeg's RTMP H264 + AAC stream from
 *   `/{path}/index.m3u8`: frames at the published size, the 1 kHz tone, `hls.latency` under 1.5 s
 *   with 200 ms parts.
 * - The SDK's HLS rung (the demo's play page, protocol HLS) plays the same stream, with sound.
 * - A WHIP publisher (Chromium's fake camera and microphone: H264 + Opus) plays over HLS with sound:
 *   its Opus reaches HLS as the stream's AAC rendition.
 * - A VP8 WHIP publisher is served audio only: the playlist names AAC alone, and the API says why the
 *   video is left out.
 * - A recording (issue 16) of the stream plays back in hls.js from `/recordings/…/index.m3u8`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { FAKE_MEDIA_FLAGS, launchChromium, readModule, serveStatic, WEBRTC_FLAGS } from '../helpers/browser.js';
import { openPlayer, playing, probe, view } from '../helpers/demo-page.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { IN_LOOPBACK_NETNS, runInLoopbackNamespace } from '../helpers/netns.js';
import { requireTools } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

/** A page with hls.js alone: the element has the demo's id, so the demo's frame and sound probe works on it. */
const HLS_PAGE = `<!doctype html><meta charset="utf-8"><video id="play-video" autoplay playsinline></video>
<script src="/hls.js"></script>
<script>
  window.play = (url) => {
    const video = document.getElementById('play-video');
    // Low-latency mode, and allowed to play up to 1.2× to get back to PART-HOLD-BACK after a stall.
    const hls = new Hls({ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.2 });
    window.hls = hls;
    window.hlsErrors = [];
    hls.on(Hls.Events.ERROR, (_e, d) => window.hlsErrors.push(d.details + (d.fatal ? ' (fatal)' : '')));
    hls.loadSource(url);
    hls.attachMedia(video);
    video.play().catch(() => {});
  };
</script>`;

interface HlsView {
  presented: number;
  peak: number;
  toneHz: number;
  width: number;
  height: number;
  latency: number;
  lowLatency: boolean;
  errors: string[];
}

function hlsView(page: Page): Promise<HlsView> {
  return page.evaluate(() => {
    const w = window as unknown as { hls: { latency: number; lowLatencyMode: boolean }; hlsErrors: string[]; probe?: { presented: number; peak: number; toneHz: number } };
    const v = document.getElementById('play-video') as HTMLVideoElement;
    return {
      presented: w.probe?.presented ?? 0,
      peak: w.probe?.peak ?? 0,
      toneHz: w.probe?.toneHz ?? 0,
      width: v.videoWidth,
      height: v.videoHeight,
      latency: w.hls.latency,
      lowLatency: w.hls.lowLatencyMode,
      errors: w.hlsErrors,
    };
  });
}

/**
 * Polls `check` every 250 ms until it has held 8 times in a row (2 s), and returns its last value;
 * fails after 30 s with the samples seen.
 */
async function holds<T>(check: () => Promise<T | null>, samples: number[], what: string): Promise<T> {
  const deadline = performance.now() + 30_000;
  let run = 0;
  for (;;) {
    const v = await check();
    run = v === null ? 0 : run + 1;
    if (v !== null && run >= 8) return v;
    if (performance.now() > deadline) throw new Error(`${what} did not hold for 2 s within 30 s; samples: ${samples.map((x) => x.toFixed(2)).join(' ')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

if (!IN_LOOPBACK_NETNS) {
  test('LL-HLS in Chromium (run in a loopback-only network namespace)', { timeout: 300_000 }, async (t) => {
    if (!requireTools(t, 'ffmpeg', 'chromium', 'unshare', 'ip')) return;
    const { code, output } = await runInLoopbackNamespace(import.meta.url);
    t.diagnostic(output.split('\n').filter((l) => /✔|✖|ℹ|Error|error|expected|actual/.test(l)).slice(0, 60).join('\n'));
    assert.equal(code, 0, output.slice(-5000));
  });
} else {
  describe('LL-HLS in Chromium', { concurrency: false }, () => {
    let gw: TestGateway;
    let browser: Browser;
    let source: Publisher;

    before(async () => {
      gw = await startGateway({ webrtc: { additionalHosts: ['127.0.0.1'] }, hls: { partTargetMs: 200, segmentTargetMs: 1000 }, recording: { dir: mkdtempSync(join(tmpdir(), 'livegate-rec-')), segmentDurationMs: 2000 } });
      await gw.gateway.web!.load();
      browser = await launchChromium([...WEBRTC_FLAGS, ...FAKE_MEDIA_FLAGS, '--autoplay-policy=no-user-gesture-required']);
      source = publish(gw.rtmpUrl('live/hls'), { size: '640x360', rate: 25, gop: 25 });
      await waitFor(() => gw.gateway.registry.get('live/hls')?.tracks.length === 2, 10_000, 'the ffmpeg source live');
    });
    after(async () => {
      await source?.stop();
      await browser?.close();
      await gw?.close();
    });

    /** Opens the hls.js page on `url` and waits until it presents frames at 640 px with the 1 kHz tone. */
    async function playUntilToneAndFrames(url: string, siteUrl: string, what: string): Promise<{ page: Page; last: HlsView }> {
      const page = await (await browser.newContext()).newPage();
      await page.goto(siteUrl + '/');
      await page.evaluate((u) => (window as unknown as { play(u: string): void }).play(u), url);
      await probe(page);
      let last: HlsView | null = null;
      await waitFor(
        async () => {
          last = await hlsView(page);
          return last.presented > 50 && last.width === 640 && Math.abs(last.toneHz - 1000) < 30 ? true : null;
        },
        20_000,
        what,
        100,
      ).catch((err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(last)}`);
      });
      return { page, last: last! };
    }

    test('hls.js in low-latency mode: frames at 640x360, the 1 kHz tone, latency under 1.5 s', async (t) => {
      const site = await serveStatic({ '/': ['text/html', HLS_PAGE], '/hls.js': ['text/javascript', readModule('hls.js/dist/hls.min.js')] });
      try {
        const { page } = await playUntilToneAndFrames(gw.httpUrl('live/hls/index.m3u8'), site.url, 'frames and the tone');
        // Latency once settled (hls.js measures it from EXT-X-PROGRAM-DATE-TIME and the playhead): under
        // 1.5 s for 2 s on end. A stall (the 2-core box busy) costs latency that hls.js then wins back
        // by playing at up to 1.2×: that is waited for, not a guessed settling time.
        const samples: number[] = [];
        const settled = await holds(async () => {
          const v = await hlsView(page);
          samples.push(v.latency);
          return v.latency > 0 && v.latency < 1.5 ? v : null;
        }, samples, 'hls.latency under 1.5 s');
        assert.equal(settled.lowLatency, true);
        assert.equal(settled.height, 360);
        assert.deepEqual(settled.errors.filter((e) => e.includes('fatal')), []);
        t.diagnostic(`hls.js: latency ${settled.latency.toFixed(3)} s, tone ${settled.toneHz.toFixed(0)} Hz, ${settled.presented} frames, non-fatal errors: ${settled.errors.join(', ') || 'none'}`);
        await page.context().close();
      } finally {
        site.server.close();
      }
    });

    test('a recording of the stream plays back in hls.js: frames at 640x360 and the tone', async () => {
      const started = (await (await fetch(gw.httpUrl('api/v1/streams/live/hls/record'), { method: 'POST' })).json()) as { playlist: string };
      await new Promise((r) => setTimeout(r, 8000));
      const done = (await (await fetch(gw.httpUrl('api/v1/streams/live/hls/record'), { method: 'DELETE' })).json()) as { state: string; durationSeconds: number };
      assert.equal(done.state, 'done');
      assert.ok(done.durationSeconds > 5, `recorded ${done.durationSeconds} s`);
      const site = await serveStatic({ '/': ['text/html', HLS_PAGE], '/hls.js': ['text/javascript', readModule('hls.js/dist/hls.min.js')] });
      try {
        const { page, last } = await playUntilToneAndFrames(gw.httpUrl(started.playlist.slice(1)), site.url, 'frames and the tone from the recording');
        assert.deepEqual(last.errors.filter((e) => e.includes('fatal')), []);
        await page.context().close();
      } finally {
        site.server.close();
      }
    });

    test('the SDK\'s HLS rung (the demo\'s play page) plays it with sound, latency under 1.5 s', async (t) => {
      const player = await openPlayer(browser, gw, 'live/hls', 'hls');
      const v = await playing(player.page, 'hls', 20_000);
      assert.equal(v.width, 640);
      const samples: number[] = [];
      const now = await holds(async () => {
        const v = await view(player.page);
        samples.push(v.latencyMs ?? NaN);
        return v.latencyMs !== null && v.latencyMs < 1500 ? v : null;
      }, samples, 'the SDK’s latency under 1.5 s');
      assert.ok(Math.abs(now.toneHz - 1000) < 30, `tone ${now.toneHz} Hz`);
      assert.ok(player.requests.some((u) => u.includes('/live/hls/stream.m3u8?_HLS_msn=')), 'blocking playlist reloads');
      t.diagnostic(`SDK HLS rung: latency ${now.latencyMs} ms`);
      await player.context.close();
    });

    test('a WHIP publisher (fake camera, Opus) plays over HLS with sound, from the AAC rendition', async () => {
      const publisher = await (await browser.newContext()).newPage();
      await publisher.goto(gw.httpUrl(''));
      await publisher.evaluate(async () => {
        const sdk = (await import('/sdk/livegate.js' as string)) as typeof import('@livegate/sdk');
        const p = new sdk.LivegatePublisher({ server: location.origin, path: 'live/cam' });
        await p.start({ width: 640, height: 360 });
        (window as unknown as { publisher: unknown }).publisher = p;
      });
      const stream = await waitFor(() => {
        const s = gw.gateway.registry.get('live/cam');
        return s && s.tracks.length === 2 ? s : null;
      }, 15_000, 'the WHIP stream with two tracks');
      assert.deepEqual(stream.tracks.map((x) => x.codec).sort(), ['h264', 'opus']);
      const player = await openPlayer(browser, gw, 'live/cam', 'hls');
      const v = await playing(player.page, 'hls', 30_000);
      assert.ok(v.peak > 0.05, `peak ${v.peak}`);
      const index = await (await fetch(gw.httpUrl('live/cam/index.m3u8'))).text();
      assert.match(index, /CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);
      const api = (await (await fetch(gw.httpUrl('api/v1/streams/live/cam'))).json()) as { transcoders: { from: string; to: string }[] };
      assert.ok(api.transcoders.some((x) => x.from === 'opus' && x.to === 'aac'));
      await player.context.close();
      await publisher.context().close();
    });

    test('a VP8 WHIP publisher is served over HLS audio only, said in the playlist and in the API', async () => {
      const publisher = await (await browser.newContext()).newPage();
      await publisher.goto(gw.httpUrl(''));
      await publisher.evaluate(async () => {
        const sdk = (await import('/sdk/livegate.js' as string)) as typeof import('@livegate/sdk');
        await new sdk.LivegatePublisher({ server: location.origin, path: 'live/vp8', videoCodec: 'vp8' }).start({ width: 320, height: 240 });
      });
      const stream = await waitFor(() => {
        const s = gw.gateway.registry.get('live/vp8');
        return s && s.tracks.length === 2 ? s : null;
      }, 15_000, 'the VP8 stream with two tracks');
      assert.deepEqual(stream.tracks.map((x) => x.codec).sort(), ['opus', 'vp8']);
      const index = await (await fetch(gw.httpUrl('live/vp8/index.m3u8'))).text();
      assert.match(index, /CODECS="mp4a\.40\.2"\n/, index);
      assert.doesNotMatch(index, /RESOLUTION|avc1|vp08/);
      const media = await (await fetch(gw.httpUrl('live/vp8/stream.m3u8'))).text();
      assert.match(media, /#EXT-X-PART:DURATION=0\.1\d*,URI="[0-9a-f]{8}-p\d+\.m4s",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0\.1\d*,URI="[0-9a-f]{8}-p\d+\.m4s",INDEPENDENT=YES/, `audio-only parts (whole AAC frames under 200 ms), each independent: ${media}`);
      const api = (await (await fetch(gw.httpUrl('api/v1/streams/live/vp8'))).json()) as { readers: { list: { protocol: string; omittedTracks: { codec: string; reason: string }[] }[] } };
      const hls = api.readers.list.find((r) => r.protocol === 'hls');
      assert.equal(hls?.omittedTracks[0]?.codec, 'vp8');
      assert.match(hls!.omittedTracks[0]!.reason, /HLS carries H264 and H265 video/);
      await publisher.context().close();
    });
  });
}
