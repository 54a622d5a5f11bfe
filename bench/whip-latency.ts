/**
 * WHIP latency benchmark: browser → livegate → browser, for a WHIP publisher.
 *
 * A Chromium page draws the wall clock (Date.now()) into a canvas on every animation frame as 48
 * black/white 16×16 blocks (Date.now() mod 2^40 ms + a CRC-8, so H264 cannot garble it unnoticed)
 * and publishes canvas.captureStream(30) (H264) plus an oscillator (Opus) over WHIP to a livegate
 * started in this process. A viewer page in the same browser (same clock) plays the path and, for
 * every frame it presents (requestVideoFrameCallback), reads the blocks back and records
 * Date.now() − the time drawn: glass to glass without the camera and the screen.
 *   1. WHEP viewer (H264 + Opus as published);
 *   2. WS-FLV viewer with mpegts.js (H264 + AAC: the gateway transcodes Opus → AAC), low-latency
 *      options below (BENCH_MPEGTS_CONFIG, a JSON object, is merged over them; BENCH_FLV_AUDIO=0
 *      makes mpegts.js ignore the audio, to see what the audio track costs in MSE).
 * The two viewers run one after the other. For each: median / p95 / min / max over BENCH_SECONDS
 * (20) after BENCH_WARMUP (4) s, frames, decode failures, the browser's own encode / jitter-buffer /
 * decode figures (getStats), and what livegate's latency probe recorded in the same window (unit
 * arrived at livegate → handed to werift / to the WebSocket), so the gateway's share is visible.
 *
 * WebRTC peers gather candidates on every interface, so this re-runs itself inside a network
 * namespace with only loopback (`unshare -n`, root). About 60 s.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { parseConfig } from '../gateway/src/config/load.js';
import { setLatencyProbe } from '../gateway/src/core/latency-probe.js';
import { createLogger } from '../gateway/src/core/log.js';
import type { MediaUnit } from '../gateway/src/core/media-unit.js';
import { FlvReader } from '../gateway/src/protocols/flv/from-stream.js';
import { Gateway } from '../gateway/src/server.js';
import { launchChromium, readModule, serveStatic, WEBRTC_FLAGS } from '../test/helpers/browser.js';

const root = new URL('..', import.meta.url).pathname;
if (process.env.LIVEGATE_NETNS !== '1') {
  const r = spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec "${process.execPath}" --import tsx "${join(root, 'bench/whip-latency.ts')}"`], {
    stdio: 'inherit',
    env: { ...process.env, LIVEGATE_NETNS: '1' },
  });
  process.exit(r.status ?? 1);
}

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 4);
const [WIDTH, HEIGHT] = (process.env.BENCH_SIZE ?? '640x360').split('x').map(Number) as [number, number];
const PHASES = (process.env.BENCH_PHASES ?? 'whep,ws-flv,sdk-whep,sdk-ws-flv,sdk-hls').split(',');
/** The SDK player's targetLatencyMs for FLV (BENCH_SDK_TARGET_MS; the SDK's default when unset). */
const SDK_TARGET_MS = process.env.BENCH_SDK_TARGET_MS ? Number(process.env.BENCH_SDK_TARGET_MS) : undefined;
/** The SDK player's liveEdgeMs for FLV (BENCH_SDK_EDGE_MS; the SDK's default when unset). */
const SDK_EDGE_MS = process.env.BENCH_SDK_EDGE_MS ? Number(process.env.BENCH_SDK_EDGE_MS) : undefined;
/** mpegts.js: no stash buffer, no lazy load, and seek forward whenever more than 0.6 s is buffered. */
const MPEGTS_CONFIG = {
  enableWorker: false,
  enableStashBuffer: false,
  lazyLoad: false,
  liveBufferLatencyChasing: true,
  liveBufferLatencyMaxLatency: 0.6,
  liveBufferLatencyMinRemain: 0.2,
  ...(JSON.parse(process.env.BENCH_MPEGTS_CONFIG ?? '{}') as object),
};
const STREAM = 'live/bench';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 1) => +x.toFixed(d);

const deadline = setTimeout(() => {
  console.error('whip-latency: over the deadline, stopping');
  process.exit(2);
}, (SECONDS + WARMUP + 30) * PHASES.length * 1000 + 30_000);
deadline.unref();

