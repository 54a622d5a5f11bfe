/**
 * Pulling a stream from an RTSP camera (a SourceDriver for `rtsp://` and `rtsps://` sources):
 * OPTIONS, DESCRIBE (answering Digest or Basic challenges), SETUP of every readable media, PLAY;
 * media through the same RtpReceiver as RTSP publishers. UDP first (own port pair per camera) and,
 * with `rtspTransport: auto`, TCP when the camera refuses UDP or no packet arrives within
 * `udpTimeoutMs`; keepalives and receiver reports while it plays; a camera that goes quiet is
 * dropped (the source manager reconnects).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { describeError } from '../../core/errors.js';
import type { MediaUnit } from '../../core/media-unit.js';
import type { SourceConfig, SourceConnection, SourceDriver, SourceSink } from '../../core/sources.js';
import type { Stream } from '../../core/stream.js';
import { controlUrl, parseRtspSdp, type RtspMedia } from '../../format/sdp-rtsp.js';
import { RtpTimeline } from '../../format/rtp/rtp-clock.js';
import { parseRtp } from '../../format/rtp/rtp-packet.js';
import { buildReceiverReport, parseRtcp } from '../../format/rtp/rtcp.js';
import { literalFirst } from '../../net/literal-lookup.js';
import { RtspClient } from './rtsp-client.js';
import { RtpReceiver, unreadable } from './rtp-receiver.js';
import { parseTransports } from './transport-header.js';

export interface RtspSourceOptions {
  /** Each request's answer, and the connection, within this (ms). */
  requestTimeoutMs: number;
  /** auto: no UDP packet within this long → TCP (ms). */
  udpTimeoutMs: number;
  /** A playing camera that sends nothing for this long is dropped (ms). */
  mediaTimeoutMs: number;
  jitterBufferMs: number;
  /** Where the UDP sockets bind. */
  bindHost: string;
}

type Transport = 'udp' | 'tcp';

class NoUdp extends Error {}

/** Most cameras remembered as TCP-only by one driver. */
const MAX_PREFER_TCP = 10_000;

const REPORT_INTERVAL_MS = 5000;

export class RtspSourceDriver implements SourceDriver {
  readonly schemes = ['rtsp:', 'rtsps:'] as const;
  /**
   * Cameras (by URL) that gave no UDP: their later connections (reconnects, the next on-demand start)
   * go straight to TCP.
   */
  private readonly preferTcp = new Set<string>();
  constructor(private readonly options: RtspSourceOptions) {}

  open(config: SourceConfig, sink: SourceSink): SourceConnection {
    if (this.preferTcp.size > MAX_PREFER_TCP) this.preferTcp.clear();
    return new RtspPull(config, sink, this.options, this.preferTcp);
  }
}

interface Pulled {
  media: RtspMedia;
  receiver: RtpReceiver;
  channel: number;
}

class RtspPull implements SourceConnection {
  readonly ended: Promise<string>;
  private finish!: (reason: string) => void;
  private closed = false;
  private client: RtspClient | null = null;
  private udp: UdpSocket[] = [];
  private timers: NodeJS.Timeout[] = [];
  private transport: Transport | null = null;
  private pulled: Pulled[] = [];
  private stream: Stream | null = null;
  private pending: MediaUnit[] = [];
  private lastPacketAt = 0;
  private packetsSeen = 0;

  constructor(
    private readonly config: SourceConfig,
    private readonly sink: SourceSink,
    private readonly options: RtspSourceOptions,
    private readonly preferTcp: Set<string>,
  ) {
    this.ended = new Promise((resolve) => (this.finish = resolve));
    void this.run();
  }

  describe(): { [k: string]: string | number | boolean | null } {
    return {
      transport: this.transport,
      packetsReceived: this.pulled.reduce((n, p) => n + p.receiver.packets, 0),
      packetsLost: this.pulled.reduce((n, p) => n + p.receiver.lost, 0),
      codecs: this.pulled.map((p) => p.media.codec).join(','),
    };
  }

  private async run(): Promise<void> {
    const wanted = String(this.config.options['rtspTransport'] ?? 'auto');
    let transport: Transport = wanted === 'tcp' ? 'tcp' : 'udp';
    for (;;) {
      try {
        await this.attempt(transport);
        return;
      } catch (err) {
        if (err instanceof NoUdp && wanted === 'auto' && !this.closed) {
          this.sink.log.warn('camera: no UDP, trying TCP', { reason: err.message });
          this.preferTcp.add(this.config.url);
          this.teardown();
          transport = 'tcp';
          continue;
        }
        this.close(describeError(err));
        return;
      }
    }
  }

