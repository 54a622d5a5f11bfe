/**
 * LivegatePlayer: plays one path in a video element, over the first protocol of the ladder that
 * works (WebRTC → WS-FLV → HLS by default), reconnecting by itself and holding the live edge.
 */
import { serverInfo, waitForLive, type ServerInfo, type ServerOptions } from './api.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { TypedEmitter } from './emitter.js';
import type { EngineOptions, EngineSample, PlaybackEngine } from './engines/engine.js';
import { FlvEngine } from './engines/flv.js';
import { HlsEngine } from './engines/hls.js';
import { WebrtcEngine } from './engines/webrtc.js';
import { asLivegateError, LivegateError } from './errors.js';
import { DEFAULT_LADDER, failsRung, Ladder, type PlaybackProtocol } from './ladder.js';
import { bitrate } from './latency.js';
import { firstFrame, playWithAutoplayFallback } from './media-element.js';
import { cleanPath } from './urls.js';

export interface PlayerOptions extends ServerOptions {
  /** The stream's path, e.g. `live/cam1`. */
  path: string;
  /** The ladder, tried in order. Default `['webrtc', 'flv', 'hls']`. */
  protocols?: PlaybackProtocol[];
  /** Time each rung has from its start to the first decoded frame (ms). Default 5000. */
  firstFrameTimeoutMs?: number;
  /** Reconnect delays: 0.5 s doubling to 10 s, unlimited, by default. */
  reconnect?: BackoffOptions;
  /**
   * FLV and HLS: the most latency accepted (ms); over it the player catches up to the live edge by
   * playing faster (≤ 1.1×), or by a seek when far over. Default 1000 for FLV, 1500 for HLS (which
   * otherwise plays the playlist's PART-HOLD-BACK behind live: 0.6 s with livegate's 200 ms parts).
   */
  targetLatencyMs?: number;
  /**
   * FLV: how far behind the newest data playback sits when caught up (ms): where it joins and what
   * catching up aims at. Less is lower latency and more risk of stalls on a jittery network. Default
   * 100 (or the target, when lower).
   */
  liveEdgeMs?: number;
  /** WebRTC: the receivers' jitter buffer target (ms); the browser decides when absent. */
  jitterBufferTargetMs?: number;
  /** ICE servers for WebRTC; those the server announces in Link headers are used when none are given. */
  iceServers?: RTCIceServer[];
  /** FLV over a WebSocket (default) or over HTTP (fetch). */
  flvTransport?: 'ws' | 'http';
  /** Playing, no new frame for this long → reconnect (ms). Default 6000. */
  stallTimeoutMs?: number;
  /** Start muted (autoplay without a gesture always works muted). */
  muted?: boolean;
  /** 0…1. */
  volume?: number;
  /** Start playing at once (default true); otherwise call `play()`. */
  autoStart?: boolean;
}

export type PlayerState = 'idle' | 'connecting' | 'waiting' | 'playing' | 'reconnecting' | 'failed' | 'destroyed';

export interface PlayerStats {
  protocol: PlaybackProtocol | null;
  state: PlayerState;
  width: number;
  height: number;
  /** Frames per second decoded over the last second. */
  fps: number;
  /** Received bits per second over the last second. */
  bitrateBps: number;
  packetsLost: number;
  /** Estimated latency (ms): WebRTC from the jitter buffer and round trip; FLV/HLS from the buffer (and HLS's program date-time). */
  latencyMs: number | null;
  framesDecoded: number;
}

export interface PlayerEvents {
  state: { state: PlayerState; previous: PlayerState };
  /** Playback started (or resumed) on this protocol. */
  protocol: { protocol: PlaybackProtocol };
  /** A rung failed and the player climbs down (`to` null: none left; the ladder starts over after a delay). */
  fallback: { from: PlaybackProtocol; to: PlaybackProtocol | null; reason: string; error: LivegateError };
  stats: PlayerStats;
  latency: { protocol: PlaybackProtocol; latencyMs: number };
  error: LivegateError;
  reconnecting: { attempt: number; delayMs: number; reason: string; error: LivegateError };
  /** The stream ended (its publisher stopped) or the player gave up. */
  ended: { reason: string };
  /** The browser refused autoplay with sound: playing muted; unmute on a user gesture. */
  'autoplay-muted': { protocol: PlaybackProtocol };
}