// ---- gateway, with the latency probe on ----
const samples = new Map<string, number[]>();
const record = (name: string, ms: number): void => {
  let list = samples.get(name);
  if (!list) samples.set(name, (list = []));
  list.push(ms);
};
/*
 * The probe names only the protocol; FLV tags of video and of (transcoded) AAC audio are both
 * 'ws-flv'. To tell them apart, FlvReader is wrapped here (the bench only, gateway/src untouched):
 * a record made inside unit() is that unit's; one made inside endBatch() is the next of the units
 * that reader queued during the batch, in order (FlvReader records them in that order).
 */
let current: MediaUnit['track']['kind'] | null = null;
let batchOwner: FlvReader | null = null;
const pending = new WeakMap<FlvReader, MediaUnit['track']['kind'][]>();
const proto = FlvReader.prototype;
const { unit: origUnit, endBatch: origEndBatch } = proto;
proto.unit = function (this: FlvReader, unit: MediaUnit) {
  // In a batch the record comes at endBatch (FlvReader's private `batching`).
  if ((this as unknown as { batching: boolean }).batching) {
    let q = pending.get(this);
    if (!q) pending.set(this, (q = []));
    q.push(unit.track.kind);
  }
  current = unit.track.kind;
  try {
    origUnit.call(this, unit);
  } finally {
    current = null;
  }
};
proto.endBatch = function (this: FlvReader) {
  batchOwner = this;
  try {
    origEndBatch.call(this);
  } finally {
    batchOwner = null;
  }
};
setLatencyProbe({
  record(name, ms) {
    record(name, ms);
    if (name !== 'ws-flv') return;
    const kind = batchOwner ? pending.get(batchOwner)?.shift() : current;
    if (kind) record(`ws-flv-${kind}`, ms);
  },
});

const gw = await Gateway.start(
  parseConfig({
    host: '127.0.0.1',
    logLevel: 'warn',
    rtmp: { enabled: false },
    srt: { enabled: false },
    http: { port: 0 },
    webrtc: { additionalHosts: ['127.0.0.1'] },
  }),
  { log: createLogger('warn') },
);
const http = `127.0.0.1:${gw.ports.http}`;

// ---- pages ----
/** Shared by the publisher (encode) and the viewers (decode): Date.now() mod 2^40 ms + CRC-8 (poly 0x07). */
const CODE = `
  const BLOCK = 16, COLS = 24, BITS = 48, X0 = 16, Y0 = 16;
  const crc8 = (bytes) => {
    let c = 0;
    for (const b of bytes) { c ^= b; for (let i = 0; i < 8; i++) c = c & 0x80 ? ((c << 1) ^ 0x07) & 0xff : (c << 1) & 0xff; }
    return c;
  };
  const bytesOf = (t) => { const hi = Math.floor(t / 2 ** 32) & 0xff, lo = t % 2 ** 32; return [hi, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff]; };
  const drawCode = (g, t) => {
    const bytes = bytesOf(t);
    bytes.push(crc8(bytes));
    g.fillStyle = '#808080';
    g.fillRect(X0 - 8, Y0 - 8, COLS * BLOCK + 16, (BITS / COLS) * BLOCK + 16);
    for (let i = 0; i < BITS; i++) {
      g.fillStyle = (bytes[i >> 3] >> (7 - (i & 7))) & 1 ? '#ffffff' : '#000000';
      g.fillRect(X0 + (i % COLS) * BLOCK, Y0 + Math.floor(i / COLS) * BLOCK, BLOCK, BLOCK);
    }
  };
  /** ms from a code to the wall time (the code keeps the time modulo 2^40 ms, ~35 years). */
  const ageOf = (wall, code) => (wall % 2 ** 40) - code + (wall % 2 ** 40 < code ? 2 ** 40 : 0);
  /** The time in a frame drawn at ${WIDTH}x${HEIGHT} into g, or null (CRC mismatch). */
  const readCode = (g) => {
    const img = g.getImageData(0, 0, X0 + COLS * BLOCK, Y0 + (BITS / COLS) * BLOCK).data;
    const w = X0 + COLS * BLOCK;
    const bytes = [0, 0, 0, 0, 0, 0];
    for (let i = 0; i < BITS; i++) {
      const bx = X0 + (i % COLS) * BLOCK, by = Y0 + Math.floor(i / COLS) * BLOCK;
      let sum = 0;
      for (let y = by + 5; y < by + 11; y++) for (let x = bx + 5; x < bx + 11; x++) { const o = (y * w + x) * 4; sum += img[o] + img[o + 1] + img[o + 2]; }
      if (sum / 108 > 128) bytes[i >> 3] |= 1 << (7 - (i & 7));
    }
    if (crc8(bytes.slice(0, 5)) !== bytes[5]) return null;
    return bytes[0] * 2 ** 32 + ((bytes[1] << 24) >>> 0) + (bytes[2] << 16) + (bytes[3] << 8) + bytes[4];
  };
`;

