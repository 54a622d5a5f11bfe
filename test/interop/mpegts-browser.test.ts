/**
 * WS-FLV and HTTP-FLV in a real browser: headless Chromium plays a livegate stream with mpegts.js
 * (the player web teams use for FLV), decoding video frames of the published size with audio.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, readModule, serveStatic } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

const PAGE = `<!doctype html><meta charset="utf-8"><video id="v" muted autoplay playsinline></video>
<script src="/mpegts.js"></script>
<script>
  window.play = (url) => {
    const video = document.getElementById('v');
    const player = mpegts.createPlayer({ type: 'flv', isLive: true, url }, { enableWorker: false, liveBufferLatencyChasing: true });
    player.attachMediaElement(video);
    player.load();
    video.play().catch(() => {});
    window.player = player;
  };
  window.stats = () => {
    const v = document.getElementById('v');
    const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : { totalVideoFrames: 0 };
    return { frames: q.totalVideoFrames, width: v.videoWidth, height: v.videoHeight, time: v.currentTime,
             audioTracks: window.player && window.player.mediaInfo ? window.player.mediaInfo.hasAudio : null };
  };
</script>`;

describe('mpegts.js in Chromium plays livegate FLV', { concurrency: false }, () => {
  let gw: TestGateway;
  let pub: Publisher;
  let browser: Browser;
  let site: Awaited<ReturnType<typeof serveStatic>>;

  before(async () => {
    if (!(hasTool('ffmpeg') && hasTool('chromium')) && process.env.CI !== 'true') return;
    gw = await startGateway();
    pub = publish(gw.rtmpUrl('live/web'), { size: '640x360', gop: 30 });
    await waitFor(() => gw.gateway.registry.get('live/web')?.tracks.length === 2, 10000, 'stream live');
    site = await serveStatic({
      '/': ['text/html', PAGE],
      '/mpegts.js': ['text/javascript', readModule('mpegts.js/dist/mpegts.js')],
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    site?.server.close();
    await pub?.stop();
    await gw?.close();
  });

  for (const scheme of ['ws', 'http'] as const) {
    test(`${scheme === 'ws' ? 'WS-FLV' : 'HTTP-FLV'}: frames decode at 640x360, with audio`, async (t) => {
      if (!requireTools(t, 'ffmpeg', 'chromium')) return;
      const page = await browser.newPage();
      try {
        await page.goto(site.url + '/');
        await page.evaluate((url) => (window as unknown as { play(u: string): void }).play(url), `${scheme}://127.0.0.1:${gw.httpPort}/live/web.flv`);
        type Stats = { frames: number; width: number; height: number; time: number; audioTracks: boolean | null };
        const getStats = () => page.evaluate(() => (window as unknown as { stats(): Stats }).stats());
        const first = await waitFor(async () => {
          const s = await getStats();
          return s.frames > 10 ? s : null;
        }, 15000, 'decoded frames');
        const later = await waitFor(async () => {
          const s = await getStats();
          return s.frames > first.frames + 30 ? s : null;
        }, 10000, 'frames keep rising');
        assert.equal(later.width, 640);
        assert.equal(later.height, 360);
        assert.equal(later.audioTracks, true);
        assert.ok(later.time > first.time, 'playback time advances');
      } finally {
        await page.close();
      }
    });
  }
});
