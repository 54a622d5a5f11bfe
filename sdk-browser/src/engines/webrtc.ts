/** WebRTC playback over WHEP: H264 (or VP8) and Opus straight into the video element. */
import { LivegateError } from '../errors.js';
import { webrtcLatencyMs, type WebrtcLatencyInputs } from '../latency.js';
import { deleteSession, negotiate } from '../signaling.js';
import { endpointUrl } from '../urls.js';
import type { EngineOptions, EngineSample, PlaybackEngine } from './engine.js';

/** How long a `disconnected` connection may take to come back before playback counts as broken. */
const DISCONNECTED_GRACE_MS = 3000;

export class WebrtcEngine implements PlaybackEngine {
  readonly protocol = 'webrtc' as const;
  private pc: RTCPeerConnection | null = null;
  private location: string | null = null;
  private disconnectedTimer: ReturnType<typeof setTimeout> | undefined;
  private previous: WebrtcLatencyInputs | null = null;
  private ended = false;
  reachedServer = false;

  constructor(private readonly o: EngineOptions) {}

  async start(signal: AbortSignal): Promise<void> {
    if (typeof RTCPeerConnection === 'undefined') throw new LivegateError('no-webrtc', 'this browser has no WebRTC (RTCPeerConnection)');
    const pc = new RTCPeerConnection({ iceServers: this.o.iceServers, bundlePolicy: 'max-bundle' });
    this.pc = pc;
    const video = pc.addTransceiver('video', { direction: 'recvonly' });
    const audio = pc.addTransceiver('audio', { direction: 'recvonly' });
    this.preferH264(video);
    const stream = new MediaStream();
    pc.addEventListener('track', (e) => {
      stream.addTrack(e.track);
      if (this.o.video.srcObject !== stream) this.o.video.srcObject = stream;
    });
    pc.addEventListener('connectionstatechange', () => this.onConnectionState());
    const session = await negotiate(pc, endpointUrl(this.o.server, this.o.path, 'whep'), 'whep', this.o.token, signal);
    this.location = session.location;
    this.reachedServer = true;
    if (this.ended) return;
    if (session.iceServers.length > 0 && this.o.iceServers.length === 0) {
      // Kept for the player's next sessions (this one's candidates are already gathered).
      this.o.iceServers.push(...session.iceServers);
    }
    for (const t of [video, audio]) this.applyJitterTarget(t.receiver);
    await this.connected(signal);
  }

  private preferH264(t: RTCRtpTransceiver): void {
    const caps = typeof RTCRtpReceiver !== 'undefined' && RTCRtpReceiver.getCapabilities?.('video');
    if (!caps || typeof t.setCodecPreferences !== 'function') return;
    const rank = (c: RTCRtpCodec): number => (/h264/i.test(c.mimeType) ? 0 : /vp8/i.test(c.mimeType) ? 1 : 2);
    try {
      t.setCodecPreferences([...caps.codecs].sort((a, b) => rank(a) - rank(b)));
    } catch {
      // The browser keeps its own order; the server picks what it can play.
    }
  }

  private applyJitterTarget(receiver: RTCRtpReceiver): void {
    const ms = this.o.jitterBufferTargetMs;
    if (ms === undefined) return;
    // jitterBufferTarget is the standard (ms); older Chromium knows only playoutDelayHint (s).
    const r = receiver as unknown as { jitterBufferTarget?: number | null; playoutDelayHint?: number };
    if ('jitterBufferTarget' in receiver) r.jitterBufferTarget = ms;
    else r.playoutDelayHint = ms / 1000;
  }

  /** Resolves once ICE and DTLS are up; rejects when they fail. */
  private connected(signal: AbortSignal): Promise<void> {
    const pc = this.pc!;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (pc.connectionState === 'connected') {
          cleanup();
          resolve();
        } else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
          cleanup();
          reject(new LivegateError('network', `WebRTC connection ${pc.connectionState} (ICE or DTLS)`));
        }
      };
      const onAbort = (): void => {
        cleanup();
        reject(new LivegateError('network', 'cancelled'));
      };
      const cleanup = (): void => {
        pc.removeEventListener('connectionstatechange', check);
        signal.removeEventListener('abort', onAbort);
      };
      pc.addEventListener('connectionstatechange', check);
      signal.addEventListener('abort', onAbort);
      check();
    });
  }

  private onConnectionState(): void {
    const state = this.pc?.connectionState;
    if (state === 'connected') {
      clearTimeout(this.disconnectedTimer);
      this.disconnectedTimer = undefined;
    } else if (state === 'disconnected') {
      this.disconnectedTimer ??= setTimeout(() => this.end(new LivegateError('network', 'WebRTC connection lost')), DISCONNECTED_GRACE_MS);
    } else if (state === 'failed' || state === 'closed') {
      this.end(new LivegateError('network', `WebRTC connection ${state}`));
    }
  }

  private end(error: LivegateError): void {
    if (this.ended) return;
    this.ended = true;
    this.o.onEnd(error);
  }

  async sample(): Promise<EngineSample> {
    const out: EngineSample & { bytesReceived: number } = { framesDecoded: 0, bytesReceived: 0, packetsLost: 0, latencyMs: null, width: 0, height: 0 };
    if (!this.pc) return out;
    const inputs: WebrtcLatencyInputs = {};
    const report = await this.pc.getStats();
    report.forEach((r: Record<string, unknown> & { type: string }) => {
      if (r.type === 'inbound-rtp') {
        out.bytesReceived += Number(r.bytesReceived ?? 0);
        out.packetsLost += Number(r.packetsLost ?? 0);
        if (r.kind === 'video') {
          out.framesDecoded = Number(r.framesDecoded ?? 0);
          out.width = Number(r.frameWidth ?? 0);
          out.height = Number(r.frameHeight ?? 0);
          inputs.jitterBufferDelay = Number(r.jitterBufferDelay ?? 0);
          inputs.jitterBufferEmittedCount = Number(r.jitterBufferEmittedCount ?? 0);
          const decoded = Number(r.framesDecoded ?? 0);
          if (decoded > 0 && typeof r.totalDecodeTime === 'number') inputs.decodeSeconds = r.totalDecodeTime / decoded;
        }
      } else if (r.type === 'candidate-pair' && (r.nominated === true || r.selected === true) && typeof r.currentRoundTripTime === 'number') {
        inputs.currentRoundTripTime = r.currentRoundTripTime;
      }
    });
    out.latencyMs = webrtcLatencyMs(inputs, this.previous);
    this.previous = inputs;
    return out;
  }

  holdLiveEdge(): void {
    // The browser's jitter buffer holds WebRTC at the edge by itself.
  }

  destroy(): void {
    this.ended = true;
    clearTimeout(this.disconnectedTimer);
    if (this.location) void deleteSession(this.location, this.o.token);
    this.location = null;
    this.pc?.close();
    this.pc = null;
    if (this.o.video.srcObject) this.o.video.srcObject = null;
  }
}
