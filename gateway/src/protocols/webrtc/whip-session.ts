/**
 * One WHIP publisher: a werift peer connection (ICE-lite, receive only) whose H264 / VP8 and Opus
 * RTP becomes a Stream. It is the stream's PublisherInfo: it can make the browser send a keyframe
 * (PLI), and it ends the stream when the browser goes away (ICE failure, DTLS close, or no RTP for
 * `publisherMediaTimeoutMs` — a closed tab sends nothing, and ICE-lite has no consent checks).
 */
import type { AccessGrant } from '../../core/access.js';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { PublisherInfo, Stream } from '../../core/stream.js';
import type { StreamRegistry } from '../../core/stream-registry.js';
import { RtpTimeline } from '../../format/rtp/rtp-clock.js';
import { TwccRecorder } from '../../format/rtp/twcc.js';
import type { OfferedMedia } from '../../format/sdp-offer.js';
import { selectedPath } from './transport/werift-ice.js';
import { createPeerConnection, type WebrtcNetwork, type WebrtcOptions } from './peer-connection.js';
import type { SessionSlot } from './session-limits.js';
import { RTCRtpCodecParameters, useOPUS, useTWCC, useVP8, type RTCPeerConnection, type RTCRtpTransceiver, type RtcpPacket, type RtpPacket } from './werift.js';
import { KeyframeRequests } from './keyframe-requests.js';
import { WhipReceiver, type WhipCodec } from './whip-receiver.js';

/** At most one PLI per this long (a lossy link must not make the encoder send keyframes back to back). */
const PLI_INTERVAL_MS = 1000;
/** Before the first packet, the browser gets this long to connect (ICE + DTLS). */
const CONNECT_TIMEOUT_MS = 15_000;
const RTCP_SR = 200;

export interface WhipSessionContext {
  id: string;
  remote: string;
  path: string;
  log: Logger;
  webrtc: WebrtcOptions;
  /** The shared media ports, or null for a socket per session. */
  network: WebrtcNetwork | null;
  registry: StreamRegistry;
  /** Its place among the gateway's WebRTC sessions: told when ICE completes, released on close. */
  slot: SessionSlot;
  /** From `Authorization: Bearer …`. */
  bearer?: string;
  query?: string;
  /** What the admission gate allowed. */
  grant?: AccessGrant;
}

export interface WhipSessionStats {
  session: string;
  id: string;
  path: string;
  remoteAddress: string;
  state: string;
  /** The selected ICE path: UDP or ICE-TCP, and the media address of the peer (null before ICE completes). */
  ice: { transport: 'udp' | 'tcp'; address: string; port: number } | null;
  createdAt: string;
  tracks: {
    kind: string;
    codec: string | null;
    packets: number;
    bytes: number;
    units: number;
    lost: number;
    reordered: number;
    duplicates: number;
    ssrcChanges: number;
  }[];
  keyframeRequests: number;
}

/**
 * RTCP feedback livegate gives a publisher's video: NACK (werift's retransmission requests), PLI,
 * and transport-wide congestion control (livegate's own TwccRecorder; werift's is switched off).
 */
const FEEDBACK = [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, useTWCC()];
/** How often transport-wide feedback goes to the publisher (libwebrtc's default interval). */
const TWCC_INTERVAL_MS = 100;
const TWCC_URI = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';

/** The codec parameters livegate accepts for one offered section, in its order of preference. */
export function receiveCodecs(media: OfferedMedia): RTCRtpCodecParameters[] {
  if (media.kind === 'audio') {
    return media.codecs.some((c) => c.name === 'OPUS' && c.clockRate === 48000) ? [useOPUS({ rtcpFeedback: [useTWCC()] })] : [];
  }
  if (media.kind !== 'video') return [];
  const out: RTCRtpCodecParameters[] = [];
  // H264 first (every output protocol can carry it), with the offer's own fmtp: werift matches
  // profile-level-id exactly, and a publisher's profile is whatever its encoder makes.
  const seen = new Set<string>();
  for (const c of media.codecs) {
    if (c.name !== 'H264' || c.fmtp['packetization-mode'] !== '1') continue;
    const profile = (c.fmtp['profile-level-id'] ?? '42e01f').toLowerCase();
    if (seen.has(profile)) continue;
    seen.add(profile);
    out.push(
      new RTCRtpCodecParameters({
        mimeType: 'video/H264',
        clockRate: 90000,
        rtcpFeedback: FEEDBACK,
        parameters: `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${profile}`,
      }),
    );
    out.push(new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000 }));
  }
  if (media.codecs.some((c) => c.name === 'VP8')) {
    out.push(useVP8({ rtcpFeedback: FEEDBACK }));
    out.push(new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000 }));
  }
  return out;
}