const PUBLISH_PAGE = `<!doctype html><meta charset="utf-8"><canvas id="c" width="${WIDTH}" height="${HEIGHT}"></canvas>
<script>
  ${CODE}
  const canvas = document.getElementById('c');
  const g = canvas.getContext('2d');
  // Something moving besides the code (scrolling bars, a few new squares a frame), so the encoder
  // has work and the frames take several packets, as on a real picture.
  const draw = () => {
    const t = Date.now();
    for (let i = 0; i < 16; i++) {
      g.fillStyle = 'hsl(' + ((i * 23 + t / 20) % 360) + ', 60%, 45%)';
      g.fillRect(((i * ${WIDTH}) / 16 + t / 10) % ${WIDTH}, 0, ${WIDTH} / 16 + 1, ${HEIGHT});
    }
    for (let i = 0; i < 12; i++) {
      g.fillStyle = 'hsl(' + Math.floor(Math.random() * 360) + ', 70%, 50%)';
      g.fillRect(Math.random() * ${WIDTH}, 80 + Math.random() * (${HEIGHT} - 100), 24, 24);
    }
    drawCode(g, t);
    requestAnimationFrame(draw);
  };
  draw();
  window.publish = async (url) => {
    const video = canvas.captureStream(30).getVideoTracks()[0];
    video.contentHint = 'detail'; // keep the resolution (the blocks) if the encoder must save CPU
    const ctx = new AudioContext();
    await ctx.resume();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    gain.gain.value = 0.2;
    const dest = ctx.createMediaStreamDestination();
    osc.connect(gain).connect(dest);
    osc.start();
    const pc = new RTCPeerConnection();
    const vt = pc.addTransceiver(video, { direction: 'sendonly' });
    vt.setCodecPreferences(RTCRtpSender.getCapabilities('video').codecs.filter((c) =>
      (c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine || '')) || c.mimeType === 'video/rtx'));
    pc.addTransceiver(dest.stream.getAudioTracks()[0], { direction: 'sendonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
      setTimeout(resolve, 3000);
    });
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
    const answer = await res.text();
    if (res.status !== 201) throw new Error('WHIP POST: ' + res.status + ' ' + answer);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    window.pc = pc;
  };
  window.sendStats = async () => {
    const out = {};
    (await window.pc.getStats()).forEach((r) => {
      if (r.type === 'outbound-rtp' && r.kind === 'video') Object.assign(out, {
        framesEncoded: r.framesEncoded || 0, totalEncodeTime: r.totalEncodeTime || 0, width: r.frameWidth, height: r.frameHeight,
        qualityLimitation: r.qualityLimitationReason, bytesSent: r.bytesSent || 0, keyFramesEncoded: r.keyFramesEncoded || 0, pliCount: r.pliCount || 0 });
    });
    return out;
  };
</script>`;