const STATS_INTERVAL_MS = 1000;
const LIVE_EDGE_INTERVAL_MS = 250;

export class LivegatePlayer extends TypedEmitter<PlayerEvents> {
  private readonly options: PlayerOptions;
  private readonly ladder: Ladder;
  private readonly backoff: Backoff;
  private readonly iceServers: RTCIceServer[];
  private stateValue: PlayerState = 'idle';
  private engine: PlaybackEngine | null = null;
  private running: AbortController | null = null;
  private statsTimer: ReturnType<typeof setInterval> | undefined;
  private edgeTimer: ReturnType<typeof setInterval> | undefined;
  private last: { at: number; sample: EngineSample } | null = null;
  private lastProgressAt = 0;
  private lastFrames = 0;
  private current: PlayerStats;
  /** Ends the connection playing now (a stall). */
  private endCurrent: ((error: LivegateError) => void) | null = null;

  constructor(
    readonly video: HTMLVideoElement,
    options: PlayerOptions,
  ) {
    super();
    this.options = { ...options, path: cleanPath(options.path) };
    this.ladder = new Ladder(options.protocols ?? DEFAULT_LADDER);
    this.backoff = new Backoff(options.reconnect);
    this.iceServers = [...(options.iceServers ?? [])];
    this.current = { protocol: null, state: 'idle', width: 0, height: 0, fps: 0, bitrateBps: 0, packetsLost: 0, latencyMs: null, framesDecoded: 0 };
    video.playsInline = true;
    if (options.muted !== undefined) video.muted = options.muted;
    if (options.volume !== undefined) video.volume = options.volume;
    if (options.autoStart !== false) this.play();
  }

  get state(): PlayerState {
    return this.stateValue;
  }

  /** The protocol playing now (null while connecting or waiting). */
  get protocol(): PlaybackProtocol | null {
    return this.stateValue === 'playing' ? (this.engine?.protocol ?? null) : null;
  }

  /** The latest stats. */
  get stats(): PlayerStats {
    return { ...this.current };
  }

  get muted(): boolean {
    return this.video.muted;
  }

  set muted(value: boolean) {
    this.video.muted = value;
  }

  get volume(): number {
    return this.video.volume;
  }

  set volume(value: number) {
    this.video.volume = Math.min(1, Math.max(0, value));
  }

  /** Starts (or restarts) playback. */
  play(): void {
    if (this.stateValue === 'destroyed') throw new LivegateError('network', 'the player is destroyed');
    if (this.running) return;
    const run = new AbortController();
    this.running = run;
    void this.run(run.signal);
    this.statsTimer ??= setInterval(() => void this.collectStats(), STATS_INTERVAL_MS);
    this.edgeTimer ??= setInterval(() => this.holdLiveEdge(), LIVE_EDGE_INTERVAL_MS);
  }

  /** Stops playback and frees the connection; `play()` starts again. */
  stop(): void {
    this.running?.abort();
    this.running = null;
    this.teardown();
    clearInterval(this.statsTimer);
    clearInterval(this.edgeTimer);
    this.statsTimer = this.edgeTimer = undefined;
    if (this.stateValue !== 'destroyed') this.setState('idle');
  }

  /** Frees everything: peer connection, players, timers; the WHEP session is ended (DELETE). */
  destroy(): void {
    if (this.stateValue === 'destroyed') return;
    this.stop();
    this.setState('destroyed');
    this.removeAllListeners();
  }

  private setState(state: PlayerState): void {
    if (state === this.stateValue) return;
    const previous = this.stateValue;
    this.stateValue = state;
    this.current.state = state;
    this.emit('state', { state, previous });
  }

