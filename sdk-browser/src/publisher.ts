/**
 * LivegatePublisher: publishes a camera, microphone or screen to a path over WHIP, reconnecting by
 * itself, with tracks switched in place (no renegotiation).
 */
import type { ServerOptions } from './api.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { TypedEmitter } from './emitter.js';
import { asLivegateError, LivegateError } from './errors.js';
import { bitrate } from './latency.js';
import { deleteSession, negotiate } from './signaling.js';
import { cleanPath, endpointUrl } from './urls.js';

export interface PublisherOptions extends ServerOptions {
  /** The stream's path, e.g. `live/cam1`. */
  path: string;
  /** Reconnect delays: 0.5 s doubling to 10 s, unlimited, by default. */
  reconnect?: BackoffOptions;
  /** ICE servers; those the server announces in Link headers are used for later sessions when none are given. */
  iceServers?: RTCIceServer[];
  /** Video codec to prefer: H264 (default; every livegate protocol carries it) or VP8 (WebRTC viewers only). */
  videoCodec?: 'h264' | 'vp8';
}

export interface PublishSettings {
  /** Capture the camera (default true unless `screen`). */
  camera?: boolean;
  /** Capture the microphone (default true). */
  microphone?: boolean;
  /** Capture the screen instead of the camera. */
  screen?: boolean;
  /** Camera to use (from `navigator.mediaDevices.enumerateDevices()`). */
  deviceId?: string;
  /** Microphone to use. */
  audioDeviceId?: string;
  width?: number;
  height?: number;
  fps?: number;
  /** Video bitrate cap, bits per second. */
  videoBitrate?: number;
  /** Audio bitrate cap, bits per second. */
  audioBitrate?: number;
}

export type PublisherState = 'idle' | 'capturing' | 'connecting' | 'publishing' | 'reconnecting' | 'stopped' | 'failed';

export interface PublisherStats {
  state: PublisherState;
  /** Outgoing bits per second (audio and video) over the last second. */
  bitrateBps: number;
  fps: number;
  width: number;
  height: number;
  /** Why the browser sends less than asked: 'none', 'bandwidth', 'cpu' or 'other'. */
  qualityLimitation: string;
  /** Round trip to the gateway (ms). */
  rttMs: number | null;
  packetsLost: number;
}

export interface PublisherEvents {
  state: { state: PublisherState; previous: PublisherState };
  /** A WHIP session is up; `sessionUrl` is its resource (the same across track switches). */
  published: { sessionUrl: string | null };
  stats: PublisherStats;
  error: LivegateError;
  reconnecting: { attempt: number; delayMs: number; reason: string; error: LivegateError };
  ended: { reason: string };
}

const DISCONNECTED_GRACE_MS = 3000;

export class LivegatePublisher extends TypedEmitter<PublisherEvents> {
  private readonly options: PublisherOptions;
  private readonly backoff: Backoff;
  private readonly iceServers: RTCIceServer[];
  private stateValue: PublisherState = 'idle';
  private media: MediaStream | null = null;
  private ownsMedia = false;
  private settings: PublishSettings = {};
  private pc: RTCPeerConnection | null = null;
  private location: string | null = null;
  private session: AbortController | null = null;
  private statsTimer: ReturnType<typeof setInterval> | undefined;
  private disconnectedTimer: ReturnType<typeof setTimeout> | undefined;
  private last: { at: number; bytes: number } | null = null;
  private readonly onPageHide = (): void => this.endSessionOnUnload();

  constructor(options: PublisherOptions) {
    super();
    this.options = { ...options, path: cleanPath(options.path) };
    this.backoff = new Backoff(options.reconnect);
    this.iceServers = [...(options.iceServers ?? [])];
  }

  get state(): PublisherState {
    return this.stateValue;
  }

  /** What is being published (also for a local preview). */
  get mediaStream(): MediaStream | null {
    return this.media;
  }

  /** The WHIP session's URL while publishing. */
  get sessionUrl(): string | null {
    return this.location;
  }

