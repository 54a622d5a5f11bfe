/**
 * One RTSP TCP connection: reads requests and `$` frames (rtsp-reader.ts), answers each method, and
 * owns the sessions it made. Requests are handled one at a time in arrival order (admission is
 * asynchronous); interleaved media is handled as it arrives. Any protocol error answers the status
 * it calls for and closes this connection only.
 */
import type { Socket } from 'node:net';
import { queryCredentials, type AccessDecision, type AccessRequest, type Credentials, type RefusalReason } from '../../core/access.js';
import { describeError, StreamBusyError } from '../../core/errors.js';
import { sessionId, type Logger } from '../../core/log.js';
import type { MediaUnit } from '../../core/media-unit.js';
import { normalizePath } from '../../core/path.js';
import type { PublisherInfo } from '../../core/stream.js';
import { parseRtspSdp, controlUrl } from '../../format/sdp-rtsp.js';
import { RtpTimeline } from '../../format/rtp/rtp-clock.js';
import { parseRtp } from '../../format/rtp/rtp-packet.js';
import { parseRtcp } from '../../format/rtp/rtcp.js';
import { RtspReader as FrameReader, RtspProtocolError, serializeResponse, type RtspRequest } from './rtsp-reader.js';
import { parseAuthorization } from './rtsp-auth.js';
import { formatTransport, parseTransports, type RtspTransport } from './transport-header.js';
import { RtspReader, type PlayedTrack } from './from-stream.js';
import { RtpReceiver, unreadable } from './rtp-receiver.js';
import { RtspSession } from './rtsp-session.js';
import { streamPackets, type RtspTrackOut } from './stream-packets.js';
import type { RtspServerContext } from './rtsp-server.js';

const PUBLIC = 'OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, PAUSE, RECORD, TEARDOWN, GET_PARAMETER, SET_PARAMETER';
const REASONS: { [status: number]: string } = {
  200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Request Entity Too Large', 415: 'Unsupported Media Type', 454: 'Session Not Found',
  455: 'Method Not Valid in This State', 459: 'Aggregate Operation Not Allowed', 461: 'Unsupported Transport',
  500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable', 505: 'RTSP Version Not Supported',
};
const REFUSAL_STATUS: { [R in RefusalReason]: number } = { unauthorized: 401, forbidden: 403, 'not-found': 404, busy: 409, unavailable: 503 };
/** Most requests queued on one connection while one is being handled. */
const MAX_QUEUED_REQUESTS = 32;
/** Most SETUPs (tracks) in one session. */
const MAX_TRACKS = 8;

class Answer {
  readonly headers: [string, string][] = [];
  body?: string;
  constructor(public status: number) {}
  header(name: string, value: string): this {
    this.headers.push([name, value]);
    return this;
  }
}

/**
 * A request URL without its query, and the query. ffmpeg appends a control to the whole URL it was
 * given (`rtsp://h/live/a?token=x/streamid=0`): what follows the query's last `/` is put back on the path.
 */
export function splitUri(uri: string): { url: string; query: string } {
  const q = uri.indexOf('?');
  if (q < 0) return { url: uri, query: '' };
  let query = uri.slice(q + 1);
  let url = uri.slice(0, q);
  const slash = query.lastIndexOf('/');
  if (slash >= 0) {
    url += query.slice(slash);
    query = query.slice(0, slash);
  }
  return { url, query };
}

function fail(status: number, message: string): Answer {
  return new Answer(status).header('X-Livegate-Error', message.replace(/[\r\n]/g, ' ').slice(0, 200));
}

export class RtspConnection {
  readonly id = sessionId('rtsp');
  readonly remote: string;
  readonly ip: string;
  private readonly log: Logger;
  private readonly frames = new FrameReader();
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private closed = false;
  /** Sessions this connection made, by id. */
  readonly sessions = new Map<string, RtspSession>();
  /** An ANNOUNCE waiting for its SETUPs (the session before the client knows its id). */
  private announced: RtspSession | null = null;
  /** What DESCRIBE offered, by path: a play session is made by the first SETUP. */
  private described = new Map<string, { tracks: RtspTrackOut[]; session: RtspSession }>();
  /** TCP channel → where its frames go. */
  private readonly channels = new Map<number, { session: RtspSession; media?: number; rtcp: boolean }>();
  private idleTimer: NodeJS.Timeout | null = null;
  private pendingUnits: MediaUnit[] = [];
  private pendingStream: RtspSession | null = null;
  private userAgent = '';