  private async run(signal: AbortSignal): Promise<void> {
    let info: ServerInfo | null = null;
    let infoKnown = false;
    while (!signal.aborted) {
      if (!infoKnown) {
        try {
          info = await serverInfo(this.options);
          infoKnown = true;
        } catch (err) {
          // The server is unreachable: wait and try again.
          if (!(await this.delay(asLivegateError(err), signal))) return;
          continue;
        }
      }
      const rung = this.ladder.current();
      if (rung === null) {
        const last = this.ladder.failure(this.ladder.protocols[this.ladder.protocols.length - 1]!);
        const error = new LivegateError(last?.code ?? 'unsupported', `no protocol of the ladder could play "${this.options.path}"${last ? `: ${last.message}` : ''}`, { cause: last });
        this.emit('error', error);
        this.ladder.reset();
        if (!(await this.delay(error, signal))) return;
        continue;
      }
      const skip = unavailableRung(rung, info);
      if (skip) {
        this.climbDown(rung, skip);
        continue;
      }
      const outcome = await this.attempt(rung, signal);
      if (signal.aborted) return;
      if (outcome.phase === 'start' && (failsRung(outcome.error) || outcome.transportFailed)) {
        this.climbDown(rung, outcome.error);
        continue;
      }
      if (outcome.phase === 'playing') this.emit('ended', { reason: outcome.error.message });
      if (outcome.error.code === 'unauthorized' || outcome.error.code === 'forbidden') this.emit('error', outcome.error);
      if (!(await this.delay(outcome.error, signal))) return;
    }
  }

  private climbDown(rung: PlaybackProtocol, error: LivegateError): void {
    const to = this.ladder.fail(rung, error);
    this.emit('fallback', { from: rung, to, reason: error.message, error });
  }

  /**
   * Waits before the next attempt: for a stream that is not live, until it is (or the backoff delay
   * passes); otherwise the backoff delay. False when the player stopped or gave up.
   */
  private async delay(error: LivegateError, signal: AbortSignal): Promise<boolean> {
    const delayMs = this.backoff.next((error.retryAfterSeconds ?? 0) * 1000);
    if (delayMs === null) {
      this.setState('failed');
      this.emit('error', error);
      this.emit('ended', { reason: `gave up after ${this.backoff.attempt} attempts: ${error.message}` });
      this.running = null;
      return false;
    }
    if (error.code === 'not-live') {
      this.setState('waiting');
      await waitForLive(this.options, this.options.path, Math.max(delayMs, 2000), signal);
    } else {
      this.setState('reconnecting');
      this.emit('reconnecting', { attempt: this.backoff.attempt, delayMs, reason: error.message, error });
      await sleep(delayMs, signal);
    }
    return !signal.aborted;
  }

