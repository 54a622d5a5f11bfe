/**
 * One WHEP viewer: a werift peer connection (ICE-lite, no outbound STUN) with a sendonly H264 and a
 * sendonly Opus track, attached to a Stream through a WhepReader.
 */
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  useH264,
  useOPUS,
  useSdesMid,
  type RtcpPacket,
} from 'werift';
import type { Logger } from '../../core/log.js';
import type { ReaderHandle, Stream } from '../../core/stream.js';
import type { IceServerConfig } from '../../nat/ice-servers.js';
import type { OpusFeed } from '../../transcode/opus-feed.js';
import { WhepReader } from './whep-reader.js';

export interface WebrtcOptions {
  portRange?: [number, number];
  interface?: string;
  additionalHosts: string[];
  iceServers: IceServerConfig[];
  sessionTimeoutMs: number;
}

export interface WhepSessionStats {
  session: string;
  id: string;
  path: string;
  remoteAddress: string;
  state: string;
  createdAt: string;
  packetsSent: number;
  bytesSent: number;
  /** As the viewer reports it in RTCP receiver reports. */
  packetsLost: number;
  packetsRetransmitted: number;
  /** PLI/FIR received from the viewer. */
  keyframeRequests: number;
}

export interface WhepSessionContext {
  id: string;
  remote: string;
  log: Logger;
  webrtc: WebrtcOptions;
}

/** RTCP payload-specific feedback: PLI (fmt 1) and FIR (fmt 4), RFC 4585 §6.3 / RFC 5104 §4.3.1. */
const RTCP_PSFB = 206;

export class WhepSession {
  readonly pc: RTCPeerConnection;
  private readonly videoTrack = new MediaStreamTrack({ kind: 'video', codec: useH264() });
  private readonly audioTrack = new MediaStreamTrack({ kind: 'audio', codec: useOPUS() });
  private reader: WhepReader | null = null;
  private handle: ReaderHandle | null = null;
  private unsubscribeOpus: (() => void) | null = null;
  private closed = false;
  readonly createdAt = Date.now();
  lastActivity = performance.now();
  state = 'new';
  keyframeRequests = 0;
  onClosed: (() => void) | null = null;

  constructor(
    readonly uuid: string,
    readonly stream: Stream,
    private readonly ctx: WhepSessionContext,
  ) {
    this.pc = new RTCPeerConnection({
      // ICE-lite: livegate answers and never gathers server-reflexive candidates, so it never sends
      // a STUN request anywhere (werift would otherwise ask a public STUN server).
      iceLite: true,
      iceServers: [],
      iceUseIpv6: false,
      icePortRange: ctx.webrtc.portRange,
      iceAdditionalHostAddresses: ctx.webrtc.additionalHosts.length > 0 ? ctx.webrtc.additionalHosts : undefined,
      iceInterfaceAddresses: ctx.webrtc.interface ? { udp4: ctx.webrtc.interface } : undefined,
      bundlePolicy: 'max-bundle',
      codecs: {
        video: [useH264(), new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000 })],
        audio: [useOPUS({ parameters: 'minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1' })],
      },
      headerExtensions: { video: [useSdesMid()], audio: [useSdesMid()] },
    });
    this.pc.iceConnectionStateChange.subscribe((state) => {
      this.state = state;
      this.touch();
      if (state === 'failed' || state === 'closed') this.close(`ICE ${state}`);
    });
  }

  /** Negotiates: the answer holds every candidate (werift gathers before it resolves). */
  async answer(offer: string): Promise<string> {
    // Tracks go in before the offer is applied, or werift may pick H264 packetization-mode 0.
    const video = this.pc.addTransceiver(this.videoTrack, { direction: 'sendonly' });
    const audio = this.pc.addTransceiver(this.audioTrack, { direction: 'sendonly' });
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    const sdp = this.pc.localDescription?.sdp;
    if (!sdp) throw new Error('no local description');
    if (!/^m=video [1-9]/m.test(sdp)) throw new Error('the video section was rejected (no usable H264)');
    // Any RTCP from the viewer proves it is alive; PLI/FIR are recorded (an RTMP source cannot make
    // a keyframe on demand: the viewer gets the next one, at most one GOP away).
    const onRtcp = (packet: RtcpPacket): void => {
      this.touch();
      if (packet.type === RTCP_PSFB) this.keyframeRequests++;
    };
    for (const t of [video, audio]) {
      t.sender.onRtcp.subscribe(onRtcp);
      t.receiver.onRtcp.subscribe(onRtcp);
    }
    return sdp;
  }

  /**
   * Attaches the viewer to the stream (and to the stream's Opus feed when the source is AAC) once
   * the connection is up: werift drops what is written before DTLS is ready, and the viewer must
   * begin with a whole keyframe from the GOP cache.
   */
  start(feed: OpusFeed | null): void {
    if (this.closed) return;
    if (this.pc.connectionState === 'connected') return this.attach(feed);
    const sub = this.pc.connectionStateChange.subscribe((state) => {
      if (state !== 'connected') return;
      sub.unSubscribe();
      this.attach(feed);
    });
  }

  private attach(feed: OpusFeed | null): void {
    if (this.closed || this.reader) return;
    if (this.stream.isEnded) return this.close('stream ended before the connection was up');
    this.reader = new WhepReader(this.videoTrack, this.audioTrack, {
      onEnd: (reason) => this.close(`stream ended: ${reason}`),
      onDrop: (reason) => this.close(reason),
    });
    this.handle = this.stream.addReader({ id: this.ctx.id, protocol: 'webrtc', remoteAddress: this.ctx.remote }, this.reader);
    if (feed) {
      const reader = this.reader;
      this.unsubscribeOpus = feed.subscribe((packet, receivedAt) => reader.opus(packet, receivedAt));
    }
  }

  touch(): void {
    this.lastActivity = performance.now();
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
      createdAt: new Date(this.createdAt).toISOString(),
      packetsSent: this.packetsSent,
      bytesSent: this.bytesSent,
      packetsLost,
      packetsRetransmitted: retransmitted,
      keyframeRequests: this.keyframeRequests,
    };
  }

  /** Idempotent: detaches from the stream and closes the peer connection (its sockets too). */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.handle?.close();
    this.unsubscribeOpus?.();
    this.ctx.log.info('play closed', { session: this.uuid, reason });
    void this.pc.close().catch((err: unknown) => this.ctx.log.warn('peer connection close failed', { session: this.uuid, reason: String(err) }));
    this.onClosed?.();
  }
}