  private async attempt(transport: Transport): Promise<void> {
    if (transport === 'udp' && this.preferTcp.has(this.config.url) && this.config.options['rtspTransport'] !== 'udp') transport = 'tcp';
    this.transport = transport;
    const client = new RtspClient(this.config.url, {
      timeoutMs: this.options.requestTimeoutMs,
      onFrame: (channel, data) => this.onFrame(channel, data),
      onClose: (reason) => {
        if (this.client === client) this.close(reason);
      },
    });
    this.client = client;
    await client.connect();
    await client.request('OPTIONS', client.url);
    const described = await client.request('DESCRIBE', client.url, [['Accept', 'application/sdp']]);
    if (described.status !== 200) throw new Error(`DESCRIBE: ${described.status} ${described.reason}`);
    const base = described.headers.get('content-base') ?? described.headers.get('content-location') ?? client.url;
    const presentation = parseRtspSdp(described.body.toString('utf8'));
    const timeline = new RtpTimeline();
    this.pulled = [];
    let index = 0;
    let timeoutSeconds = 60;
    for (const media of presentation.media) {
      const why = unreadable(media);
      if (why) {
        this.sink.log.warn('camera media left out', { codec: media.codec, why });
        continue;
      }
      const i = index++;
      const receiver = new RtpReceiver(media, i, timeline, {
        track: (track) => this.stream?.setTrack(track),
        unit: (unit) => this.pending.push(unit),
        warn: (message, fields) => this.sink.log.warn(message, fields),
      }, transport === 'udp' ? this.options.jitterBufferMs : 0);
      const pulled: Pulled = { media, receiver, channel: i * 2 };
      const tcpHeader = `RTP/AVP/TCP;unicast;interleaved=${i * 2}-${i * 2 + 1}`;
      let header: string;
      if (transport === 'tcp') header = tcpHeader;
      else {
        const [rtpPort, rtcpPort] = await this.bindPair(pulled);
        header = `RTP/AVP;unicast;client_port=${rtpPort}-${rtcpPort}`;
      }
      const url = controlUrl(base, presentation, media);
      let res = await client.request('SETUP', url, [['Transport', header]]);
      if (res.status === 461 && transport === 'udp') {
        if (String(this.config.options['rtspTransport'] ?? 'auto') !== 'auto') throw new Error('the camera refused UDP (461)');
        // As ffmpeg does: the same session, asked again over TCP (a new DESCRIBE could find the camera
        // still tearing its media down).
        this.sink.log.warn('camera: no UDP, trying TCP', { reason: 'the camera refused UDP (461)' });
        this.preferTcp.add(this.config.url);
        transport = 'tcp';
        this.transport = 'tcp';
        for (const u of this.udp) u.close();
        this.udp = [];
        res = await client.request('SETUP', url, [['Transport', tcpHeader]]);
      }
      if (res.status !== 200) throw new Error(`SETUP ${media.codec}: ${res.status} ${res.reason}`);
      const session = res.headers.get('session');
      if (session) {
        const [id, ...params] = session.split(';');
        client.session = id!.trim();
        const t = params.map((p) => /timeout=(\d+)/.exec(p)?.[1]).find((x) => x);
        if (t) timeoutSeconds = Math.max(5, Number(t));
      }
      const answer = parseTransports(res.headers.get('transport') ?? '')[0];
      if (transport === 'tcp' && answer?.interleaved) pulled.channel = answer.interleaved[0];
      if (transport === 'udp' && answer && answer.lower === 'TCP') throw new NoUdp('the camera answered with TCP');
      this.pulled.push(pulled);
    }
    if (this.pulled.length === 0) throw new Error(`the camera offers no media livegate reads (${presentation.media.map((m) => m.codec).join(', ')})`);
    const played = await client.request('PLAY', base.replace(/\/$/, '') === client.url.replace(/\/$/, '') ? client.url : base, [['Range', 'npt=0.000-']]);
    if (played.status !== 200) throw new Error(`PLAY: ${played.status} ${played.reason}`);
    this.lastPacketAt = performance.now();
    this.sink.log.info('camera playing', { transport, codecs: this.pulled.map((p) => p.media.codec).join(',') });
    // Keepalive (sessions time out without requests or RTCP) and receiver reports.
    this.timers.push(setInterval(() => void client.request('OPTIONS', client.url).catch(() => {}), Math.min(30, timeoutSeconds / 2) * 1000));
    this.timers.push(setInterval(() => this.report(), REPORT_INTERVAL_MS));
    const firstWait = transport === 'udp' ? this.options.udpTimeoutMs : this.options.mediaTimeoutMs;
    await new Promise<void>((resolve, reject) => {
      const check = setInterval(() => {
        if (this.closed) return (clearInterval(check), resolve());
        const quiet = performance.now() - this.lastPacketAt;
        if (this.packetsSeen === 0 && quiet > firstWait) {
          clearInterval(check);
          reject(transport === 'udp' ? new NoUdp(`no UDP packet within ${firstWait} ms`) : new Error(`no media within ${firstWait} ms`));
        } else if (this.packetsSeen > 0 && quiet > this.options.mediaTimeoutMs) {
          clearInterval(check);
          reject(new Error(`the camera sent nothing for ${this.options.mediaTimeoutMs} ms`));
        }
      }, 250);
      this.timers.push(check);
    });
  }