/** A viewer: \`attach(video)\` is given by each page; the frame loop and the sampling are shared. */
const VIEWER = `
  ${CODE}
  const video = document.getElementById('v');
  const canvas = document.createElement('canvas');
  canvas.width = ${WIDTH};
  canvas.height = ${HEIGHT};
  const g = canvas.getContext('2d', { willReadFrequently: true });
  const m = { collecting: false, frames: 0, latency: [], afterReceive: [], buffered: [], failures: 0, repeats: 0, implausible: 0, first: null };
  let last = null;
  window.m = m;
  const onFrame = (now, md) => {
    const wall = Date.now();
    const perf = performance.now();
    g.drawImage(video, 0, 0, ${WIDTH}, ${HEIGHT});
    const t = readCode(g);
    if (m.collecting) {
      m.frames++;
      if (t === null) m.failures++;
      else if (t === last) m.repeats++;
      else if (ageOf(wall, t) > 20000) m.implausible++;
      else {
        m.latency.push(ageOf(wall, t));
        // WebRTC only: the last packet of this frame reached the viewer's browser.
        if (md.receiveTime) m.afterReceive.push(perf - md.receiveTime);
        const b = video.buffered;
        if (b.length) m.buffered.push(b.end(b.length - 1) - video.currentTime);
      }
      m.first ??= md.presentedFrames;
      m.last = md.presentedFrames;
    }
    if (t !== null) last = t;
    window.decoded = (window.decoded || 0) + (t === null ? 0 : 1);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  window.begin = () => { Object.assign(m, { collecting: true, frames: 0, latency: [], afterReceive: [], buffered: [], failures: 0, repeats: 0, implausible: 0, first: null }); };
  window.finish = () => { m.collecting = false; const q = video.getVideoPlaybackQuality(); return { ...m, dropped: q.droppedVideoFrames, playbackRate: video.playbackRate, size: video.videoWidth + 'x' + video.videoHeight }; };
`;

/** The viewer's WebRTC receive statistics (window.pc). */
const RECV_STATS = `
  window.recvStats = async () => {
    const out = {};
    (await window.pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') Object.assign(out, {
        framesDecoded: r.framesDecoded || 0, totalDecodeTime: r.totalDecodeTime || 0, jitterBufferDelay: r.jitterBufferDelay || 0,
        jitterBufferEmittedCount: r.jitterBufferEmittedCount || 0, packetsLost: r.packetsLost || 0, nackCount: r.nackCount || 0,
        framesDropped: r.framesDropped || 0, pliCount: r.pliCount || 0, firCount: r.firCount || 0 });
    });
    return out;
  };
`;

const WHEP_PAGE = `<!doctype html><meta charset="utf-8"><video id="v" muted autoplay playsinline></video>
<script>
  ${VIEWER}
  window.play = async (url) => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const stream = new MediaStream();
    pc.ontrack = (e) => { stream.addTrack(e.track); video.srcObject = stream; video.play().catch(() => {}); };
    await pc.setLocalDescription(await pc.createOffer());
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
    if (res.status !== 201) throw new Error('WHEP POST: ' + res.status + ' ' + await res.text());
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    window.pc = pc;
  };
  ${RECV_STATS}
</script>`;

const FLV_PAGE = `<!doctype html><meta charset="utf-8"><video id="v" muted autoplay playsinline></video>
<script src="/mpegts.js"></script>
<script>
  ${VIEWER}
  window.play = (url, config) => {
    const player = mpegts.createPlayer({ type: 'flv', isLive: true, hasAudio: ${process.env.BENCH_FLV_AUDIO !== '0'}, hasVideo: true, url }, config);
    player.attachMediaElement(video);
    player.load();
    video.play().catch(() => {});
    window.player = player;
  };
</script>`;

/** The same viewer through the SDK the gateway serves (LivegatePlayer, one rung). */
const SDK_PAGE = `<!doctype html><meta charset="utf-8"><video id="v" muted autoplay playsinline></video>
<script type="module">
  ${VIEWER}
  window.play = async (server, protocol, targetLatencyMs, liveEdgeMs) => {
    const { LivegatePlayer } = await import(server + '/sdk/livegate.js');
    window.player = new LivegatePlayer(video, { server, path: '${STREAM}', protocols: [protocol], muted: true, ...(targetLatencyMs ? { targetLatencyMs } : {}), ...(liveEdgeMs ? { liveEdgeMs } : {}) });
  };
  // The SDK's peer connection (a private field: read here for the statistics only).
  Object.defineProperty(window, 'pc', { get: () => window.player && window.player.engine && window.player.engine.pc });
  ${RECV_STATS}
</script>`;

const site = await serveStatic({
  '/sdk': ['text/html', SDK_PAGE],
  '/publish': ['text/html', PUBLISH_PAGE],
  '/whep': ['text/html', WHEP_PAGE],
  '/flv': ['text/html', FLV_PAGE],
  '/mpegts.js': ['text/javascript', readModule('mpegts.js/dist/mpegts.js')],
});
const browser = await launchChromium([
  ...WEBRTC_FLAGS,
  // Three pages at once: none of them may be throttled as a background tab.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
]);