  /** One connection on `rung`: resolves with why it ended, and whether it had started playing. */
  private async attempt(rung: PlaybackProtocol, signal: AbortSignal): Promise<{ phase: 'start' | 'playing'; error: LivegateError; transportFailed?: boolean }> {
    this.setState('connecting');
    // The first reason the connection ends wins (a stall, the engine's own end, a failure).
    let onEnd!: (e: LivegateError) => void;
    const ended = new Promise<LivegateError>((resolve) => (onEnd = resolve));
    const o: EngineOptions = {
      video: this.video,
      server: this.options.server,
      path: this.options.path,
      token: this.options.token,
      targetLatencyMs: this.options.targetLatencyMs ?? (rung === 'hls' ? 1500 : 1000),
      targetLatencyExplicit: this.options.targetLatencyMs !== undefined,
      liveEdgeMs: this.options.liveEdgeMs,
      jitterBufferTargetMs: this.options.jitterBufferTargetMs,
      iceServers: this.iceServers,
      onEnd: (e) => onEnd(e),
    };
    this.endCurrent = (e) => onEnd(e);
    const engine = rung === 'webrtc' ? new WebrtcEngine(o) : rung === 'flv' ? new FlvEngine(o, this.options.flvTransport ?? 'ws') : new HlsEngine(o);
    this.engine = engine;
    this.last = null;
    const attempt = new AbortController();
    const stopAttempt = (): void => attempt.abort();
    signal.addEventListener('abort', stopAttempt);
    const timeoutMs = this.options.firstFrameTimeoutMs ?? 5000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new LivegateError('timeout', `no frame over ${rung} within ${timeoutMs} ms`)), timeoutMs);
      });
      const failed = ended.then((e) => Promise.reject(e));
      await Promise.race([
        (async () => {
          await engine.start(attempt.signal);
          void playWithAutoplayFallback(this.video).then((how) => {
            if (how === 'muted' && this.engine === engine) this.emit('autoplay-muted', { protocol: rung });
          });
          await firstFrame(this.video, async () => (await engine.sample()).framesDecoded > 0, attempt.signal);
        })(),
        timedOut,
        failed,
      ]);
    } catch (err) {
      clearTimeout(timer);
      signal.removeEventListener('abort', stopAttempt);
      attempt.abort();
      this.teardown();
      const error = asLivegateError(err);
      return { phase: 'start', error, transportFailed: error.code === 'network' && engine.reachedServer };
    }
    clearTimeout(timer);
    this.backoff.reset();
    this.lastProgressAt = performance.now();
    this.lastFrames = 0;
    this.current.protocol = rung;
    this.setState('playing');
    this.emit('protocol', { protocol: rung });
    const error = await Promise.race([ended, new Promise<LivegateError>((resolve) => attempt.signal.addEventListener('abort', () => resolve(new LivegateError('network', 'stopped'))))]);
    signal.removeEventListener('abort', stopAttempt);
    attempt.abort();
    this.teardown();
    return { phase: 'playing', error };
  }

  private teardown(): void {
    this.endCurrent = null;
    this.engine?.destroy();
    this.engine = null;
    this.current.protocol = null;
  }

  private holdLiveEdge(): void {
    if (this.stateValue === 'playing') this.engine?.holdLiveEdge();
  }

  private async collectStats(): Promise<void> {
    const engine = this.engine;
    if (!engine || this.stateValue !== 'playing') return;
    let sample: EngineSample;
    try {
      sample = await engine.sample();
    } catch {
      return;
    }
    if (engine !== this.engine) return;
    const now = performance.now();
    const prev = this.last;
    const ms = prev ? now - prev.at : 0;
    const fps = prev && ms > 0 ? Math.max(0, ((sample.framesDecoded - prev.sample.framesDecoded) * 1000) / ms) : 0;
    const bps = sample.bytesReceived !== undefined ? bitrate(sample.bytesReceived, prev?.sample.bytesReceived, ms) : (sample.bitrateBps ?? 0);
    this.last = { at: now, sample };
    Object.assign(this.current, {
      width: sample.width,
      height: sample.height,
      fps: Math.round(fps * 10) / 10,
      bitrateBps: bps,
      packetsLost: sample.packetsLost,
      latencyMs: sample.latencyMs,
      framesDecoded: sample.framesDecoded,
    });
    this.emit('stats', this.stats);
    if (sample.latencyMs !== null) this.emit('latency', { protocol: engine.protocol, latencyMs: sample.latencyMs });
    // A stall: frames stopped while the page is visible (hidden tabs may stop decoding on purpose).
    if (sample.framesDecoded !== this.lastFrames) {
      this.lastFrames = sample.framesDecoded;
      this.lastProgressAt = now;
    } else if (
      sample.framesDecoded > 0 &&
      (typeof document === 'undefined' || document.visibilityState === 'visible') &&
      now - this.lastProgressAt > (this.options.stallTimeoutMs ?? 6000)
    ) {
      this.lastProgressAt = now;
      this.endCurrent?.(new LivegateError('timeout', `no new frame for ${Math.round((this.options.stallTimeoutMs ?? 6000) / 1000)} s`));
    }
  }
}

/** Why the server's own description rules a rung out, if it does. */
function unavailableRung(rung: PlaybackProtocol, info: ServerInfo | null): LivegateError | null {
  if (rung === 'webrtc' && typeof RTCPeerConnection === 'undefined') return new LivegateError('no-webrtc', 'this browser has no WebRTC');
  if (!info) return null;
  if (!info.play[rung]) {
    const what = rung === 'webrtc' ? 'WebRTC (WHEP)' : rung === 'flv' ? 'FLV' : 'HLS';
    return new LivegateError('unsupported', `the gateway does not serve ${what}${rung === 'webrtc' ? ' (webrtc.enabled is false)' : ''}`);
  }
  return null;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
