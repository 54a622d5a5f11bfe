/** WS-FLV (or HTTP-FLV) playback through mpegts.js, loaded only when this rung is used. */
import { getStream } from '../api.js';
import { LivegateError } from '../errors.js';
import { bufferAheadSeconds, liveEdgeAction } from '../latency.js';
import { endpointUrl } from '../urls.js';
import type { EngineOptions, EngineSample, PlaybackEngine } from './engine.js';

type MpegtsApi = (typeof import('./mpegts-lib.js'))['mpegts'];
type MpegtsPlayer = ReturnType<MpegtsApi['createPlayer']>;

/** Whether this browser can play FLV through MSE (checked without loading mpegts.js). */
export function canPlayFlv(): boolean {
  const ms = (globalThis as { MediaSource?: { isTypeSupported(t: string): boolean } }).MediaSource ?? (globalThis as { ManagedMediaSource?: { isTypeSupported(t: string): boolean } }).ManagedMediaSource;
  return !!ms && ms.isTypeSupported('video/mp4; codecs="avc1.42E01E,mp4a.40.2"');
}

export class FlvEngine implements PlaybackEngine {
  readonly protocol = 'flv' as const;
  private player: MpegtsPlayer | null = null;
  private ended = false;
  private started = false;
  private lastSeekAt = 0;
  reachedServer = false;

  constructor(
    private readonly o: EngineOptions,
    private readonly transport: 'ws' | 'http',
  ) {}

  async start(signal: AbortSignal): Promise<void> {
    if (!canPlayFlv()) throw new LivegateError('unsupported', 'this browser cannot play FLV (no Media Source Extensions with H264/AAC)');
    // A WebSocket refused with 404 shows no status to the page: ask the API whether the path is live first.
    const live = await getStream(this.o, this.o.path, signal).catch(() => undefined);
    if (live !== undefined) this.reachedServer = true;
    if (live === null) throw new LivegateError('not-live', `stream "${this.o.path}" is not live`, { status: 404 });
    const { mpegts } = await import('./mpegts-lib.js');
    if (signal.aborted || this.ended) throw new LivegateError('network', 'cancelled');
    const player = mpegts.createPlayer(
      { type: 'flv', isLive: true, url: endpointUrl(this.o.server, this.o.path, this.transport === 'ws' ? 'ws-flv' : 'flv', this.o.token) },
      {
        // Every tag goes to the media element at once: no stash, the live edge held by this engine.
        enableStashBuffer: false,
        lazyLoad: false,
        autoCleanupSourceBuffer: true,
        autoCleanupMaxBackwardDuration: 10,
        autoCleanupMinBackwardDuration: 5,
        liveBufferLatencyChasing: false,
        fixAudioTimestampGap: false,
      },
    );
    this.player = player;
    player.on(mpegts.Events.ERROR, (type: string, detail: string, info: { code?: number; msg?: string } | undefined) => {
      const status = typeof info?.code === 'number' && info.code >= 400 ? info.code : undefined;
      const code = status === 404 ? 'not-live' : status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : type === mpegts.ErrorTypes.MEDIA_ERROR ? 'unsupported-codec' : 'network';
      this.end(new LivegateError(code, `FLV ${detail}${info?.msg ? `: ${info.msg}` : ''}`, status === undefined ? {} : { status }));
    });
    // The server closes the connection when the stream ends.
    player.on(mpegts.Events.LOADING_COMPLETE, () => this.end(new LivegateError('not-live', 'the stream ended')));
    player.attachMediaElement(this.o.video);
    player.load();
    this.started = true;
  }

  private end(error: LivegateError): void {
    if (this.ended) return;
    this.ended = true;
    this.o.onEnd(error);
  }

  async sample(): Promise<EngineSample> {
    const v = this.o.video;
    const q = typeof v.getVideoPlaybackQuality === 'function' ? v.getVideoPlaybackQuality() : null;
    const info = (this.player?.statisticsInfo ?? {}) as { decodedFrames?: number; speed?: number };
    return {
      framesDecoded: q?.totalVideoFrames ?? info.decodedFrames ?? 0,
      // mpegts.js reports its download speed in KiB/s.
      bitrateBps: typeof info.speed === 'number' ? Math.round(info.speed * 1024 * 8) : 0,
      packetsLost: 0,
      latencyMs: this.started ? Math.round(bufferAheadSeconds(v.buffered, v.currentTime) * 1000) : null,
      width: v.videoWidth,
      height: v.videoHeight,
    };
  }

  holdLiveEdge(): void {
    const v = this.o.video;
    if (!this.player || v.readyState < 2 || v.paused) return;
    const ahead = bufferAheadSeconds(v.buffered, v.currentTime);
    const action = liveEdgeAction(ahead * 1000, { targetMs: this.o.targetLatencyMs });
    if (action.kind === 'seek') {
      const now = Date.now();
      if (now - this.lastSeekAt < 2000 || v.buffered.length === 0) return;
      this.lastSeekAt = now;
      v.currentTime = Math.max(v.buffered.start(v.buffered.length - 1), v.buffered.end(v.buffered.length - 1) - action.behindEndSeconds);
      v.playbackRate = 1;
    } else if (Math.abs(v.playbackRate - action.playbackRate) >= 0.01) {
      v.playbackRate = action.playbackRate;
    }
  }

  destroy(): void {
    this.ended = true;
    const p = this.player;
    this.player = null;
    if (!p) return;
    try {
      p.pause();
      p.unload();
      p.detachMediaElement();
      p.destroy();
    } catch {
      // Already torn down.
    }
    this.o.video.playbackRate = 1;
  }
}