  constructor(
    private readonly socket: Socket,
    private readonly ctx: RtspServerContext,
    private readonly onClosed: (conn: RtspConnection) => void,
  ) {
    this.ip = socket.remoteAddress ?? '';
    this.remote = `${this.ip}:${socket.remotePort}`;
    this.log = ctx.log.child({ id: this.id, protocol: 'rtsp', remote: this.remote });
    this.armIdle();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.close(`socket error: ${err.message}`, 'peer'));
    socket.on('close', () => this.close('connection closed by peer', 'peer'));
  }

  /** Without a session, a connection that completes no request for this long is closed (half-open). */
  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = this.sessions.size > 0 ? null : setTimeout(() => this.close(`no request within ${this.ctx.options.requestTimeoutMs} ms`), this.ctx.options.requestTimeoutMs);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    let items;
    try {
      items = this.frames.push(chunk);
    } catch (err) {
      const status = err instanceof RtspProtocolError ? err.status : 400;
      this.write(serializeResponse(status, REASONS[status] ?? 'Bad Request', [['Connection', 'close']]));
      this.close(`protocol error: ${describeError(err)}`);
      return;
    }
    const now = performance.now();
    for (const item of items) {
      if (this.closed) return;
      if (item.kind === 'interleaved') this.onFrame(item.channel, item.data, now);
      else if (item.kind === 'request') this.enqueue(item);
      // Responses (to our own requests: none are sent) are ignored.
    }
    this.flushUnits();
  }

  private enqueue(req: RtspRequest): void {
    if (++this.queued > MAX_QUEUED_REQUESTS) return this.close(`more than ${MAX_QUEUED_REQUESTS} requests waiting`);
    this.armIdle();
    this.queue = this.queue.then(async () => {
      if (this.closed) return;
      let answer: Answer;
      try {
        answer = await this.handle(req);
      } catch (err) {
        this.log.error('rtsp request failed', { method: req.method, reason: describeError(err) });
        answer = fail(500, 'internal error');
      } finally {
        this.queued--;
      }
      this.respond(req, answer);
      this.afterResponse?.();
      this.afterResponse = null;
      this.armIdle();
    });
  }

  /** Work that must follow the response on the wire (PLAY: media after the 200). */
  private afterResponse: (() => void) | null = null;

  private respond(req: RtspRequest, a: Answer): void {
    const headers: [string, string][] = [['CSeq', req.headers.get('cseq') ?? '0'], ['Server', 'livegate'], ...a.headers];
    if (a.status === 401) headers.push(['WWW-Authenticate', `Basic realm="${this.ctx.options.realm}"`]);
    if (a.body !== undefined) headers.push(['Content-Type', 'application/sdp']);
    this.write(serializeResponse(a.status, REASONS[a.status] ?? 'Error', headers, a.body));
  }

  private write(bytes: Buffer): void {
    if (!this.closed && this.socket.writable) this.socket.write(bytes);
  }

  private async handle(req: RtspRequest): Promise<Answer> {
    if (req.version !== 'RTSP/1.0' && req.version !== 'RTSP/2.0') return fail(505, `version ${req.version}`);
    this.userAgent = (req.headers.get('user-agent') ?? this.userAgent).slice(0, 256);
    const sessionHeader = req.headers.get('session');
    let session: RtspSession | undefined;
    if (sessionHeader !== undefined) {
      const id = sessionHeader.split(';')[0]!.trim();
      session = this.sessions.get(id);
      if (!session) {
        // Another connection's session (or none): a client may not act on sessions it did not make.
        return fail(454, this.ctx.sessionExists(id) ? 'the session belongs to another connection' : 'no such session');
      }
      session.lastSeen = performance.now();
    }
    switch (req.method) {
      case 'OPTIONS':
        return new Answer(200).header('Public', PUBLIC);
      case 'GET_PARAMETER':
      case 'SET_PARAMETER':
        return this.withSession(new Answer(200), session);
      case 'DESCRIBE':
        return this.describe(req);
      case 'ANNOUNCE':
        return this.announce(req);
      case 'SETUP':
        return this.setup(req, session);
      case 'PLAY':
        return this.play(req, session);
      case 'RECORD':
        return this.record(session);
      case 'PAUSE':
        if (!session || session.mode !== 'play') return fail(455, 'PAUSE needs a play session');
        session.reader?.setPaused(true);
        if (session.state === 'playing') session.state = 'ready';
        return this.withSession(new Answer(200), session);
      case 'TEARDOWN':
        if (session) this.endSession(session, 'teardown by the client');
        return new Answer(200);
      default:
        return fail(501, `method ${req.method.slice(0, 32)} is not implemented`);
    }
  }

  private withSession(a: Answer, session: RtspSession | undefined): Answer {
    if (session) a.header('Session', `${session.id};timeout=${Math.round(this.ctx.options.sessionTimeoutMs / 1000)}`);
    return a;
  }

  /** The path a request URL names, and its query; null when it names none livegate can use. */
  private pathOf(uri: string, stripControl: boolean): { path: string; query: string } | null {
    const split = splitUri(uri);
    let url: URL;
    try {
      url = new URL(split.url);
    } catch {
      return null;
    }
    let p = decodeURIComponent(url.pathname);
    if (stripControl) p = p.replace(/\/(trackID|streamid|track)=?\d+\/?$/i, '');
    const path = normalizePath(p);
    return path ? { path, query: split.query } : null;
  }

  private credentials(req: RtspRequest, query: string): Credentials {
    const out: Credentials = queryCredentials(new URLSearchParams(query));
    const auth = req.headers.get('authorization');
    if (auth) {
      const c = parseAuthorization(auth);
      if (c?.scheme === 'basic') {
        out.user = c.user.slice(0, 256);
        out.password = c.pass.slice(0, 1024);
      } else if (/^bearer /i.test(auth)) out.token = auth.slice(7).trim().slice(0, 8192);
    }
    return out;
  }

  private admit(action: 'publish' | 'read', req: RtspRequest, path: string, query: string): Promise<AccessDecision> {
    const request: AccessRequest = { action, protocol: 'rtsp', path, ...this.credentials(req, query), ip: this.ip, id: this.id, query, userAgent: this.userAgent };
    return this.ctx.registry.admit(request);
  }

  private async describe(req: RtspRequest): Promise<Answer> {
    const target = this.pathOf(req.uri, false);
    if (!target) return fail(400, 'the URL names no valid path');
    const admitted = await this.admit('read', req, target.path, target.query);
    if (!admitted.ok) return this.refused('describe', target.path, admitted.reason, admitted.message);
    const stream = this.ctx.registry.get(target.path);
    if (!stream) return fail(404, `stream "${target.path}" is not live`);
    const { sdp, tracks } = streamPackets(stream).describe(stream.tracks, this.ctx.options.announceHost);
    if (tracks.length === 0) return fail(404, `stream "${target.path}" has no track RTSP can carry yet`);
    const base = splitUri(req.uri).url.replace(/\/?$/, '/');
    const session = new RtspSession('play', target.path, admitted, base);
    this.described.set(target.path, { tracks, session });
    const a = new Answer(200).header('Content-Base', base);
    a.body = sdp;
    return a;
  }

  private refused(what: string, path: string, reason: RefusalReason, message: string): Answer {
    this.log.info(`${what} refused`, { path, reason, why: message });
    return fail(REFUSAL_STATUS[reason], message);
  }

  private async announce(req: RtspRequest): Promise<Answer> {
    const target = this.pathOf(req.uri, false);
    if (!target) return fail(400, 'the URL names no valid path');
    if (this.announced || [...this.sessions.values()].some((s) => s.mode === 'publish')) return fail(455, 'this connection already publishes');
    let presentation;
    try {
      presentation = parseRtspSdp(req.body.toString('utf8'));
    } catch (err) {
      return fail(400, `bad SDP: ${describeError(err)}`);
    }
    const readable = presentation.media.filter((m) => unreadable(m) === null);
    if (readable.length === 0) return fail(415, `no media livegate can read: ${presentation.media.map((m) => unreadable(m)).join('; ')}`);
    const admitted = await this.admit('publish', req, target.path, target.query);
    if (!admitted.ok) return this.refused('publish', target.path, admitted.reason, admitted.message);
    const session = new RtspSession('publish', target.path, admitted, splitUri(req.uri).url);
    session.presentation = presentation;
    session.recorded = presentation.media.map(() => null);
    session.timeline = new RtpTimeline();
    this.announced = session;
    for (const m of presentation.media) {
      const why = unreadable(m);
      if (why) this.log.warn('announced media left out', { path: target.path, codec: m.codec, why });
    }
    return new Answer(200);
  }

  private async setup(req: RtspRequest, session: RtspSession | undefined): Promise<Answer> {
    const offers = parseTransports(req.headers.get('transport') ?? '');
    if (offers.length === 0) return fail(461, 'no Transport livegate understands');
    const url = splitUri(req.uri).url;
    if (!session) {
      if (this.announced && url.startsWith(this.announced.baseUrl)) session = this.announced;
      else {
        const target = this.pathOf(req.uri, true);
        if (!target) return fail(400, 'the URL names no valid path');
        let offer = this.described.get(target.path);
        if (!offer) {
          // SETUP without DESCRIBE: admitted here.
          const admitted = await this.admit('read', req, target.path, target.query);
          if (!admitted.ok) return this.refused('play', target.path, admitted.reason, admitted.message);
          const stream = this.ctx.registry.get(target.path);
          if (!stream) return fail(404, `stream "${target.path}" is not live`);
          const base = url.slice(0, url.length - (url.length - url.lastIndexOf('/'))) + '/';
          offer = { tracks: streamPackets(stream).describe(stream.tracks, this.ctx.options.announceHost).tracks, session: new RtspSession('play', target.path, admitted, base) };
          this.described.set(target.path, offer);
        }
        session = offer.session;
        session.offered = offer.tracks;
      }
      if (this.ctx.sessionCount() >= this.ctx.options.maxSessions) return fail(503, 'too many sessions');
    }
    if (session.state !== 'init' && session.state !== 'ready') return fail(455, 'SETUP after PLAY/RECORD is not supported');
    const answer = session.mode === 'publish' ? this.setupRecord(session, url, offers) : this.setupPlay(session, url, offers);
    if (answer.status === 200) {
      if (!this.sessions.has(session.id)) {
        this.sessions.set(session.id, session);
        this.ctx.addSession(session, this);
        if (session === this.announced) this.announced = null;
        this.described.delete(session.path);
      }
      session.state = 'ready';
      this.withSession(answer, session);
    }
    return answer;
  }

  /** The first transport of the client's list that livegate serves (`kind`: the session's, once chosen). */
  private chooseTransport(offers: RtspTransport[], session: RtspSession, index: number): RtspTransport | null {
    for (const t of offers) {
      if (t.multicast) continue;
      if (session.transport && session.transport !== (t.lower === 'TCP' ? 'tcp' : 'udp')) continue;
      if (t.lower === 'TCP') {
        const ch = t.interleaved ?? [index * 2, index * 2 + 1];
        if (this.channels.has(ch[0]) || this.channels.has(ch[1])) continue;
        return { ...t, interleaved: ch };
      }
      if (!this.ctx.udp || !t.clientPort) continue;
      return t;
    }
    return null;
  }

  private setupRecord(session: RtspSession, url: string, offers: RtspTransport[]): Answer {
    const p = session.presentation!;
    const index = p.media.findIndex((m) => {
      const c = controlUrl(session.baseUrl, p, m);
      return c === url || (m.control !== '' && url.endsWith('/' + m.control));
    });
    if (index < 0) return fail(404, 'no announced media has this control URL');
    const media = p.media[index]!;
    if (unreadable(media)) return fail(415, unreadable(media)!);
    if (session.recorded[index]) return fail(455, 'this media is already set up');
    const t = this.chooseTransport(offers, session, index);
    if (!t) return fail(461, this.ctx.udp ? 'none of the offered transports is served' : 'UDP is off on this server: use TCP (interleaved)');
    const receiver = new RtpReceiver(media, index, session.timeline!, {
      track: (track) => session.stream?.setTrack(track),
      unit: (unit) => this.queueUnit(session, unit),
      warn: (message, fields) => this.log.warn(message, { path: session.path, ...fields }),
    }, t.lower === 'TCP' ? 0 : this.ctx.options.jitterBufferMs);
    if (t.lower === 'TCP') {
      const [rtp, rtcp] = t.interleaved!;
      this.channels.set(rtp, { session, media: index, rtcp: false });
      this.channels.set(rtcp, { session, media: index, rtcp: true });
      session.recorded[index] = { receiver, channels: [rtp, rtcp] };
      session.transport = 'tcp';
      return new Answer(200).header('Transport', formatTransport({ profile: t.profile, lower: 'TCP', multicast: false, interleaved: [rtp, rtcp], mode: 'record' }));
    }
    const udp = this.ctx.udp!;
    const [rtpPort, rtcpPort] = t.clientPort!;
    if (udp.routed('rtp', this.ip, rtpPort)) return fail(461, 'another session already uses this client port');
    session.unroute.push(
      udp.route('rtp', this.ip, rtpPort, (msg, now) => this.onUdpRtp(session, index, msg, now)),
      udp.route('rtcp', this.ip, rtcpPort, (msg, now) => this.onRtcp(session, msg, now)),
    );
    session.recorded[index] = { receiver, clientPorts: [rtpPort, rtcpPort] };
    session.transport = 'udp';
    return new Answer(200).header('Transport', formatTransport({ profile: t.profile, lower: 'UDP', multicast: false, clientPort: [rtpPort, rtcpPort], serverPort: [udp.ports.rtp, udp.ports.rtcp], mode: 'record' }));
  }

  private setupPlay(session: RtspSession, url: string, offers: RtspTransport[]): Answer {
    const out = session.offered.find((o) => url.endsWith('/' + o.control)) ?? (session.offered.length === 1 && url.replace(/\/$/, '') === session.baseUrl.replace(/\/$/, '') ? session.offered[0] : undefined);
    if (!out) return fail(404, 'no described track has this control URL');
    if (session.played.some((p) => p.out === out)) return fail(455, 'this track is already set up');
    if (session.played.length >= MAX_TRACKS) return fail(400, 'too many tracks');
    const t = this.chooseTransport(offers, session, out.index);
    if (!t) return fail(461, this.ctx.udp ? 'none of the offered transports is served' : 'UDP is off on this server: use TCP (interleaved)');
    if (t.lower === 'TCP') {
      const ch = t.interleaved!;
      this.channels.set(ch[0], { session, rtcp: false });
      this.channels.set(ch[1], { session, rtcp: true });
      session.played.push({ out, channels: ch });
      session.transport = 'tcp';
      return new Answer(200).header('Transport', formatTransport({ profile: t.profile, lower: 'TCP', multicast: false, interleaved: ch, ssrc: out.ssrc, mode: 'play' }));
    }
    const udp = this.ctx.udp!;
    const ports = t.clientPort!;
    session.udpTargets.set(out.trackId, ports);
    // The player's receiver reports come from its RTCP port: they keep the session alive.
    if (!udp.routed('rtcp', this.ip, ports[1])) session.unroute.push(udp.route('rtcp', this.ip, ports[1], (msg, now) => this.onRtcp(session, msg, now)));
    session.played.push({ out });
    session.transport = 'udp';
    return new Answer(200).header('Transport', formatTransport({ profile: t.profile, lower: 'UDP', multicast: false, clientPort: ports, serverPort: [udp.ports.rtp, udp.ports.rtcp], ssrc: out.ssrc, mode: 'play' }));
  }

  private play(req: RtspRequest, session: RtspSession | undefined): Answer {
    if (!session || session.mode !== 'play') return fail(455, 'PLAY needs a session set up for playing');
    if (session.played.length === 0) return fail(455, 'nothing set up');
    const a = this.withSession(new Answer(200), session).header('Range', 'npt=0.000-');
    if (session.reader) {
      // PLAY after PAUSE.
      session.reader.setPaused(false);
      session.state = 'playing';
      return a;
    }
    const stream = this.ctx.registry.get(session.path);
    if (!stream) return fail(404, `stream "${session.path}" is not live`);
    session.state = 'playing';
    const packets = streamPackets(stream);
    const udp = this.ctx.udp;
    const reader = new RtspReader(
      {
        tcp: session.transport === 'tcp',
        write: (bytes) => this.write(bytes),
        sendUdp: (trackId, rtcp, packet) => {
          const ports = session.udpTargets.get(trackId);
          if (ports && udp) udp.send(rtcp ? 'rtcp' : 'rtp', packet, this.ip, ports[rtcp ? 1 : 0]);
        },
        beginBatch: () => this.socket.cork(),
        endBatch: () => this.socket.uncork(),
        backlog: () => (session.transport === 'tcp' ? this.socket.writableLength : (udp?.backlog() ?? 0)),
        endOfStream: (reason) => {
          session.handle = null;
          this.endSession(session, `end of stream: ${reason}`);
          if (this.sessions.size === 0) this.socket.end();
        },
        abort: (reason) => this.close(reason),
      },
      packets,
      session.played as PlayedTrack[],
    );
    session.reader = reader;
    session.playedStream = stream;
    const query = splitUri(req.uri).query;
    // The 200 goes out before the first media frame.
    this.afterResponse = () => {
      if (this.closed || !this.sessions.has(session.id)) return;
      try {
        session.handle = stream.addReader({ id: `${this.id}/${session.id}`, protocol: 'rtsp', remoteAddress: this.remote, query, grant: session.grant }, reader, { audio: ['aac', 'opus', 'pcmu', 'pcma'] });
      } catch (err) {
        this.endSession(session, describeError(err));
        return;
      }
      this.log.info('play started', { path: session.path, transport: session.transport, tracks: session.played.map((p) => p.out.codec).join(',') });
    };
    return a;
  }

  private record(session: RtspSession | undefined): Answer {
    if (!session || session.mode !== 'publish') return fail(455, 'RECORD needs a session set up for publishing');
    if (!session.recorded.some((r) => r)) return fail(455, 'nothing set up');
    if (session.stream) return this.withSession(new Answer(200), session);
    const publisher: PublisherInfo = {
      id: this.id,
      protocol: 'rtsp',
      remoteAddress: this.remote,
      grant: session.grant,
      close: (reason) => this.close(reason),
    };
    let stream;
    try {
      stream = this.ctx.registry.publish(session.path, publisher);
    } catch (err) {
      if (err instanceof StreamBusyError) return fail(409, err.message);
      throw err;
    }
    session.stream = stream;
    session.publisher = publisher;
    session.state = 'recording';
    for (const r of session.recorded) {
      const t = r?.receiver.initialTrack();
      if (t) stream.setTrack(t);
    }
    this.log.info('publish started', { path: session.path, transport: session.transport, tracks: session.recorded.filter((r) => r).map((r) => r!.receiver.media.codec).join(',') });
    return this.withSession(new Answer(200), session);
  }

  // ---- media in ----

  private onFrame(channel: number, data: Buffer, now: number): void {
    const route = this.channels.get(channel);
    if (!route) return; // a channel nothing was set up on: ignored, as RFC 2326 §10.12 allows
    route.session.lastSeen = now;
    if (route.rtcp) return this.onRtcp(route.session, data, now);
    if (route.media === undefined || route.session.state !== 'recording') return;
    const packet = parseRtp(data);
    if (!packet) return;
    route.session.recorded[route.media]?.receiver.push(packet, now);
  }

  private onUdpRtp(session: RtspSession, media: number, msg: Buffer, now: number): void {
    session.lastSeen = now;
    if (session.state !== 'recording') return;
    const packet = parseRtp(msg);
    if (!packet) return;
    const receiver = session.recorded[media]?.receiver;
    if (!receiver) return;
    receiver.push(packet, now);
    this.flushUnits();
    this.schedulePoll(session);
  }

  private onRtcp(session: RtspSession, msg: Buffer, now: number): void {
    session.lastSeen = now;
    for (const p of parseRtcp(msg)) {
      if (p.type === 'sr') for (const r of session.recorded) r?.receiver.senderReport(p.ssrc, p.ntp, p.rtpTimestamp, now);
      else if (p.type === 'rr') {
        session.receiverReports++;
        for (const b of p.blocks) {
          session.reportedLost = Math.max(session.reportedLost, b.lost);
          session.reportedJitter = b.jitter;
        }
      }
      // A BYE alone does not end a publish: TEARDOWN or the connection closing does.
    }
  }

  private pollTimers = new Map<RtspSession, NodeJS.Timeout>();

  /** Gaps in a UDP publisher's sequence wait in the jitter buffer; this lets them go when due. */
  private schedulePoll(session: RtspSession): void {
    if (this.pollTimers.has(session)) return;
    let due: number | null = null;
    for (const r of session.recorded) {
      const d = r?.receiver.nextDeadline() ?? null;
      if (d !== null && (due === null || d < due)) due = d;
    }
    if (due === null) return;
    const t = setTimeout(() => {
      this.pollTimers.delete(session);
      if (this.closed) return;
      const now = performance.now();
      for (const r of session.recorded) r?.receiver.poll(now);
      this.flushUnits();
      this.schedulePoll(session);
    }, Math.max(1, due - performance.now()));
    this.pollTimers.set(session, t);
  }

  private queueUnit(session: RtspSession, unit: MediaUnit): void {
    if (!session.stream) return;
    if (this.pendingStream !== session) this.flushUnits();
    this.pendingStream = session;
    this.pendingUnits.push(unit);
  }

  private flushUnits(): void {
    const s = this.pendingStream;
    if (!s || this.pendingUnits.length === 0) return;
    const units = this.pendingUnits;
    this.pendingUnits = [];
    if (s.stream && !s.stream.isEnded) s.stream.pushMany(units);
  }

  // ---- ending ----

  endSession(session: RtspSession, reason: string): void {
    if (!this.sessions.has(session.id) && this.announced !== session) return;
    this.sessions.delete(session.id);
    if (this.announced === session) this.announced = null;
    this.ctx.removeSession(session);
    for (const undo of session.unroute) undo();
    for (const [ch, route] of this.channels) if (route.session === session) this.channels.delete(ch);
    const t = this.pollTimers.get(session);
    if (t) clearTimeout(t);
    this.pollTimers.delete(session);
    if (session.stream) {
      this.flushUnits();
      this.ctx.registry.unpublish(session.stream, reason, session.publisher ?? undefined);
      this.log.info('publish ended', { path: session.path, reason });
      session.stream = null;
    }
    if (session.handle) {
      session.handle.close();
      session.handle = null;
      this.log.info('play ended', { path: session.path, reason });
    }
    this.armIdle();
  }

  close(reason: string, by: 'server' | 'peer' | 'shutdown' = 'server'): void {
    if (this.closed) return;
    for (const s of [...this.sessions.values()]) this.endSession(s, reason);
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    for (const t of this.pollTimers.values()) clearTimeout(t);
    this.pollTimers.clear();
    if (by === 'server') this.log.warn('connection closed', { reason, by: 'server' });
    else this.log.info('connection closed', { reason });
    // What was written (an error answer) goes out first.
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.onClosed(this);
  }
}