  /**
   * Captures (or takes `media`) and publishes it. Resolves once the first WHIP session is up;
   * rejects with a LivegateError (`media-permission`, `busy`, `unauthorized`, …) when it cannot be.
   */
  async start(settingsOrMedia: PublishSettings | MediaStream = {}): Promise<MediaStream> {
    if (this.session) throw new LivegateError('busy', 'this publisher is already started');
    if (typeof RTCPeerConnection === 'undefined') throw new LivegateError('no-webrtc', 'this browser has no WebRTC (RTCPeerConnection)');
    if (settingsOrMedia instanceof MediaStream) {
      this.media = settingsOrMedia;
      this.ownsMedia = false;
    } else {
      this.settings = { ...settingsOrMedia };
      this.setState('capturing');
      try {
        this.media = await capture(this.settings);
      } catch (err) {
        this.setState('failed');
        throw err;
      }
      this.ownsMedia = true;
    }
    const session = new AbortController();
    this.session = session;
    addEventListener('pagehide', this.onPageHide);
    try {
      await this.connect(session.signal);
    } catch (err) {
      const error = asLivegateError(err);
      await this.stop(error.message);
      this.setState('failed');
      throw error;
    }
    this.statsTimer = setInterval(() => void this.collectStats(), 1000);
    return this.media;
  }

  /** Switches to another camera on the same WHIP session (replaceTrack: no renegotiation). */
  async switchCamera(deviceId: string): Promise<void> {
    this.settings = { ...this.settings, deviceId, screen: false, camera: true };
    const media = await capture({ ...this.settings, microphone: false });
    await this.replaceVideo(media.getVideoTracks()[0]!);
  }

  /** Publishes the screen instead of the camera, on the same session. */
  async shareScreen(): Promise<void> {
    const media = await capture({ ...this.settings, screen: true, microphone: false });
    const track = media.getVideoTracks()[0]!;
    // When the user ends sharing from the browser's own bar, go back to the camera.
    track.addEventListener('ended', () => void this.useCamera().catch((err: unknown) => this.emit('error', asLivegateError(err, 'media-permission'))));
    this.settings = { ...this.settings, screen: true };
    await this.replaceVideo(track);
  }

  /** Back to the camera (the one last chosen) after `shareScreen()`. */
  async useCamera(deviceId = this.settings.deviceId): Promise<void> {
    this.settings = { ...this.settings, screen: false, camera: true, deviceId };
    const media = await capture({ ...this.settings, microphone: false });
    await this.replaceVideo(media.getVideoTracks()[0]!);
  }

  /** Mutes (sends silence / black) or unmutes the audio or video track. */
  mute(kind: 'audio' | 'video', muted = true): void {
    for (const t of this.media?.getTracks() ?? []) if (t.kind === kind) t.enabled = !muted;
  }

  /** Ends the WHIP session (DELETE) and stops the capture. */
  async stop(reason = 'stopped'): Promise<void> {
    const wasActive = this.session !== null;
    this.session?.abort();
    this.session = null;
    removeEventListener('pagehide', this.onPageHide);
    clearInterval(this.statsTimer);
    clearTimeout(this.disconnectedTimer);
    const location = this.location;
    this.location = null;
    this.pc?.close();
    this.pc = null;
    if (this.ownsMedia) for (const t of this.media?.getTracks() ?? []) t.stop();
    if (location) await deleteSession(location, this.options.token);
    if (wasActive) {
      this.setState('stopped');
      this.emit('ended', { reason });
    }
  }

  private async replaceVideo(track: MediaStreamTrack): Promise<void> {
    const media = this.media;
    if (!media) throw new LivegateError('media-permission', 'not started');
    const old = media.getVideoTracks()[0];
    const sender = this.pc?.getSenders().find((s) => s.track?.kind === 'video' || s.track === old);
    if (sender) await sender.replaceTrack(track);
    if (old) {
      media.removeTrack(old);
      old.stop();
    }
    media.addTrack(track);
  }

  private setState(state: PublisherState): void {
    if (state === this.stateValue) return;
    const previous = this.stateValue;
    this.stateValue = state;
    this.emit('state', { state, previous });
  }

