/** Small helpers around the page's video element: autoplay with sound when allowed, first frame, figures. */
import type { EngineSample } from './engines/engine.js';
import { bufferAheadSeconds } from './latency.js';

/**
 * Starts playback; when the browser refuses sound without a user gesture, starts muted instead and
 * returns 'muted' (the page can show an "unmute" button). 'blocked' when even muted playback is refused.
 */
export async function playWithAutoplayFallback(video: HTMLVideoElement): Promise<'playing' | 'muted' | 'blocked' | 'interrupted'> {
  try {
    await video.play();
    return 'playing';
  } catch (err) {
    const name = (err as DOMException | undefined)?.name;
    // AbortError: a new source replaced this one before it played (a reconnect); not a refusal.
    if (name === 'AbortError') return 'interrupted';
    if (name !== 'NotAllowedError' || video.muted) return name === 'NotAllowedError' ? 'blocked' : 'interrupted';
  }
  video.muted = true;
  try {
    await video.play();
    return 'muted';
  } catch (err) {
    return (err as DOMException | undefined)?.name === 'AbortError' ? 'interrupted' : 'blocked';
  }
}

/** Resolves when the element presents its first video frame (requestVideoFrameCallback), or when `poll` says a frame was decoded. */
export function firstFrame(video: HTMLVideoElement, poll: () => Promise<boolean>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', finish);
      resolve();
    };
    signal.addEventListener('abort', finish);
    const v = video as HTMLVideoElement & { requestVideoFrameCallback?: (cb: () => void) => number };
    v.requestVideoFrameCallback?.(() => finish());
    const check = async (): Promise<void> => {
      if (done) return;
      if (await poll().catch(() => false)) return finish();
      timer = setTimeout(() => void check(), 100);
    };
    void check();
  });
}

/**
 * The figures a Media Source player (FLV, HLS) reads from the element itself: frames decoded, size,
 * and — unless the engine knows better — the latency as the media buffered ahead of the playhead.
 */
export function mediaElementSample(video: HTMLVideoElement, o: { bitrateBps: number; decodedFrames?: number; latencyMs?: number | null }): EngineSample {
  const q = typeof video.getVideoPlaybackQuality === 'function' ? video.getVideoPlaybackQuality() : null;
  return {
    framesDecoded: q?.totalVideoFrames ?? o.decodedFrames ?? 0,
    bitrateBps: o.bitrateBps,
    packetsLost: 0,
    latencyMs: o.latencyMs !== undefined ? o.latencyMs : Math.round(bufferAheadSeconds(video.buffered, video.currentTime) * 1000),
    width: video.videoWidth,
    height: video.videoHeight,
  };
}
