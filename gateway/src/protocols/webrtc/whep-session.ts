/**
 * One WHEP viewer: a werift peer connection (ICE-lite, no outbound STUN) with a sendonly H264 and a
 * sendonly Opus track, attached to a Stream through a WhepReader.
 */
import type { AccessGrant } from '../../core/access.js';
import {
  MediaStreamTrack,
  RTCRtpCodecParameters,
  senderReportClock,
  useH264,
  useOPUS,
  useVP8,
  type RTCPeerConnection,
  type RtcpPacket,
  type RTCRtpSender,
} from './werift.js';
import { MediaClockReports } from './media-clock-reports.js';
import type { WebrtcAudioCodec, WebrtcVideoCodec } from './rtp-units.js';
import { selectedPath } from './transport/werift-ice.js';
import { FastRtpSender } from './transport/fast-rtp.js';
import { createPeerConnection, type WebrtcNetwork, type WebrtcOptions } from './peer-connection.js';
import type { Logger } from '../../core/log.js';
import type { ReaderHandle, Stream } from '../../core/stream.js';
import { WhepReader } from './whep-reader.js';
import type { SessionSlot } from './session-limits.js';

export interface WhepSessionStats {
  session: string;
  id: string;
  path: string;
  remoteAddress: string;
  state: string;
  /** The selected ICE path: UDP or ICE-TCP, and the media address of the peer (null before ICE completes). */
  ice: { transport: 'udp' | 'tcp'; address: string; port: number } | null;
  /**
   * Who makes the packets: livegate's native addon (SRTP in C++, sendmmsg batches), livegate's
   * JavaScript SRTP (the addon not built, or ICE-TCP framing), or werift's (GCM profile, per-session sockets).
   */
  sendPath: 'native' | 'livegate' | 'werift';
  createdAt: string;
  packetsSent: number;
  bytesSent: number;
  /** As the viewer reports it in RTCP receiver reports. */
  packetsLost: number;
  packetsRetransmitted: number;
  /** PLI/FIR received from the viewer. */
  keyframeRequests: number;
  /** Of those, answered from the GOP cache. */
  keyframeAnswers: number;
}

export interface WhepSessionContext {
  id: string;
  remote: string;
  log: Logger;
  webrtc: WebrtcOptions;
  /** The shared media ports, or null for a socket per session. */
  network: WebrtcNetwork | null;
  /** From `Authorization: Bearer …`, kept for authentication. */
  bearer?: string;
  /** What the admission gate allowed. */
  grant?: AccessGrant;
  /** What the stream's video is (VP8 only from a WHIP publisher), and so what this viewer gets. */
  videoCodec: WebrtcVideoCodec;
  /** Opus, or G.711 when the stream's audio is and the viewer offered it. */
  audioCodec: WebrtcAudioCodec;
  /** Its place among the gateway's WebRTC sessions: told when ICE completes, released on close. */
  slot: SessionSlot;
}

/** RTCP payload-specific feedback: PLI (fmt 1) and FIR (fmt 4), RFC 4585 §6.3 / RFC 5104 §4.3.1. */
const RTCP_PSFB = 206;
const PSFB_PLI = 1;
const PSFB_FIR = 4;

/** PLI or FIR: a keyframe request. Not REMB, which shares the packet type (fmt 15) and arrives often. */
export function isKeyframeRequest(packet: RtcpPacket): boolean {
  if (packet.type !== RTCP_PSFB) return false;
  const fmt = (packet as { feedback?: { count?: number } }).feedback?.count;
  return fmt === PSFB_PLI || fmt === PSFB_FIR;
}
const KEYFRAME_ANSWER_INTERVAL_MS = 2000;