function codecOf(mimeType: string): WhipCodec | null {
  const m = mimeType.toLowerCase();
  return m === 'video/h264' ? 'h264' : m === 'video/vp8' ? 'vp8' : m === 'audio/opus' ? 'opus' : null;
}

interface Section {
  kind: 'video' | 'audio';
  transceiver: RTCRtpTransceiver;
  receiver: WhipReceiver;
}

export class WhipSession implements PublisherInfo {
  readonly protocol = 'whip';
  readonly pc: RTCPeerConnection;
  private readonly sections: Section[] = [];
  private readonly timeline = new RtpTimeline();
  private stream: Stream | null = null;
  private closed = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private pollAt = Infinity;
  private readonly watchdog: NodeJS.Timeout;
  private readonly keyframes = new KeyframeRequests(PLI_INTERVAL_MS, (reason) => this.sendPli(reason));
  private readonly createdAt = Date.now();
  private readonly startedAt = performance.now();
  private lastMediaAt: number | null = null;
  private iceConnected = false;
  /**
   * Transport-wide congestion control feedback, so the browser's bandwidth estimate can grow: with
   * none it creeps up by loss probing alone (≈ 300 → 670 kb/s in 12 s, measured), and werift's own
   * feedback misreports losses and times (the estimate fell to 30 kb/s).
   */
  private readonly twcc = new TwccRecorder({ senderSsrc: (Math.random() * 2 ** 32) >>> 0 });
  private twccTimer: NodeJS.Timeout | null = null;
  onClosed: (() => void) | null = null;

  constructor(
    readonly uuid: string,
    private readonly offered: OfferedMedia[],
    private readonly ctx: WhipSessionContext,
  ) {
    const video = offered.find((m) => m.kind === 'video');
    const audio = offered.find((m) => m.kind === 'audio');
    this.pc = createPeerConnection(ctx.webrtc, {
      video: video ? receiveCodecs(video) : [],
      audio: audio ? receiveCodecs(audio) : [],
    }, { transportCc: true }, ctx.network);
    this.pc.connectionStateChange.subscribe((state) => {
      if (state === 'failed' || state === 'closed') this.close(`connection ${state}`);
      else if (state === 'connected') {
        // ICE and DTLS done (werift's ICE-lite state says "completed" before any check arrives).
        this.iceConnected = true;
        ctx.slot.connected();
        this.ctx.log.info('publisher connected', { session: uuid });
        this.requestKeyframe('connected');
      }
    });
    this.pc.iceConnectionStateChange.subscribe((state) => {
      if (state === 'failed' || state === 'closed') this.close(`ICE ${state}`);
    });
    this.watchdog = setInterval(() => this.guarded(() => this.checkAlive()), 500);
    this.watchdog.unref();
  }

  get id(): string {
    return this.ctx.id;
  }
  get path(): string {
    return this.ctx.path;
  }
  get remoteAddress(): string {
    return this.ctx.remote;
  }
  get query(): string | undefined {
    return this.ctx.query;
  }
  get bearer(): string | undefined {
    return this.ctx.bearer;
  }
  get grant(): AccessGrant | undefined {
    return this.ctx.grant;
  }
  /** The publisher sends the first video codec of the answer (before its first frame tells). */
  get videoCodec(): 'h264' | 'vp8' | undefined {
    const t = this.sections.find((s) => s.kind === 'video')?.transceiver;
    const codec = t?.codecs[0] ? codecOf(t.codecs[0].mimeType) : null;
    return codec === 'h264' || codec === 'vp8' ? codec : undefined;
  }

  /** Negotiates; the answer holds every candidate (werift gathers before it resolves). */
  async answer(offer: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    // The server gave up waiting (answer timeout) and closed the session meanwhile.
    if (this.closed) throw new Error('session closed during negotiation');
    const sdp = this.pc.localDescription?.sdp;
    if (!sdp) throw new Error('no local description');
    for (const t of this.pc.getTransceivers()) {
      this.takeOverTransportFeedback(t);
      const kind = t.kind === 'video' ? 'video' : t.kind === 'audio' ? 'audio' : null;
      if (!kind) continue;
      const codecs = new Map<number, WhipCodec>();
      for (const c of t.codecs) {
        const codec = codecOf(c.mimeType);
        if (codec && c.payloadType !== undefined) codecs.set(c.payloadType, codec);
      }
      if (codecs.size === 0) throw new Error(`the ${kind} section has no codec livegate can receive`);
      this.attachSection(kind, t, codecs);
    }
    if (this.sections.length === 0) throw new Error('the offer has no audio or video livegate can receive');
    if (sdp.includes(TWCC_URI)) {
      this.twccTimer = setInterval(() => this.guarded(() => this.sendTwcc()), TWCC_INTERVAL_MS);
      this.twccTimer.unref();
    }
    return sdp;
  }

