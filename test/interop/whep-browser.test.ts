/**
 * Acceptance (issues 3, 4 and 15): ffmpeg publishes H264 + AAC over RTMP, as MPEG-TS over SRT, or over RTSP (UDP);
 * headless Chromium plays it over WHEP: frames decode at the published size and a WebAudio analyser
 * finds the 1 kHz tone (AAC → Opus).
 * Runs inside a loopback-only network namespace.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, serveStatic, WEBRTC_FLAGS } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { IN_LOOPBACK_NETNS, runInLoopbackNamespace } from '../helpers/netns.js';
import { requireTools } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

const PAGE = `<!doctype html><meta charset="utf-8"><video id="v" muted autoplay playsinline></video>
<script>
  window.play = async (url) => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const stream = new MediaStream();
    pc.ontrack = (e) => {
      stream.addTrack(e.track);
      document.getElementById('v').srcObject = stream;
      if (e.track.kind === 'audio') {
        const ctx = new AudioContext();
        const src = ctx.createMediaStreamSource(new MediaStream([e.track]));
        const analyser = ctx.createAnalyser();
        analyser.fftSize = 8192;
        src.connect(analyser);
        window.analyser = analyser;
        window.audioCtx = ctx;
      }
    };
    await pc.setLocalDescription(await pc.createOffer());
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
    if (res.status !== 201) throw new Error('WHEP POST: ' + res.status + ' ' + await res.text());
    window.location_ = res.headers.get('Location');
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    window.pc = pc;
  };
  window.videoStats = async () => {
    const stats = await window.pc.getStats();
    let v = null;
    stats.forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') v = r; });
    return v ? { framesDecoded: v.framesDecoded || 0, width: v.frameWidth || 0, height: v.frameHeight || 0 } : { framesDecoded: 0, width: 0, height: 0 };
  };
  window.dominantHz = () => {
    const a = window.analyser;
    if (!a) return 0;
    const bins = new Float32Array(a.frequencyBinCount);
    a.getFloatFrequencyData(bins);
    let best = 0;
    for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    return bins[best] > -90 ? (best * window.audioCtx.sampleRate) / a.fftSize : 0;
  };
</script>`;

if (!IN_LOOPBACK_NETNS) {
  test('WHEP in Chromium (run in a loopback-only network namespace)', { timeout: 180_000 }, async (t) => {
    if (!requireTools(t, 'ffmpeg', 'chromium', 'unshare', 'ip')) return;
    const { code, output } = await runInLoopbackNamespace(import.meta.url);
    t.diagnostic(output.split('\n').filter((l) => /✔|✖|ℹ|Error|error|expected|actual/.test(l)).slice(0, 40).join('\n'));
    assert.equal(code, 0, output.slice(-4000));
  });
} else {
  const cases = [
    { via: 'RTMP', audioRate: 48000, aacDecoder: 'wasm' },
    { via: 'RTMP', audioRate: 44100, aacDecoder: 'wasm' },
    { via: 'RTMP', audioRate: 44100, aacDecoder: 'ffmpeg' },
    { via: 'SRT', audioRate: 48000, aacDecoder: 'wasm' },
    { via: 'RTSP', audioRate: 48000, aacDecoder: 'wasm' },
  ] as const;
  for (const { via, audioRate, aacDecoder } of cases) {
    describe(`${via} (AAC ${audioRate} Hz, ${aacDecoder} decoder) → WHEP in Chromium`, { concurrency: false }, () => {
      let gw: TestGateway;
      let pub: Publisher;
      let browser: Browser;
      let site: Awaited<ReturnType<typeof serveStatic>>;
      let page: Page;

      before(async () => {
        // werift leaves loopback out of its host candidates; the namespace has nothing else.
        gw = await startGateway({ webrtc: { additionalHosts: ['127.0.0.1'] }, transcode: { aacDecoder } });
        pub =
          via === 'SRT'
            ? publish(gw.srtUrl('publish:live/whep', 'pkt_size=1316'), { size: '640x360', gop: 30, audioRate, format: 'mpegts' })
            : via === 'RTSP'
              ? publish(gw.rtspUrl('live/whep'), { size: '640x360', gop: 30, audioRate, format: 'rtsp', rtspTransport: 'udp' })
              : publish(gw.rtmpUrl('live/whep'), { size: '640x360', gop: 30, audioRate });
        await waitFor(() => gw.gateway.registry.get('live/whep')?.tracks.length === 2, 10000, 'stream live');
        site = await serveStatic({ '/': ['text/html', PAGE] });
        browser = await launchChromium([...WEBRTC_FLAGS, '--use-fake-ui-for-media-stream']);
        page = await browser.newPage();
        await page.goto(site.url + '/');
      });

      after(async () => {
        await browser?.close();
        site?.server.close();
        await pub?.stop();
        await gw?.close();
      });

      test('video frames decode at the published size, and the 1 kHz tone is heard', async () => {
        await page.evaluate((url) => (window as unknown as { play(u: string): Promise<void> }).play(url), `http://127.0.0.1:${gw.httpPort}/live/whep/whep`);
        type V = { framesDecoded: number; width: number; height: number };
        const stats = () => page.evaluate(() => (window as unknown as { videoStats(): Promise<V> }).videoStats());
        const first = await waitFor(async () => {
          const s = await stats();
          return s.framesDecoded > 10 ? s : null;
        }, 20000, 'decoded frames');
        const later = await waitFor(async () => {
          const s = await stats();
          return s.framesDecoded > first.framesDecoded + 30 ? s : null;
        }, 10000, 'framesDecoded keeps rising');
        assert.equal(later.width, 640);
        assert.equal(later.height, 360);
        const hz = await waitFor(async () => {
          const f = await page.evaluate(() => (window as unknown as { dominantHz(): number }).dominantHz());
          return Math.abs(f - 1000) < 30 ? f : null;
        }, 10000, 'the 1 kHz tone as the dominant frequency');
        assert.ok(Math.abs(hz - 1000) < 30);
      });
    });
  }
}
