/**
 * SDK time to first frame: from `new LivegatePlayer()` to the first decoded frame presented
 * (requestVideoFrameCallback), per rung of the ladder.
 *
 * ffmpeg publishes a live 640x360 25 fps H264 (no B-frames, a keyframe every 2 s) + AAC test source
 * over RTMP to a livegate started in this process. For each rung (BENCH_SDK_RUNGS, default
 * `webrtc,flv`) and each run (BENCH_RUNS, default 10), a fresh browser context (cold HTTP cache, as a
 * first visit) opens a page that imports the gateway's `/sdk/livegate.js` — not timed — then creates
 * a one-rung player and records the time to its first presented frame, and the SDK's `state` events
 * on the way. The first WebRTC run also starts the stream's AAC → Opus transcoder (the later ones find
 * it running, within its linger), so it is reported apart as `cold`. Prints p50 / p90 / min / max.
 *
 * WebRTC peers gather candidates on every interface, so this re-runs itself inside a network
 * namespace with only loopback (`unshare -n`, root). About 40 s.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseConfig } from '../gateway/src/config/load.js';
import { createLogger } from '../gateway/src/core/log.js';
import { Gateway } from '../gateway/src/server.js';
import { launchChromium, serveStatic, WEBRTC_FLAGS } from '../test/helpers/browser.js';

const root = new URL('..', import.meta.url).pathname;
if (process.env.LIVEGATE_NETNS !== '1') {
  const r = spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec "${process.execPath}" --import tsx "${join(root, 'bench/sdk-first-frame.ts')}"`], {
    stdio: 'inherit',
    env: { ...process.env, LIVEGATE_NETNS: '1' },
  });
  process.exit(r.status ?? 1);
}

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const RUNGS = (process.env.BENCH_SDK_RUNGS ?? 'webrtc,flv').split(',');
const STREAM = 'live/first-frame';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const deadline = setTimeout(() => {
  console.error('sdk-first-frame: over the deadline, stopping');
  process.exit(2);
}, (RUNS * RUNGS.length * 15 + 60) * 1000);
deadline.unref();

const gw = await Gateway.start(
  parseConfig({
    host: '127.0.0.1',
    logLevel: 'warn',
    rtmp: { port: 0 },
    srt: { enabled: false },
    http: { port: 0 },
    webrtc: { additionalHosts: ['127.0.0.1'] },
  }),
  { log: createLogger('warn') },
);
const server = `http://127.0.0.1:${gw.ports.http}`;

// prettier-ignore
const ffmpeg = spawn('ffmpeg', [
  '-hide_banner', '-loglevel', 'error', '-re',
  '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000',
  '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-bf', '0', '-g', '50', '-b:v', '1000k',
  '-c:a', 'aac', '-b:a', '128k', '-f', 'flv', `rtmp://127.0.0.1:${gw.ports.rtmp}/${STREAM}`,
], { stdio: ['ignore', 'ignore', 'inherit'] });
for (let i = 0; gw.registry.get(STREAM)?.tracks.length !== 2; i++) {
  if (i > 200) throw new Error('the ffmpeg source did not go live');
  await sleep(50);
}
await sleep(2500); // a whole GOP in the cache, as for a viewer arriving at any moment

const PAGE = `<!doctype html><meta charset="utf-8"><video id="v" muted autoplay playsinline></video>
<script type="module">
  const video = document.getElementById('v');
  // Milestones on the way (fetches, the peer connection, the WebSocket), relative to the player's start.
  window.marks = [];
  const mark = (what) => window.t0 !== undefined && window.marks.push([what, Math.round(performance.now() - window.t0)]);
  const realFetch = window.fetch;
  window.fetch = async (input, init) => {
    const url = String(input instanceof Request ? input.url : input).replace('${server}', '');
    mark('fetch ' + (init?.method ?? 'GET') + ' ' + url);
    const res = await realFetch(input, init);
    mark('answer ' + res.status + ' ' + url);
    return res;
  };
  const RealPc = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends RealPc {
    constructor(config) {
      super(config);
      this.addEventListener('connectionstatechange', () => mark('pc ' + this.connectionState));
      this.addEventListener('track', (e) => mark('track ' + e.track.kind));
      this.addEventListener('icecandidate', (e) => mark('candidate ' + (e.candidate ? e.candidate.type : 'end')));
      this.addEventListener('icegatheringstatechange', () => mark('gathering ' + this.iceGatheringState));
    }
    async createOffer(...a) {
      mark('createOffer');
      const o = await super.createOffer(...a);
      mark('offer created');
      return o;
    }
    async setLocalDescription(...a) {
      const r = await super.setLocalDescription(...a);
      mark('local description set');
      return r;
    }
  };
  for (const e of ['loadedmetadata', 'canplay', 'playing', 'seeking', 'seeked', 'waiting'])
    video.addEventListener(e, () => mark('video ' + e + ' at ' + video.currentTime.toFixed(2) + (video.buffered.length ? ' of ' + video.buffered.start(0).toFixed(2) + '–' + video.buffered.end(video.buffered.length - 1).toFixed(2) : '')));
  const RealWs = window.WebSocket;
  window.WebSocket = class extends RealWs {
    constructor(url, protocols) {
      super(url, protocols);
      mark('ws new');
      this.addEventListener('open', () => mark('ws open'));
      let first = true;
      this.addEventListener('message', () => first && ((first = false), mark('ws first message')));
    }
  };
  window.ready = import('${server}/sdk/livegate.js');
  window.measure = async (protocol) => {
    const { LivegatePlayer } = await window.ready;
    const states = [];
    return new Promise((resolve, reject) => {
      const t0 = (window.t0 = performance.now());
      window.marks = [];
      const player = new LivegatePlayer(video, { server: '${server}', path: '${STREAM}', protocols: [protocol], muted: true });
      window.player = player;
      player.on('state', (s) => states.push([s.state, Math.round(performance.now() - t0)]));
      player.on('fallback', (e) => reject(new Error(protocol + ' failed: ' + e.reason)));
      video.requestVideoFrameCallback(() => resolve({ ms: performance.now() - t0, states: window.marks.concat(states), width: video.videoWidth }));
    });
  };
</script>`;
const site = await serveStatic({ '/': ['text/html', PAGE] });
const browser = await launchChromium([...WEBRTC_FLAGS, '--autoplay-policy=no-user-gesture-required']);

type Run = { ms: number; states: [string, number][]; width: number };
type W = Window & { ready: Promise<unknown>; measure(p: string): Promise<Run>; player: { destroy(): void } };
const results: Record<string, number[]> = {};
const stateLog: Record<string, [string, number][]> = {};
for (const rung of RUNGS) {
  for (let i = 0; i < RUNS; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error(`${rung} page:`, e.message));
    await page.goto(site.url + '/');
    await page.evaluate(() => (window as unknown as W).ready.then(() => undefined));
    const run = await page.evaluate((p) => (window as unknown as W).measure(p), rung);
    if (run.width !== 640) throw new Error(`${rung}: the first frame is ${run.width} wide`);
    const key = rung === 'webrtc' && i === 0 ? 'webrtc (cold: starts the AAC → Opus transcoder)' : rung;
    (results[key] ??= []).push(run.ms);
    stateLog[key] = run.states;
    await page.evaluate(() => (window as unknown as W).player.destroy());
    await context.close();
    await sleep(300);
  }
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const rows = Object.entries(results).map(([rung, xs]) => ({
  rung,
  runs: xs.length,
  p50: Math.round(pct(xs, 50)),
  p90: Math.round(pct(xs, 90)),
  min: Math.round(Math.min(...xs)),
  max: Math.round(Math.max(...xs)),
  lastRunStates: stateLog[rung],
}));
console.log(JSON.stringify(rows));
console.log('\nrung                                              runs   p50    p90    min    max (ms, new LivegatePlayer → first frame)');
for (const r of rows) console.log(`${r.rung.padEnd(50)}${String(r.runs).padStart(4)}${[r.p50, r.p90, r.min, r.max].map((x) => String(x).padStart(7)).join('')}`);

ffmpeg.kill('SIGTERM');
await browser.close();
site.server.close();
await gw.close();
process.exit(0);