  private attachSection(kind: 'video' | 'audio', transceiver: RTCRtpTransceiver, codecs: Map<number, WhipCodec>): void {
    const opus = this.offered.find((m) => m.kind === 'audio')?.codecs.find((c) => c.name === 'OPUS');
    const receiver = new WhipReceiver({
      kind,
      trackId: kind === 'video' ? 0 : 1,
      codecs,
      timeline: this.timeline,
      jitterBufferMs: this.ctx.webrtc.jitterBufferMs,
      // RFC 7587 §7.1: sprop-stereo says what the sender will send (stereo, what it would like).
      opusChannels: opus && (opus.fmtp['sprop-stereo'] === '1' || opus.fmtp.stereo === '1') ? 2 : 1,
      events: {
        track: (track) => this.stream?.setTrack(track),
        unit: (unit) => this.stream?.push(unit),
        needKeyframe: (reason) => this.requestKeyframe(reason),
        warn: (message, fields) => this.ctx.log.warn(message, { session: this.uuid, ...fields }),
      },
    });
    this.sections.push({ kind, transceiver, receiver });
    const onRtp = (rtp: RtpPacket): void =>
      this.guarded(() => {
        if (this.closed) return;
        const now = performance.now();
        this.lastMediaAt = now;
        const h = rtp.header;
        receiver.push({ ssrc: h.ssrc, payloadType: h.payloadType, sequenceNumber: h.sequenceNumber, timestamp: h.timestamp, marker: h.marker, payload: rtp.payload }, now);
        this.schedulePoll(receiver.nextDeadline());
      });
    const onRtcp = (packet: RtcpPacket): void =>
      this.guarded(() => {
        if (packet.type !== RTCP_SR || this.closed) return;
        const sr = packet as RtcpPacket & { ssrc: number; senderInfo: { ntpTimestamp: bigint; rtpTimestamp: number } };
        receiver.senderReport(sr.ssrc, sr.senderInfo.ntpTimestamp, sr.senderInfo.rtpTimestamp, performance.now());
      });
    const subscribe = (track: { onReceiveRtp: { subscribe(f: (rtp: RtpPacket) => void): unknown } }): void => {
      track.onReceiveRtp.subscribe(onRtp);
    };
    for (const track of transceiver.receiver.tracks) subscribe(track);
    transceiver.onTrack.subscribe((track) => subscribe(track));
    transceiver.receiver.onRtcp.subscribe(onRtcp);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Publishes the stream (throws StreamBusyError when the path is taken). */
  /** Publishes the session's path with what the admission gate allowed. */
  publish(grant: AccessGrant): Stream {
    if (this.closed) throw new Error('the session closed before it could publish');
    this.ctx.grant = grant;
    this.stream = this.ctx.registry.publish(this.ctx.path, this);
    return this.stream;
  }

  /** One timer for all sections: the earliest jitter-buffer deadline. */
  private schedulePoll(deadline: number | null): void {
    if (deadline === null || deadline >= this.pollAt || this.closed) return;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollAt = deadline;
    this.pollTimer = setTimeout(
      () =>
        this.guarded(() => {
          this.pollTimer = null;
          this.pollAt = Infinity;
          const now = performance.now();
          let next: number | null = null;
          for (const s of this.sections) {
            s.receiver.poll(now);
            const d = s.receiver.nextDeadline();
            if (d !== null && (next === null || d < next)) next = d;
          }
          this.schedulePoll(next);
        }),
      Math.max(1, deadline - performance.now()),
    );
  }

  /**
   * Runs session work from a werift event or a timer. A bug must cost this session, not the
   * process (timers) and not silently (werift swallows what its event handlers throw).
   */
  private guarded(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.ctx.log.error('WHIP session failed', { session: this.uuid, reason: describeError(err) });
      this.close(`internal error: ${describeError(err)}`);
    }
  }