type W = Window & { [k: string]: (...a: unknown[]) => unknown };
type SendStats = { framesEncoded: number; totalEncodeTime: number; width: number; height: number; qualityLimitation: string; bytesSent: number; keyFramesEncoded: number; pliCount: number };
type RecvStats = { framesDecoded: number; totalDecodeTime: number; jitterBufferDelay: number; jitterBufferEmittedCount: number; packetsLost: number; nackCount: number; framesDropped: number; pliCount: number; firCount: number };
type Measured = { frames: number; latency: number[]; afterReceive: number[]; buffered: number[]; failures: number; repeats: number; implausible: number; first: number | null; last?: number; dropped: number; playbackRate: number; size: string };

const pct = (list: number[], p: number): number => {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
};
const summary = (list: number[], d = 1) => (list.length ? { median: round(pct(list, 0.5), d), p95: round(pct(list, 0.95), d), min: round(Math.min(...list), d), max: round(Math.max(...list), d), n: list.length } : null);
const gatewaySummary = (names: string[]) => Object.fromEntries(names.filter((n) => samples.has(n)).map((n) => [n, summary(samples.get(n)!, 2)]));
const sendStats = (p: Page) => p.evaluate(() => (window as unknown as W).sendStats!() as Promise<SendStats>);

async function waitFor<T>(what: string, ms: number, fn: () => Promise<T | null | undefined | false>): Promise<T> {
  const until = performance.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const publisher = await browser.newPage();
publisher.on('pageerror', (e) => console.error('publisher page:', e.message));
await publisher.goto(site.url + '/publish');
await publisher.evaluate((url) => (window as unknown as W).publish!(url), `http://${http}/${STREAM}/whip`);
await waitFor('the WHIP stream (H264 + Opus)', 15_000, async () => gw.registry.get(STREAM)?.tracks.length === 2);
// The sender's bandwidth estimate starts near 300 kb/s; until it has ramped up the encoder skips frames.
await sleep(WARMUP * 1000);

const whepKeyframeRequests = () => [...(gw.whep?.sessions.values() ?? [])].reduce((n, s) => n + s.keyframeRequests, 0);

async function measure(phase: string, page: Page, isWebrtc: boolean) {
  await waitFor(`${phase}: decoded frames`, 20_000, () => page.evaluate(() => ((window as unknown as { decoded?: number }).decoded ?? 0) > 30));
  await sleep(WARMUP * 1000);
  samples.clear();
  const s0 = await sendStats(publisher);
  const r0 = isWebrtc ? await page.evaluate(() => (window as unknown as W).recvStats!() as Promise<RecvStats>) : null;
  const k0 = whepKeyframeRequests();
  await page.evaluate(() => (window as unknown as W).begin!());
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const m = await page.evaluate(() => (window as unknown as W).finish!() as Measured);
  const seconds = (performance.now() - t0) / 1000;
  const s1 = await sendStats(publisher);
  const r1 = isWebrtc ? await page.evaluate(() => (window as unknown as W).recvStats!() as Promise<RecvStats>) : null;
  const encoded = s1.framesEncoded - s0.framesEncoded;
  return {
    phase,
    seconds: round(seconds),
    framesSampled: m.latency.length,
    framesPresented: m.last !== undefined && m.first !== null ? m.last - m.first + 1 : 0,
    decodeFailures: m.failures,
    repeatedFrames: m.repeats,
    implausible: m.implausible,
    viewerSize: m.size,
    latencyMs: summary(m.latency),
    publisher: {
      fps: round(encoded / seconds),
      size: `${s1.width}x${s1.height}`,
      qualityLimitation: s1.qualityLimitation,
      kbps: Math.round(((s1.bytesSent - s0.bytesSent) * 8) / seconds / 1000),
      encodeMsPerFrame: round(((s1.totalEncodeTime - s0.totalEncodeTime) * 1000) / Math.max(1, encoded), 2),
      keyframes: s1.keyFramesEncoded - s0.keyFramesEncoded,
      plisReceived: s1.pliCount - s0.pliCount,
    },
    viewer:
      r0 && r1
        ? {
            decodeMsPerFrame: round(((r1.totalDecodeTime - r0.totalDecodeTime) * 1000) / Math.max(1, r1.framesDecoded - r0.framesDecoded), 2),
            jitterBufferMs: round(((r1.jitterBufferDelay - r0.jitterBufferDelay) * 1000) / Math.max(1, r1.jitterBufferEmittedCount - r0.jitterBufferEmittedCount), 1),
            packetsLost: r1.packetsLost - r0.packetsLost,
            nacks: r1.nackCount - r0.nackCount,
            framesDropped: r1.framesDropped - r0.framesDropped,
            plisSent: r1.pliCount - r0.pliCount + r1.firCount - r0.firCount,
            // What livegate counted as keyframe requests from this viewer (RTCP PSFB packets).
            gatewayCountedKeyframeRequests: whepKeyframeRequests() - k0,
            lastPacketToPresentMs: summary(m.afterReceive),
          }
        : { mseBufferedS: summary(m.buffered, 3), droppedFrames: m.dropped, playbackRate: m.playbackRate, mpegtsConfig: MPEGTS_CONFIG },
    gatewayMs: gatewaySummary(isWebrtc ? ['webrtc-video', 'webrtc-video-processing', 'webrtc-audio'] : ['ws-flv', 'ws-flv-video', 'ws-flv-audio']),
  };
}

const results = [];
for (const phase of PHASES) {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`${phase} page:`, e.message));
  if (phase === 'whep') {
    await page.goto(site.url + '/whep');
    await page.evaluate((url) => (window as unknown as W).play!(url), `http://${http}/${STREAM}/whep`);
    results.push(await measure('WHIP → WHEP', page, true));
  } else if (phase === 'ws-flv') {
    await page.goto(site.url + '/flv');
    await page.evaluate(([url, config]) => (window as unknown as W).play!(url, config), [`ws://${http}/${STREAM}.flv`, MPEGTS_CONFIG] as const);
    results.push(await measure('WHIP → WS-FLV (mpegts.js)', page, false));
  } else if (phase === 'sdk-hls') {
    await page.goto(site.url + '/sdk');
    await page.evaluate(([server]) => (window as unknown as W).play!(server, 'hls', 0, 0), [`http://${http}`] as const);
    results.push(await measure('WHIP → LL-HLS (SDK, hls.js)', page, false));
  } else if (phase === 'sdk-whep' || phase === 'sdk-ws-flv') {
    await page.goto(site.url + '/sdk');
    const protocol = phase === 'sdk-whep' ? 'webrtc' : 'flv';
    await page.evaluate(([server, p, target, edge]) => (window as unknown as W).play!(server, p, target, edge), [`http://${http}`, protocol, SDK_TARGET_MS ?? 0, SDK_EDGE_MS ?? 0] as const);
    const options = [SDK_TARGET_MS ? `target ${SDK_TARGET_MS} ms` : '', SDK_EDGE_MS ? `edge ${SDK_EDGE_MS} ms` : ''].filter(Boolean).join(', ');
    results.push(await measure(phase === 'sdk-whep' ? 'WHIP → WHEP (SDK)' : `WHIP → WS-FLV (SDK${options ? `, ${options}` : ''})`, page, phase === 'sdk-whep'));
  } else throw new Error(`unknown phase ${phase} (whep, ws-flv, sdk-whep, sdk-ws-flv, sdk-hls)`);
  console.log(JSON.stringify(results.at(-1)));
  await page.close();
  await sleep(500);
}

const whipSessions = await fetch(`http://${http}/api/v1/whip/sessions`).then((r) => r.json() as Promise<unknown>);
console.log(JSON.stringify({ whipSessions }));
await browser.close();
site.server.close();
await gw.close();

console.log('\npath                         frames  fail  latency median / p95 / min ms   gateway video median / p95 ms');
for (const r of results) {
  const l = r.latencyMs;
  const gv = r.gatewayMs['webrtc-video'] ?? r.gatewayMs['ws-flv-video'];
  console.log(
    `${r.phase.padEnd(28)} ${String(r.framesSampled).padStart(6)} ${String(r.decodeFailures).padStart(5)}  ${l ? `${l.median} / ${l.p95} / ${l.min}` : '-'}`.padEnd(74) +
      (gv ? `${gv.median} / ${gv.p95}` : '-'),
  );
}
process.exit(0);
