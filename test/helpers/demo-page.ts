/**
 * The demo app's play page driven from tests: open it for a path (and protocol), probe the frames its
 * video element presents and the sound it plays (peak level, strongest frequency), read its player's
 * state and stats, and wait until it plays.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { TestGateway } from './gateway.js';
import { waitFor } from './wait.js';

/** What the tests read from a demo page (window.demo is the demo's own handle on its player/publisher). */
export interface PageView {
  state: string | null;
  protocol: string | null;
  latencyMs: number | null;
  width: number;
  height: number;
  events: { type: string; detail: string; at: number }[];
  /** Frames the video element presented (requestVideoFrameCallback), and when the last one was (Date.now()). */
  presented: number;
  lastFrameAt: number;
  /** Loudest sample heard, and the strongest frequency while it was loud. */
  peak: number;
  toneHz: number;
}

/**
 * The frame and sound probes on the demo's video element (they survive reconnects). A string, so
 * that the test runner's transpiler adds no helpers the page does not have.
 */
const PROBE = `(() => {
  if (window.probe) return;
  const p = (window.probe = { presented: 0, lastFrameAt: 0, peak: 0, toneHz: 0 });
  const video = document.getElementById('play-video');
  const onFrame = () => {
    p.presented++;
    p.lastFrameAt = Date.now();
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  // What the viewer hears: WebRTC audio from the element's MediaStream, MSE audio from the element.
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 4096;
  let source = null;
  let sourceStream = null;
  const samples = new Float32Array(analyser.fftSize);
  const bins = new Float32Array(analyser.frequencyBinCount);
  setInterval(() => {
    const stream = video.srcObject;
    if (stream && stream !== sourceStream && stream.getAudioTracks().length > 0) {
      if (source) source.disconnect();
      sourceStream = stream;
      source = ctx.createMediaStreamSource(stream);
      source.connect(analyser);
    } else if (!stream && !(source instanceof MediaElementAudioSourceNode) && video.src) {
      if (source) source.disconnect();
      sourceStream = null;
      source = ctx.createMediaElementSource(video);
      source.connect(analyser);
      analyser.connect(ctx.destination);
    }
    ctx.resume();
    analyser.getFloatTimeDomainData(samples);
    let peak = 0;
    for (const v of samples) peak = Math.max(peak, Math.abs(v));
    if (peak > 0.05) {
      analyser.getFloatFrequencyData(bins);
      let best = 1;
      for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
      p.toneHz = (best * ctx.sampleRate) / analyser.fftSize;
    }
    p.peak = Math.max(p.peak, peak);
  }, 50);
})()`;

export async function probe(page: Page): Promise<void> {
  await page.evaluate(PROBE);
}

export function view(page: Page): Promise<PageView> {
  return page.evaluate(() => {
    const w = window as unknown as {
      demo: { player: { state: string; protocol: string | null; stats: { latencyMs: number | null; width: number; height: number } } | null; events: PageView['events'] };
      probe?: { presented: number; lastFrameAt: number; peak: number; toneHz: number };
    };
    const p = w.demo.player;
    return {
      state: p?.state ?? null,
      protocol: p?.protocol ?? null,
      latencyMs: p?.stats.latencyMs ?? null,
      width: p?.stats.width ?? 0,
      height: p?.stats.height ?? 0,
      events: w.demo.events,
      presented: w.probe?.presented ?? 0,
      lastFrameAt: w.probe?.lastFrameAt ?? 0,
      peak: w.probe?.peak ?? 0,
      toneHz: w.probe?.toneHz ?? 0,
    };
  });
}

/** Opens the demo's play page for `path` (optionally one protocol) in a fresh context. */
export async function openPlayer(browser: Browser, gw: Pick<TestGateway, 'httpUrl'>, path: string, protocol?: string): Promise<{ context: BrowserContext; page: Page; requests: string[] }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(gw.httpUrl(`#/play?path=${encodeURIComponent(path)}${protocol ? `&protocol=${protocol}` : ''}`));
  await probe(page);
  return { context, page, requests };
}

/** Waits until the page plays on `protocol` with the tone heard and frames presented; returns the view. */
export async function playing(page: Page, protocol: string, timeoutMs: number): Promise<PageView> {
  let last: PageView | null = null;
  try {
    return await waitFor(
      async () => {
        last = await view(page);
        return last.state === 'playing' && last.protocol === protocol && last.presented > 30 && last.peak > 0.05 ? last : null;
      },
      timeoutMs,
      `playing over ${protocol}`,
      100,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${JSON.stringify(last)}`);
  }
}