  /**
   * werift's transport-wide feedback is replaced by livegate's (see `twcc`). Every packet that
   * reaches the receiver is recorded, before werift drops any: a browser probes its bandwidth with
   * padding-only RTX packets, which werift discards, and feedback that called them lost would make
   * the browser's estimate collapse.
   */
  private takeOverTransportFeedback(t: RTCRtpTransceiver): void {
    const receiver = t.receiver;
    receiver.setupTWCC = () => {};
    receiver.receiverTWCC = undefined;
    const handle = receiver.handleRtpBySsrc;
    receiver.handleRtpBySsrc = (packet, extensions) => {
      const transportSeq = (extensions as { [uri: string]: unknown } | undefined)?.[TWCC_URI];
      if (typeof transportSeq === 'number') {
        // Chromium drops transport feedback that does not name one of its own SSRCs.
        if (this.twcc.mediaSsrc === 0) this.twcc.mediaSsrc = packet.header.ssrc;
        this.twcc.record(transportSeq, performance.now());
      }
      handle(packet, extensions);
    };
  }

  private sendTwcc(): void {
    const dtls = this.sections[0]?.transceiver.receiver.dtlsTransport;
    if (this.closed || !dtls || this.pc.connectionState !== 'connected') return;
    const packets = this.twcc.feedback();
    if (packets.length === 0) return;
    // werift's sendRtcp serialises what it is given: livegate's packets are already bytes.
    dtls.sendRtcp(packets.map((b) => ({ serialize: () => b })) as never).catch(() => {});
  }

  /** PLI to the publisher's video, at most once per PLI_INTERVAL_MS (see KeyframeRequests). */
  requestKeyframe(reason: string): void {
    this.keyframes.request(reason);
  }

  private sendPli(reason: string): boolean {
    const video = this.sections.find((s) => s.kind === 'video');
    const ssrc = video?.transceiver.receiver.tracks[0]?.ssrc;
    if (this.closed || !video || ssrc === undefined) return false;
    this.ctx.log.debug('keyframe requested', { session: this.uuid, reason });
    video.transceiver.receiver.sendRtcpPLI(ssrc).catch(() => {});
    return true;
  }

  get keyframeRequests(): number {
    return this.keyframes.sent;
  }

  private checkAlive(): void {
    const now = performance.now();
    const timeout = this.ctx.webrtc.publisherMediaTimeoutMs;
    if (!this.iceConnected && now - this.startedAt > this.ctx.webrtc.iceTimeoutMs) {
      this.close(`ICE did not complete within ${this.ctx.webrtc.iceTimeoutMs} ms`);
    } else if (this.lastMediaAt === null) {
      if (now - this.startedAt > Math.max(CONNECT_TIMEOUT_MS, timeout)) this.close('the publisher never sent media');
    } else if (now - this.lastMediaAt > timeout) {
      this.close(`no media from the publisher for ${timeout} ms`);
    }
  }

  stats(): WhipSessionStats {
    return {
      session: this.uuid,
      id: this.ctx.id,
      path: this.ctx.path,
      remoteAddress: this.ctx.remote,
      state: this.closed ? 'closed' : this.pc.connectionState,
      ice: this.closed ? null : selectedPath(this.pc),
      createdAt: new Date(this.createdAt).toISOString(),
      tracks: this.sections.map((s) => {
        const r = s.receiver;
        const j = r.jitterStats;
        return {
          kind: s.kind,
          codec: r.codecName,
          packets: r.packets,
          bytes: r.bytes,
          units: r.units,
          lost: j.lost,
          reordered: j.reordered,
          duplicates: j.duplicates,
          ssrcChanges: r.ssrcChanges,
        };
      }),
      keyframeRequests: this.keyframeRequests,
    };
  }

  /** Idempotent: ends the stream (readers get end-of-stream) and closes the peer connection. */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    if (this.twccTimer) clearInterval(this.twccTimer);
    this.keyframes.close();
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    this.ctx.slot.release();
    // A publisher taken over no longer ends the stream (the registry knows who publishes now).
    if (this.stream) this.ctx.registry.unpublish(this.stream, reason, this);
    this.stream = null;
    const routine = /^(DELETE|connection closed|ICE closed|server shutting down)/.test(reason);
    this.ctx.log[routine ? 'info' : 'warn']('publish closed', { session: this.uuid, reason });
    void this.pc.close().catch((err: unknown) => this.ctx.log.warn('peer connection close failed', { session: this.uuid, reason: describeError(err) }));
    this.onClosed?.();
  }
}