  private bindPair(pulled: Pulled): Promise<[number, number]> {
    const host = this.options.bindHost;
    const open = (port: number): Promise<UdpSocket> =>
      new Promise((resolve, reject) => {
        const s = createSocket({ type: 'udp4', lookup: literalFirst });
        s.once('error', (e) => (s.close(), reject(e)));
        s.bind(port, host, () => resolve(s));
      });
    const attempt = async (tries: number): Promise<[number, number]> => {
      const rtp = await open(0);
      const port = rtp.address().port;
      try {
        const rtcp = await open(port + 1);
        this.udp.push(rtp, rtcp);
        rtp.on('message', (msg) => this.onRtp(pulled, msg));
        rtcp.on('message', (msg) => this.onRtcp(msg));
        return [port, port + 1];
      } catch (err) {
        rtp.close();
        if (tries <= 1) throw err;
        return attempt(tries - 1);
      }
    };
    return attempt(8);
  }

  private onFrame(channel: number, data: Buffer): void {
    for (const p of this.pulled) {
      if (channel === p.channel) return this.onRtp(p, data);
      if (channel === p.channel + 1) return this.onRtcp(data);
    }
  }

  private onRtp(p: Pulled, data: Buffer): void {
    if (this.closed) return;
    const packet = parseRtp(data);
    if (!packet) return;
    const now = performance.now();
    this.lastPacketAt = now;
    this.packetsSeen++;
    p.receiver.push(packet, now);
    p.receiver.poll(now);
    this.flush();
  }

  private onRtcp(data: Buffer): void {
    const now = performance.now();
    for (const r of parseRtcp(data)) if (r.type === 'sr') for (const p of this.pulled) p.receiver.senderReport(r.ssrc, r.ntp, r.rtpTimestamp, now);
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    if (!this.stream) {
      try {
        this.stream = this.sink.publish({ protocol: 'rtsp', remoteAddress: this.client?.remoteAddress ?? '', close: (reason) => this.close(reason) });
      } catch (err) {
        this.close(`could not publish: ${describeError(err)}`);
        return;
      }
      for (const p of this.pulled) {
        const t = p.receiver.initialTrack();
        if (t) this.stream.setTrack(t);
      }
    }
    const units = this.pending;
    this.pending = [];
    if (!this.stream.isEnded) this.stream.pushMany(units);
  }

  /** Receiver reports: some cameras end a session that never reports. */
  private report(): void {
    const blocks = this.pulled
      .filter((p) => p.receiver.sourceSsrc !== null)
      .map((p) => ({ ssrc: p.receiver.sourceSsrc!, fractionLost: 0, lost: p.receiver.lost, highestSequence: 0, jitter: Math.round((p.receiver.jitterMs * p.media.clockRate) / 1000) }));
    if (blocks.length === 0) return;
    const rr = buildReceiverReport(0x6c677465, blocks);
    if (this.transport === 'tcp') this.client?.writeFrame((this.pulled[0]?.channel ?? 0) + 1, rr);
  }

  private teardown(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const s of this.udp) s.close();
    this.udp = [];
    const c = this.client;
    this.client = null;
    c?.close('fallback');
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    const c = this.client;
    if (c?.session) void c.request('TEARDOWN', c.url).catch(() => {});
    setTimeout(() => c?.close(reason), 200).unref();
    this.client = null;
    for (const t of this.timers) clearInterval(t);
    for (const s of this.udp) s.close();
    this.udp = [];
    this.sink.log.info('camera connection ended', { reason });
    this.finish(reason);
  }
}
