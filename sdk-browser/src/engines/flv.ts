/** WS-FLV (or HTTP-FLV) playback through mpegts.js, loaded only when this rung is used. */
import { getStream } from '../api.js';
import { LivegateError } from '../errors.js';
import { bufferAheadSeconds, liveEdgeAction, liveEdgeMs } from '../latency.js';
import { mediaElementSample } from '../media-element.js';
import { endpointUrl } from '../urls.js';
import type { EngineOptions, EngineSample, PlaybackEngine } from './engine.js';

type MpegtsApi = (typeof import('./mpegts-lib.js'))['mpegts'];
type MpegtsPlayer = ReturnType<MpegtsApi['createPlayer']>;

/** Whether this browser can play FLV through MSE (checked without loading mpegts.js). */
export function canPlayFlv(): boolean {
  const ms = (globalThis as { MediaSource?: { isTypeSupported(t: string): boolean } }).MediaSource ?? (globalThis as { ManagedMediaSource?: { isTypeSupported(t: string): boolean } }).ManagedMediaSource;
  return !!ms && ms.isTypeSupported('video/mp4; codecs="avc1.42E01E,mp4a.40.2"');
}

/** Where playback sits behind the newest data when caught up (ms): under ~100 ms MSE playback stalls. */
const DEFAULT_EDGE_MS = 100;

/** How much the edge grows after each stall (ms). */
const STALL_EDGE_STEP_MS = 50;

/** For this long after playback starts, a backlog is skipped by seeking rather than by playing faster. */
const JOIN_WINDOW_MS = 5000;

export class FlvEngine implements PlaybackEngine {
  readonly protocol = 'flv' as const;
  private player: MpegtsPlayer | null = null;
  private ended = false;
  private started = false;
  private lastSeekAt = 0;
  private catchingUp = false;
  /** When playback started (the first call with data): the join window runs from here. */
  private joinedAt = 0;
  /** The edge in use: the configured one, raised after each stall (the network needs more margin). */
  private edgeMs = 0;
  reachedServer = false;

  constructor(
    private readonly o: EngineOptions,
    private readonly transport: 'ws' | 'http',
  ) {}

  async start(signal: AbortSignal): Promise<void> {
    if (!canPlayFlv()) throw new LivegateError('unsupported', 'this browser cannot play FLV (no Media Source Extensions with H264/AAC)');
    // The player library downloads while the API says whether the path is live (a WebSocket refused
    // with 404 shows no status to the page, so the API is asked first).
    const library = import('./mpegts-lib.js');
    library.catch(() => {}); // awaited below only when the path is live
    // Refused credentials are said there too (a refused WebSocket shows no status either).
    const live = await getStream(this.o, this.o.path, signal).catch((err: unknown) =>
      err instanceof LivegateError && (err.code === 'unauthorized' || err.code === 'forbidden') ? err : undefined,
    );
    if (live instanceof LivegateError) throw live;
    if (live !== undefined) this.reachedServer = true;
    if (live === null) throw new LivegateError('not-live', `stream "${this.o.path}" is not live`, { status: 404 });
    let mpegts: MpegtsApi;
    try {
      ({ mpegts } = await library);
    } catch (err) {
      throw new LivegateError('network', `the FLV player could not be loaded: ${(err as Error).message}`, { cause: err });
    }
    if (signal.aborted || this.ended) throw new LivegateError('network', 'cancelled');
    const player = mpegts.createPlayer(
      { type: 'flv', isLive: true, url: endpointUrl(this.o.server, this.o.path, this.transport === 'ws' ? 'ws-flv' : 'flv', this.o.token) },
      {
        // Every tag goes to the media element at once: no stash, the live edge held by this engine.
        enableStashBuffer: false,
        lazyLoad: false,
        liveBufferLatencyChasing: false,
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
    // A stall once playing: the edge was too tight for this network; keep more margin from now on.
    this.o.video.addEventListener('waiting', this.onWaiting);
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
    const info = (this.player?.statisticsInfo ?? {}) as { decodedFrames?: number; speed?: number };
    return mediaElementSample(this.o.video, {
      // mpegts.js reports its download speed in KiB/s.
      bitrateBps: typeof info.speed === 'number' ? Math.round(info.speed * 1024 * 8) : 0,
      ...(info.decodedFrames !== undefined ? { decodedFrames: info.decodedFrames } : {}),
      ...(this.started ? {} : { latencyMs: null }),
    });
  }

  holdLiveEdge(): void {
    const v = this.o.video;
    if (!this.player || v.readyState < 2 || v.paused || v.buffered.length === 0) return;
    const end = v.buffered.end(v.buffered.length - 1);
    if (this.edgeMs === 0) this.edgeMs = Math.min(this.o.targetLatencyMs, this.o.liveEdgeMs ?? DEFAULT_EDGE_MS);
    // Drifted 150 ms past the edge (after a stall, a seek): drain it back, gently, well before the target.
    const policy = { targetMs: this.o.targetLatencyMs, edgeMs: this.edgeMs, catchUpAboveMs: this.edgeMs + 150, toleranceMs: 25 };
    const ahead = bufferAheadSeconds(v.buffered, v.currentTime);
    const now = Date.now();
    if (this.joinedAt === 0) this.joinedAt = now;
    if (now - this.joinedAt < JOIN_WINDOW_MS) {
      // A new reader gets the stream from its last keyframe, and that backlog arrives in a burst
      // over the first second or two: skip it and join at the edge.
      const edge = liveEdgeMs(policy);
      if (ahead * 1000 > edge + 300 && now - this.lastSeekAt >= 1000) this.seek(end - edge / 1000);
      // What the seek overshot (data arrives while it completes) is drained by the playback rate.
      this.catchingUp = true;
      return;
    }
    const action = liveEdgeAction(ahead * 1000, policy, this.catchingUp);
    if (action.kind === 'seek') {
      this.catchingUp = false;
      if (now - this.lastSeekAt >= 2000) this.seek(end - action.behindEndSeconds);
      return;
    }
    this.catchingUp = action.catchingUp;
    if (Math.abs(v.playbackRate - action.playbackRate) >= 0.005) v.playbackRate = action.playbackRate;
  }

  private readonly onWaiting = (): void => {
    if (this.joinedAt === 0 || Date.now() - this.lastSeekAt < 1000 || this.edgeMs === 0) return;
    this.edgeMs = Math.min(this.o.targetLatencyMs, this.edgeMs + STALL_EDGE_STEP_MS);
  };

  private seek(to: number): void {
    const v = this.o.video;
    this.lastSeekAt = Date.now();
    v.currentTime = Math.max(v.buffered.start(v.buffered.length - 1), to);
    v.playbackRate = 1;
  }

  destroy(): void {
    this.ended = true;
    this.o.video.removeEventListener('waiting', this.onWaiting);
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