  /** One WHIP session; on a drop, the next is made after the backoff delay. */
  private async connect(signal: AbortSignal): Promise<void> {
    this.setState('connecting');
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: 'max-bundle' });
    this.pc = pc;
    for (const track of this.media!.getTracks()) {
      const encodings: RTCRtpEncodingParameters[] = [{}];
      const cap = track.kind === 'video' ? this.settings.videoBitrate : this.settings.audioBitrate;
      if (cap) encodings[0]!.maxBitrate = cap;
      if (track.kind === 'video' && this.settings.fps) encodings[0]!.maxFramerate = this.settings.fps;
      const t = pc.addTransceiver(track, { direction: 'sendonly', streams: [this.media!], sendEncodings: encodings });
      if (track.kind === 'video') preferVideoCodec(t, this.options.videoCodec ?? 'h264');
    }
    const session = await negotiate(pc, endpointUrl(this.options.server, this.options.path, 'whip'), 'whip', this.options.token, signal);
    if (signal.aborted || this.pc !== pc) {
      if (session.location) void deleteSession(session.location, this.options.token);
      throw new LivegateError('network', 'stopped');
    }
    this.location = session.location;
    if (session.iceServers.length > 0 && (this.options.iceServers ?? []).length === 0) {
      // For the next sessions: this one's candidates are gathered already.
      this.iceServers.splice(0, this.iceServers.length, ...session.iceServers);
    }
    pc.addEventListener('connectionstatechange', () => this.onConnectionState(pc));
    await connected(pc, signal);
    this.backoff.reset();
    this.setState('publishing');
    this.emit('published', { sessionUrl: this.location });
  }

  private onConnectionState(pc: RTCPeerConnection): void {
    if (pc !== this.pc) return;
    const state = pc.connectionState;
    if (state === 'connected') {
      clearTimeout(this.disconnectedTimer);
      this.disconnectedTimer = undefined;
    } else if (state === 'disconnected') {
      this.disconnectedTimer ??= setTimeout(() => void this.reconnect(new LivegateError('network', 'WebRTC connection lost')), DISCONNECTED_GRACE_MS);
    } else if (state === 'failed' || state === 'closed') {
      void this.reconnect(new LivegateError('network', `WebRTC connection ${state}`));
    }
  }

  private async reconnect(error: LivegateError): Promise<void> {
    const signal = this.session?.signal;
    if (!signal || signal.aborted) return;
    clearTimeout(this.disconnectedTimer);
    this.disconnectedTimer = undefined;
    const old = this.pc;
    this.pc = null;
    old?.close();
    if (this.location) void deleteSession(this.location, this.options.token);
    this.location = null;
    let cause = error;
    while (!signal.aborted) {
      const delayMs = this.backoff.next((cause.retryAfterSeconds ?? 0) * 1000);
      if (delayMs === null) {
        this.emit('error', cause);
        await this.stop(`gave up: ${cause.message}`);
        this.setState('failed');
        return;
      }
      this.setState('reconnecting');
      this.emit('reconnecting', { attempt: this.backoff.attempt, delayMs, reason: cause.message, error: cause });
      await new Promise((r) => setTimeout(r, delayMs));
      if (signal.aborted) return;
      try {
        await this.connect(signal);
        return;
      } catch (err) {
        cause = asLivegateError(err);
        this.closePeer();
        if (cause.code === 'unauthorized' || cause.code === 'forbidden') this.emit('error', cause);
      }
    }
  }

  private closePeer(): void {
    this.pc?.close();
    this.pc = null;
  }

  /** The page is going away: end the session so that no ghost publisher holds the path. */
  private endSessionOnUnload(): void {
    if (this.location) void deleteSession(this.location, this.options.token);
    this.location = null;
  }

  private async collectStats(): Promise<void> {
    const pc = this.pc;
    if (!pc || this.stateValue !== 'publishing') return;
    const out: PublisherStats = { state: this.stateValue, bitrateBps: 0, fps: 0, width: 0, height: 0, qualityLimitation: 'none', rttMs: null, packetsLost: 0 };
    let bytes = 0;
    (await pc.getStats()).forEach((r: Record<string, unknown> & { type: string }) => {
      if (r.type === 'outbound-rtp') {
        bytes += Number(r.bytesSent ?? 0);
        if (r.kind === 'video') {
          out.fps = Number(r.framesPerSecond ?? 0);
          out.width = Number(r.frameWidth ?? 0);
          out.height = Number(r.frameHeight ?? 0);
          out.qualityLimitation = String(r.qualityLimitationReason ?? 'none');
        }
      } else if (r.type === 'remote-inbound-rtp') {
        out.packetsLost += Number(r.packetsLost ?? 0);
      } else if (r.type === 'candidate-pair' && r.nominated === true && typeof r.currentRoundTripTime === 'number') {
        out.rttMs = Math.round(r.currentRoundTripTime * 1000);
      }
    });
    const now = performance.now();
    out.bitrateBps = this.last ? bitrate(bytes, this.last.bytes, now - this.last.at) : 0;
    this.last = { at: now, bytes };
    this.emit('stats', out);
  }
}