export class WhepSession {
  readonly pc: RTCPeerConnection;
  private readonly videoTrack: MediaStreamTrack;
  private readonly audioTrack: MediaStreamTrack;
  private reader: WhepReader | null = null;
  /** The two senders, once negotiated; their reports follow the media clock (MediaClockReports). */
  private senders: { video: RTCRtpSender; audio: RTCRtpSender } | null = null;
  private readonly reports = new MediaClockReports();
  /** Each track's last packet sent: its media time and when that media reached livegate (-1: none yet). */
  private readonly lastSent = { video: { t90k: 0, receivedAt: -1 }, audio: { t90k: 0, receivedAt: -1 } };
  /** livegate's SRTP send path (null until DTLS is up, or when werift's must be used). */
  private fast: FastRtpSender | null = null;
  private handle: ReaderHandle | null = null;
  private republishTimer: NodeJS.Timeout | null = null;
  private iceTimer: NodeJS.Timeout | null;
  private closed = false;
  readonly createdAt = Date.now();
  lastActivity = performance.now();
  state = 'new';
  keyframeRequests = 0;
  /** Keyframe requests answered from the GOP cache. */
  keyframeAnswers = 0;
  private lastKeyframeAnswer = -Infinity;
  onClosed: (() => void) | null = null;

  constructor(
    readonly uuid: string,
    public stream: Stream,
    private readonly ctx: WhepSessionContext,
  ) {
    const video = ctx.videoCodec === 'vp8' ? useVP8() : useH264();
    this.videoTrack = new MediaStreamTrack({ kind: 'video', codec: video });
    const audio =
      ctx.audioCodec === 'opus'
        ? useOPUS({ parameters: 'minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1' })
        : new RTCRtpCodecParameters({ mimeType: ctx.audioCodec === 'pcmu' ? 'audio/PCMU' : 'audio/PCMA', clockRate: 8000, channels: 1, payloadType: ctx.audioCodec === 'pcmu' ? 0 : 8 });
    this.audioTrack = new MediaStreamTrack({ kind: 'audio', codec: audio });
    this.pc = createPeerConnection(ctx.webrtc, {
      video: [video, new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000 })],
      audio: [audio],
    }, { dtlsServer: ctx.webrtc.fastRtp !== false }, ctx.network);
    this.pc.iceConnectionStateChange.subscribe((state) => {
      this.state = state;
      this.touch();
      if (state === 'failed' || state === 'closed') this.close(`ICE ${state}`);
    });
    // Connected means ICE and DTLS are both done (werift's ICE-lite state says "completed" for a
    // moment before any check arrives, so it cannot tell).
    this.pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') this.iceDone();
    });
    // A viewer that never completes ICE holds a socket for nothing.
    this.iceTimer = setTimeout(() => this.close(`ICE did not complete within ${ctx.webrtc.iceTimeoutMs} ms`), ctx.webrtc.iceTimeoutMs);
    this.iceTimer.unref();
  }

  private iceDone(): void {
    if (this.iceTimer) clearTimeout(this.iceTimer);
    this.iceTimer = null;
    this.ctx.slot.connected();
    if (this.ctx.network && this.ctx.webrtc.fastRtp !== false && this.senders && !this.fast) {
      this.fast = FastRtpSender.attach(this.pc, [this.senders.video, this.senders.audio]);
      this.ctx.log.debug('WebRTC send path', { session: this.uuid, path: this.sendPath });
      this.useFastPath();
    }
  }

  /** Hands the reader livegate's send path, once both exist. */
  private useFastPath(): void {
    const fast = this.fast;
    const senders = this.senders;
    if (!fast || !senders || !this.reader) return;
    this.reader.fastSend = (kind, seq, ts, marker, payload) => fast.send(senders[kind], seq, ts, marker, payload);
    if (fast.nativeSend) this.reader.fastSendFrame = (seq, ts, frame) => fast.sendFrame(senders.video, seq, ts, frame);
  }

  /** Who makes this viewer's packets (see WhepSessionStats). */
  private get sendPath(): WhepSessionStats['sendPath'] {
    return this.fast ? (this.fast.nativeSend ? 'native' : 'livegate') : 'werift';
  }

  /** Negotiates: the answer holds every candidate (werift gathers before it resolves). */
  async answer(offer: string): Promise<string> {
    // Tracks go in before the offer is applied, or werift may pick H264 packetization-mode 0.
    const video = this.pc.addTransceiver(this.videoTrack, { direction: 'sendonly' });
    const audio = this.pc.addTransceiver(this.audioTrack, { direction: 'sendonly' });
    this.senders = { video: video.sender, audio: audio.sender };
    for (const kind of ['video', 'audio'] as const) {
      const last = this.lastSent[kind];
      senderReportClock(this.senders[kind], () => (last.receivedAt < 0 ? 0n : this.reports.ntpOf(last.t90k, last.receivedAt)));
    }
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    const sdp = this.pc.localDescription?.sdp;
    if (!sdp) throw new Error('no local description');
    if (!/^m=video [1-9]/m.test(sdp)) throw new Error(`the video section was rejected (no usable ${this.ctx.videoCodec.toUpperCase()})`);
    // Any RTCP from the viewer proves it is alive; PLI/FIR are recorded (an RTMP source cannot make
    // a keyframe on demand: the viewer gets the next one, at most one GOP away).
    const onRtcp = (packet: RtcpPacket): void => {
      this.touch();
      if (isKeyframeRequest(packet)) {
        this.keyframeRequests++;
        this.answerKeyframeRequest();
      }
    };
    for (const t of [video, audio]) {
      t.sender.onRtcp.subscribe(onRtcp);
      t.receiver.onRtcp.subscribe(onRtcp);
    }
    return sdp;
  }

  /**
   * Attaches the viewer to the stream once the connection is up: werift drops what is written
   * before DTLS is ready, and the viewer must begin with a whole keyframe from the GOP cache.
   */
  start(): void {
    if (this.closed) return;
    if (this.pc.connectionState === 'connected') return this.attach(this.stream);
    const sub = this.pc.connectionStateChange.subscribe((state) => {
      if (state !== 'connected') return;
      sub.unSubscribe();
      this.attach(this.stream);
    });
  }

  /** The path this viewer waits on for a new publisher, or null. */
  get waitingFor(): string | null {
    return this.republishTimer ? this.stream.path : null;
  }

  /** A new publisher took the path: carry on with it, RTP time running on. */
  resume(stream: Stream): void {
    if (this.closed || !this.republishTimer) return;
    clearTimeout(this.republishTimer);
    this.republishTimer = null;
    this.ctx.log.info('play resumed on a new publisher', { session: this.uuid, publisher: stream.publisher.id });
    this.reader?.restart();
    this.attach(stream);
  }

  private attach(stream: Stream): void {
    if (this.closed) return;
    if (stream.isEnded) return this.streamEnded('stream ended before the connection was up');
    this.stream = stream;
    this.reader ??= new WhepReader(this.ctx.videoCodec, this.videoTrack, this.audioTrack, this.ctx.audioCodec, {
      onEnd: (reason) => this.streamEnded(reason),
      onDrop: (reason) => this.close(reason),
      sent: (kind, t90k, receivedAt) => {
        const last = this.lastSent[kind];
        last.t90k = t90k;
        last.receivedAt = receivedAt;
      },
    });
    this.handle = this.addReader(stream, this.reader);
    this.useFastPath();
  }

  /**
   * WebRTC viewers play Opus: AAC audio reaches them as the stream's Opus rendition, and their video
   * is held back by the rendition's delay, so that lip sync holds.
   */
  private addReader(stream: Stream, reader: WhepReader): ReaderHandle {
    const handle = stream.addReader({ id: this.ctx.id, protocol: 'webrtc', remoteAddress: this.ctx.remote, bearer: this.ctx.bearer, ...(this.ctx.grant ? { grant: this.ctx.grant } : {}) }, reader, { audio: [this.ctx.audioCodec] });
    reader.videoDelay = () => handle.audioDelayMs?.() ?? 0;
    return handle;
  }

  /** Detaches from an ended stream; waits for a new publisher, or closes. */
  private streamEnded(reason: string): void {
    this.detach();
    const grace = this.ctx.webrtc.republishGraceMs;
    if (grace <= 0 || this.closed) return this.close(`stream ended: ${reason}`);
    this.ctx.log.info('play waiting for a new publisher', { session: this.uuid, reason, graceMs: grace });
    this.republishTimer = setTimeout(() => this.close(`stream ended: ${reason}; no new publisher within ${grace} ms`), grace);
  }

  private detach(): void {
    if (this.reader) this.reader.videoDelay = () => 0;
    this.handle?.close();
    this.handle = null;
  }

  /**
   * PLI/FIR: an RTMP source cannot make a keyframe on demand, so the viewer is answered from the
   * GOP cache: it starts over on the cached keyframe (paced, RTP time running on) and so gets a
   * decodable picture at once instead of at the source's next keyframe. At most once per
   * KEYFRAME_ANSWER_INTERVAL_MS, so a lossy viewer cannot make livegate resend GOPs in a loop.
   */
  private answerKeyframeRequest(): void {
    // A source that makes keyframes on demand (WHIP) is asked for one (it rate-limits): fresher than
    // the cached GOP, and the viewer does not fall behind live.
    if (this.stream.publisher.requestKeyframe) return this.stream.publisher.requestKeyframe(`PLI from viewer ${this.ctx.id}`);
    const now = performance.now();
    if (!this.reader || !this.handle || this.closed || now - this.lastKeyframeAnswer < KEYFRAME_ANSWER_INTERVAL_MS) return;
    this.lastKeyframeAnswer = now;
    this.keyframeAnswers++;
    this.handle.close();
    this.handle = null;
    this.reader.restart();
    this.handle = this.addReader(this.stream, this.reader);
  }

  touch(): void {
    this.lastActivity = performance.now();
  }

  /** The selected ICE path's transport, once there is one. */
  get iceTransport(): 'udp' | 'tcp' | null {
    return selectedPath(this.pc)?.transport ?? null;
  }

  get packetsSent(): number {
    return this.reader?.packetsSent ?? 0;
  }
  get bytesSent(): number {
    return this.reader?.bytesSent ?? 0;
  }

  /** What the API shows of this viewer (werift's RTCP-derived counters included). */
  async stats(): Promise<WhepSessionStats> {
    let packetsLost = 0;
    let retransmitted = 0;
    try {
      for (const r of (await this.pc.getStats()).values()) {
        const v = r as { type: string; packetsLost?: number; retransmittedPacketsSent?: number };
        if (v.type === 'remote-inbound-rtp') packetsLost += v.packetsLost ?? 0;
        if (v.type === 'outbound-rtp') retransmitted += v.retransmittedPacketsSent ?? 0;
      }
    } catch {
      // A closing connection has no stats: report the counters livegate keeps itself.
    }
    return {
      session: this.uuid,
      id: this.ctx.id,
      path: this.stream.path,
      remoteAddress: this.ctx.remote,
      state: this.closed ? 'closed' : this.pc.connectionState,
      ice: this.closed ? null : selectedPath(this.pc),
      sendPath: this.sendPath,
      createdAt: new Date(this.createdAt).toISOString(),
      packetsSent: this.packetsSent,
      bytesSent: this.bytesSent,
      packetsLost,
      packetsRetransmitted: retransmitted,
      keyframeRequests: this.keyframeRequests,
      keyframeAnswers: this.keyframeAnswers,
    };
  }

  /** Idempotent: detaches from the stream and closes the peer connection (its sockets too). */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.republishTimer) clearTimeout(this.republishTimer);
    this.republishTimer = null;
    if (this.iceTimer) clearTimeout(this.iceTimer);
    this.iceTimer = null;
    this.ctx.slot.release();
    this.detach();
    this.reader?.discardDelayed();
    // The viewer leaving (DELETE, ICE closed) is routine; what livegate decided is a warning.
    const routine = /^(DELETE|ICE closed|server shutting down|stream ended)/.test(reason);
    this.ctx.log[routine ? 'info' : 'warn']('play closed', { session: this.uuid, reason });
    void this.pc.close().catch((err: unknown) => this.ctx.log.warn('peer connection close failed', { session: this.uuid, reason: String(err) }));
    this.onClosed?.();
  }
}
