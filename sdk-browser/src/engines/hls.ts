/** HLS playback through hls.js (or the browser's own HLS, as in Safari), loaded only when this rung is used. */
import { LivegateError } from '../errors.js';
import { liveEdgeAction } from '../latency.js';
import { mediaElementSample } from '../media-element.js';
import { endpointUrl } from '../urls.js';
import type { EngineOptions, EngineSample, PlaybackEngine } from './engine.js';

type HlsClass = (typeof import('./hls-lib.js'))['Hls'];
type HlsPlayer = InstanceType<HlsClass>;

export class HlsEngine implements PlaybackEngine {
  readonly protocol = 'hls' as const;
  private hls: HlsPlayer | null = null;
  private ended = false;
  private lastSeekAt = 0;
  private catchingUp = false;
  reachedServer = false;

  constructor(private readonly o: EngineOptions) {}

  async start(signal: AbortSignal): Promise<void> {
    const url = endpointUrl(this.o.server, this.o.path, 'hls', this.o.token);
    const v = this.o.video;
    const mse = typeof (globalThis as { MediaSource?: unknown }).MediaSource !== 'undefined' || typeof (globalThis as { ManagedMediaSource?: unknown }).ManagedMediaSource !== 'undefined';
    if (!mse && v.canPlayType('application/vnd.apple.mpegurl')) {
      // Safari on iOS without MSE: its own HLS player.
      v.src = url;
      v.addEventListener('ended', () => this.end(new LivegateError('not-live', 'the stream ended')), { once: true });
      v.addEventListener('error', () => this.end(new LivegateError('network', `HLS playback error ${v.error?.code ?? ''}`)), { once: true });
      return;
    }
    const { Hls } = await import('./hls-lib.js');
    if (signal.aborted || this.ended) throw new LivegateError('network', 'cancelled');
    if (!Hls.isSupported()) throw new LivegateError('unsupported', 'this browser cannot play HLS (no Media Source Extensions)');
    const token = this.o.token;
    const hls = new Hls({
      // LL-HLS: hls.js plays PART-HOLD-BACK behind live with blocking playlist reloads and preload
      // hints; a latency the page asked for replaces that target.
      lowLatencyMode: true,
      ...(this.o.targetLatencyExplicit ? { liveSyncDuration: Math.max(0.5, this.o.targetLatencyMs / 1000) } : {}),
      backBufferLength: 10,
      ...(token ? { xhrSetup: (xhr: XMLHttpRequest) => xhr.setRequestHeader('Authorization', `Bearer ${token}`) } : {}),
    });
    this.hls = hls;
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      const status = data.response?.code;
      const code = status === 404 ? 'not-live' : status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : data.type === Hls.ErrorTypes.MEDIA_ERROR ? 'unsupported-codec' : 'network';
      this.end(new LivegateError(code, `HLS ${data.details}`, status ? { status } : {}));
    });
    hls.on(Hls.Events.MANIFEST_LOADED, () => (this.reachedServer = true));
    hls.loadSource(url);
    hls.attachMedia(v);
  }

  private end(error: LivegateError): void {
    if (this.ended) return;
    this.ended = true;
    this.o.onEnd(error);
  }

  async sample(): Promise<EngineSample> {
    // hls.js knows the wall-clock time of the playhead (EXT-X-PROGRAM-DATE-TIME) where the server gives it.
    const pdt = this.hls?.playingDate?.getTime();
    return mediaElementSample(this.o.video, {
      bitrateBps: Math.round(this.hls?.bandwidthEstimate ?? 0),
      ...(pdt ? { latencyMs: Math.max(0, Date.now() - pdt) } : {}),
    });
  }

  holdLiveEdge(): void {
    const v = this.o.video;
    if (v.readyState < 2 || v.paused || !this.hls) return;
    const latency = this.hls.latency;
    if (!Number.isFinite(latency) || latency <= 0) return;
    // The target is a ceiling: catching up starts a little under it and drains to well under it (the
    // player's reported latency, from the playhead's PROGRAM-DATE-TIME, runs up to a part above
    // hls.js's estimate). Still at least PART-HOLD-BACK behind the newest part: hls.js keeps that.
    const target = this.o.targetLatencyMs;
    const policy = { targetMs: target, edgeMs: target - Math.min(500, target / 3), catchUpAboveMs: target - Math.min(300, target / 5) };
    const action = liveEdgeAction(latency * 1000, policy, this.catchingUp);
    if (action.kind === 'seek') {
      this.catchingUp = false;
      const now = Date.now();
      const edge = this.hls.liveSyncPosition;
      if (now - this.lastSeekAt < 2000 || edge === null) return;
      this.lastSeekAt = now;
      v.currentTime = edge;
      v.playbackRate = 1;
    } else {
      this.catchingUp = action.catchingUp;
      if (Math.abs(v.playbackRate - action.playbackRate) >= 0.005) v.playbackRate = action.playbackRate;
    }
  }

  destroy(): void {
    this.ended = true;
    this.hls?.destroy();
    this.hls = null;
    if (this.o.video.src) {
      this.o.video.removeAttribute('src');
      this.o.video.load();
    }
    this.o.video.playbackRate = 1;
  }
}