/** Captures what `s` asks for; a refusal becomes `media-permission`. */
async function capture(s: PublishSettings): Promise<MediaStream> {
  const md = typeof navigator === 'undefined' ? undefined : navigator.mediaDevices;
  if (!md) throw new LivegateError('media-permission', 'no camera access here: pages get media devices only in a secure context (https:// or localhost)');
  const video: MediaTrackConstraints = {};
  if (s.width) video.width = { ideal: s.width };
  if (s.height) video.height = { ideal: s.height };
  if (s.fps) video.frameRate = { ideal: s.fps };
  const audio: MediaTrackConstraints | boolean = s.audioDeviceId ? { deviceId: { exact: s.audioDeviceId } } : true;
  try {
    if (s.screen) {
      const screen = await md.getDisplayMedia({ video, audio: false });
      if (s.microphone === false) return screen;
      const mic = await md.getUserMedia({ audio });
      return new MediaStream([...screen.getVideoTracks(), ...mic.getAudioTracks()]);
    }
    if (s.deviceId) video.deviceId = { exact: s.deviceId };
    const wantVideo = s.camera !== false;
    const wantAudio = s.microphone !== false;
    if (!wantVideo && !wantAudio) throw new LivegateError('media-permission', 'nothing to capture: camera and microphone are both off');
    return await md.getUserMedia({ video: wantVideo ? video : false, audio: wantAudio ? audio : false });
  } catch (err) {
    if (err instanceof LivegateError) throw err;
    const name = (err as DOMException | undefined)?.name ?? 'Error';
    throw new LivegateError('media-permission', `cannot capture (${name}): ${(err as Error).message}`, { cause: err });
  }
}

/** Puts `codec` first (with its retransmission format); H264 keeps VP8 after it as a fallback, VP8 goes alone. */
function preferVideoCodec(t: RTCRtpTransceiver, codec: 'h264' | 'vp8'): void {
  const caps = typeof RTCRtpSender !== 'undefined' ? RTCRtpSender.getCapabilities?.('video') : null;
  if (!caps || typeof t.setCodecPreferences !== 'function') return;
  const rank = (c: RTCRtpCodec): number => {
    const name = c.mimeType.toLowerCase();
    if (name === `video/${codec}`) return /packetization-mode=1/.test(c.sdpFmtpLine ?? '') || codec === 'vp8' ? 0 : 1;
    // H264 falls back to VP8 (a browser without H264); asked for VP8, the page gets VP8 only: the
    // gateway's answer prefers H264 whenever it is offered.
    if (name === 'video/vp8') return 2;
    if (name === 'video/rtx') return 3;
    return 9;
  };
  const codecs = [...caps.codecs].filter((c) => rank(c) < 9).sort((a, b) => rank(a) - rank(b));
  try {
    if (codecs.length > 0) t.setCodecPreferences(codecs);
  } catch {
    // Keep the browser's order.
  }
}

function connected(pc: RTCPeerConnection, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new LivegateError('timeout', 'WebRTC connection not up within 10 s')), 10_000);
    const check = (): void => {
      if (pc.connectionState === 'connected') {
        cleanup();
        resolve();
      } else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
        fail(new LivegateError('network', `WebRTC connection ${pc.connectionState}`));
      }
    };
    const fail = (e: LivegateError): void => {
      cleanup();
      reject(e);
    };
    const onAbort = (): void => fail(new LivegateError('network', 'stopped'));
    const cleanup = (): void => {
      clearTimeout(timer);
      pc.removeEventListener('connectionstatechange', check);
      signal.removeEventListener('abort', onAbort);
    };
    pc.addEventListener('connectionstatechange', check);
    signal.addEventListener('abort', onAbort);
    check();
  });
}
