/**
 * The SRT listener: one UDP port for every connection, demultiplexed by destination socket id
 * (0 = handshake). It answers handshakes (SYN cookies, so an INDUCTION flood costs no state),
 * decides who may publish or read what, turns refusals into SRT rejection codes, and ties each
 * connection to a stream: `publish` through SrtToStream, `read` as an SrtReader of the stream.
 */
import type { AccessDecision, AccessGrant, RefusalReason } from '../../core/access.js';
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup } from 'node:dns';
import { isIPv4 } from 'node:net';
import { describeError, StreamBusyError } from '../../core/errors.js';
import { sessionId, type Logger } from '../../core/log.js';
import { RefusalLog } from '../../core/refusal-log.js';
import type { PublisherInfo, ReaderHandle, Stream } from '../../core/stream.js';
import type { StreamRegistry } from '../../core/stream-registry.js';
import type { OutputKind } from '../../core/stream-outputs.js';
import { SrtConnection, type SrtConnectionStats } from './connection.js';
import { SrtReader, TsMuxReader } from './from-stream.js';
import { encodeHandshake, encryptionField, HandshakeType, parseHandshake, type Handshake } from './handshake.js';
import {
  AccessReject,
  cookieMinute,
  cookieValid,
  conclusionResponse,
  inductionResponse,
  negotiate,
  rejection,
  synCookie,
} from './listener-handshake.js';
import { ControlType, controlPacket, HEADER_SIZE, MAX_PACKET_SIZE, parsePacket, type Packet } from './packet.js';
import type { SrtMode } from './stream-id.js';
import { SrtToStream } from './to-stream.js';
import { admit, type SrtAccessPolicy, type SrtAccessRequest, type SrtPassphraseRule } from './admission.js';

export type { SrtAccessDecision, SrtAccessPolicy, SrtAccessRequest, SrtPassphraseRule } from './admission.js';

export interface SrtServerOptions {
  registry: StreamRegistry;
  log: Logger;
  latencyMs: number;
  peerIdleTimeoutMs: number;
  receiveBufferBytes: number;
  maxConnections: number;
  passphrases: readonly SrtPassphraseRule[];
  keyRefreshPackets: number;
  keyPreAnnouncePackets: number;
  /** Who may publish or read what (the authentication layer plugs in here). */
  access?: SrtAccessPolicy;
}

export interface SrtSessionInfo {
  id: string;
  /** livegate's SRT socket id for this connection. */
  socketId: number;
  mode: SrtMode;
  path: string;
  streamId: string;
  remoteAddress: string;
  encrypted: boolean;
  keyLength: number;
  latencyMs: number;
  peerLatencyMs: number;
  startedAt: string;
  /** Publishers: TS continuity errors and sync losses in what arrived (after SRT's own recovery). */
  transportErrors?: number;
  stats: SrtConnectionStats;
}

interface Session {
  readonly id: string;
  readonly info: Omit<SrtSessionInfo, 'stats'>;
  transportErrors?: () => number;
  readonly conn: SrtConnection;
  readonly remote: RemoteInfo;
  readonly peerKey: string;
  readonly localSocketId: number;
  readonly response: Buffer;
  /** The query part of the stream id (`token=…`). */
  readonly query?: string;
  /** What the admission gate allowed. */
  readonly grant?: AccessGrant;
  readonly log: Logger;
  /** Set by a shutdown: its close is logged as routine. */
  closingRoutinely?: boolean;
  close(reason: string): void;
}

/**
 * The stream's MPEG-TS muxer, shared by its SRT readers: each unit muxed once, its 1316-byte payloads
 * sent to every reader. Stopped with the last SRT reader (a new one starts its continuity afresh).
 */
/** MPEG-TS carries AAC, Opus and MP3: a camera's G.711 reaches SRT readers as the stream's AAC rendition. */
const TS_MUX: OutputKind<TsMuxReader> = { name: 'srt-mux', make: () => new TsMuxReader(), lingerMs: 0, wants: { audio: ['aac', 'opus', 'mp3'] } };

/** Timer period while a connection sends media (a reader): the sender's pacing is built on it (CREDIT_US). */
const TICK_MS = 5;
/**
 * Timer period while every connection only receives (publishers): ACKs every 10 ms and TSBPD delivery
 * need nothing finer (10 ms of delivery jitter is nothing next to the latency), and every wake-up of
 * the event loop costs as much as the work it does.
 */
const RECEIVE_TICK_MS = 10;
/** Handshake answers kept for repeated CONCLUSIONs and rejections (a caller retries every 250 ms). */
const REJECTION_MEMORY_MS = 5000;
/** Callers waiting for the admission gate at most (more are asked to come back). */
const MAX_PENDING_GATES = 10_000;
/** The SRT rejection code of each refusal of the admission gate. */
const GATE_REFUSAL: { [R in RefusalReason]: number } = {
  unauthorized: AccessReject.Unauthorized,
  forbidden: AccessReject.Forbidden,
  'not-found': AccessReject.NotFound,
  busy: AccessReject.Conflict,
  unavailable: AccessReject.Unavailable,
};

export class SrtServer {
  private socket: Socket | null = null;
  private readonly secret = randomBytes(32);
  private readonly bySocketId = new Map<number, Session>();
  private readonly byPeer = new Map<string, Session>();
  private readonly rejections = new Map<string, { packet: Buffer; at: number }>();
  private timer: NodeJS.Timeout | null = null;
  private timerPeriod = 0;
  private readonly listenerSocketId = this.newSocketId();
  /** Counters of what was thrown away (for tests and the API). */
  readonly dropped = { malformed: 0, stray: 0, badCookie: 0 };
  /**
   * Where this server's packet clocks start, relative to each connection's start (µs). 0 in
   * production; tests set it close to 2^32 to cross the 32-bit timestamp wrap within seconds.
   */
  clockStartUs = 0;
  /** Callers waiting for the admission gate, by peer: the decision once it came. */
  private readonly gates = new Map<string, { decision: AccessDecision | null }>();
  /** The access policy (from the options; the authentication layer may set it later). */
  access: SrtAccessPolicy | null;
  private readonly refusals: RefusalLog;

  constructor(private readonly o: SrtServerOptions) {
    this.access = o.access ?? null;
    this.refusals = new RefusalLog(o.log);
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const socket = createSocket({
        type: 'udp4',
        recvBufferSize: this.o.receiveBufferBytes,
        sendBufferSize: this.o.receiveBufferBytes,
        lookup: literalLookup,
      });
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        socket.on('error', (err) => this.o.log.error('srt socket error', { reason: err.message }));
        socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
        this.socket = socket;
        resolve(socket.address().port);
      });
    });
  }

  sessions(): SrtSessionInfo[] {
    return [...this.bySocketId.values()].map((s) => ({
      ...s.info,
      ...(s.transportErrors ? { transportErrors: s.transportErrors() } : {}),
      stats: s.conn.stats(),
    }));
  }

  closeAll(reason: string): void {
    for (const s of [...this.bySocketId.values()]) {
      s.closingRoutinely = true;
      s.close(reason);
    }
  }

  close(): Promise<void> {
    this.closeAll('server shutting down');
    this.stopTimer();
    const socket = this.socket;
    this.socket = null;
    return new Promise((resolve) => (socket ? socket.close(() => resolve()) : resolve()));
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const now = performance.now() * 1000;
    // Data packets (nearly every datagram) go straight to their connection, with no Packet object.
    if (msg.length >= HEADER_SIZE && msg.length <= MAX_PACKET_SIZE && (msg[0]! & 0x80) === 0) {
      const s = this.bySocketId.get(msg.readUInt32BE(12));
      if (!s || s.remote.address !== rinfo.address || s.remote.port !== rinfo.port) {
        this.dropped.stray++;
        return;
      }
      return s.conn.receiveData(msg, now);
    }
    let p: Packet;
    try {
      p = parsePacket(msg);
    } catch (err) {
      this.dropped.malformed++;
      this.o.log.debug('srt datagram dropped', { remote: `${rinfo.address}:${rinfo.port}`, reason: describeError(err) });
      return;
    }
    if (p.control && p.type === ControlType.Handshake) return this.handshake(p.cif, p.timestamp, rinfo, now);
    const s = this.bySocketId.get(p.destId);
    if (!s || s.remote.address !== rinfo.address || s.remote.port !== rinfo.port) {
      this.dropped.stray++;
      return;
    }
    s.conn.receive(p, now);
  }

  private handshake(cif: Buffer, timestamp: number, rinfo: RemoteInfo, now: number): void {
    let hs: Handshake;
    try {
      hs = parseHandshake(cif);
    } catch (err) {
      this.dropped.malformed++;
      this.o.log.debug('srt handshake dropped', { remote: `${rinfo.address}:${rinfo.port}`, reason: describeError(err) });
      return;
    }
    if (hs.type === HandshakeType.Induction) {
      const cookie = synCookie(this.secret, rinfo.address, rinfo.port, cookieMinute(Date.now()));
      return this.send(this.handshakePacket(inductionResponse(hs, this.listenerSocketId, cookie, rinfo.address), hs.socketId), rinfo);
    }
    if (hs.type !== HandshakeType.Conclusion) return; // rendezvous is not served
    const peerKey = `${rinfo.address}:${rinfo.port}:${hs.socketId}`;
    const existing = this.byPeer.get(peerKey);
    if (existing) {
      // The caller has not taken our answer in yet: answer again (stamped now, since the caller's
      // TSBPD base comes from it), and tell the connection.
      existing.response.writeUInt32BE(existing.conn.timestamp(now), 8);
      this.send(existing.response, rinfo);
      existing.conn.handshakeRepeated(now);
      return;
    }
    const rejected = this.rejections.get(peerKey);
    if (rejected && Date.now() - rejected.at < REJECTION_MEMORY_MS) return this.send(rejected.packet, rinfo);
    if (!cookieValid(this.secret, rinfo.address, rinfo.port, hs.cookie, Date.now())) {
      this.dropped.badCookie++;
      this.o.log.debug('srt conclusion with a wrong cookie dropped', { remote: `${rinfo.address}:${rinfo.port}` });
      return;
    }
    this.conclusion(hs, timestamp, rinfo, peerKey, now);
  }

  private conclusion(hs: Handshake, timestamp: number, rinfo: RemoteInfo, peerKey: string, now: number): void {
    const remote = `${rinfo.address}:${rinfo.port}`;
    const reject = (code: number, reason: string): void => {
      this.logRefusal(rinfo.address, code, { remote, code: 1000 + code, reason, streamId: hs.streamId });
      const packet = this.handshakePacket(rejection(hs, code, this.listenerSocketId, rinfo.address), hs.socketId);
      this.rememberRejection(peerKey, packet);
      this.send(packet, rinfo);
    };
    const admission = admit(hs, {
      registry: this.o.registry,
      passphrases: this.o.passphrases,
      access: this.access,
      connections: this.bySocketId.size,
      maxConnections: this.o.maxConnections,
      remoteAddress: remote,
    });
    if (!admission.ok) {
      if (admission.retryInMs !== undefined) {
        // The path's publisher has gone quiet (a crashed encoder restarting?): leave this caller
        // unanswered; it repeats its CONCLUSION every 250 ms, and takes the path over once the
        // publisher has been silent long enough (or is refused, if it speaks again).
        this.o.log.debug('srt publish waits for the silent publisher of its path', { remote, streamId: hs.streamId, waitMs: admission.retryInMs });
        return;
      }
      return reject(admission.code, admission.reason);
    }
    const { request, passphrase, km } = admission;
    const { path, mode } = request;
    // The admission gate, asynchronously: the caller is left unanswered meanwhile (it repeats its
    // CONCLUSION every 250 ms); the decision, once known, answers this very handshake.
    const gate = this.gate(peerKey, request, () => this.conclusion(hs, timestamp, rinfo, peerKey, now));
    if (gate === null) return;
    if (!gate.ok) {
      if (gate.reason === 'busy' && gate.retryInMs !== undefined) return;
      return reject(GATE_REFUSAL[gate.reason], gate.message);
    }
    let stream = mode === 'read' ? this.o.registry.get(path) : undefined;

    const id = sessionId('srt');
    const localSocketId = this.newSocketId();
    const n = negotiate(hs, hs.hsReq!, this.o.latencyMs);
    // The answer carries the connection's clock: the caller's TSBPD base is taken from it (§4.5.1.1).
    const startUs = now - this.clockStartUs;
    const response = this.handshakePacket(
      conclusionResponse(hs, n, localSocketId, rinfo.address, km ? hs.kmReq! : null, km ? encryptionField(km.keyLength) : 0, 8192),
      hs.socketId,
      Math.floor(this.clockStartUs) % 2 ** 32,
    );
    const log = this.o.log.child({ id, protocol: 'srt', remote, path, mode });
    let onData: (payload: Buffer) => void = () => {};
    let onClose: (reason: string, byPeer: boolean) => void = () => {};
    const conn = new SrtConnection({
      localSocketId,
      peerSocketId: hs.socketId,
      isn: hs.isn,
      recvLatencyUs: n.recvLatencyMs * 1000,
      peerLatencyUs: n.peerRecvLatencyMs * 1000,
      peerFlowWindow: n.flowWindow,
      windowPackets: 8192,
      startUs,
      peerHandshakeAtUs: now,
      peerHandshakeTs: timestamp,
      tooLateDrop: n.tooLateDrop,
      peerIdleTimeoutUs: this.o.peerIdleTimeoutMs * 1000,
      crypto: km && passphrase ? { passphrase, km, refreshPackets: this.o.keyRefreshPackets, preAnnouncePackets: this.o.keyPreAnnouncePackets } : null,
      transmit: (parts) => this.send(parts, rinfo),
      onData: (payload) => onData(payload),
      onClose: (reason, byPeer) => onClose(reason, byPeer),
    });
    const session: Session = {
      id,
      conn,
      remote: rinfo,
      peerKey,
      localSocketId,
      response,
      query: request.query,
      grant: gate,
      log,
      info: {
        id,
        socketId: localSocketId,
        mode,
        path,
        streamId: hs.streamId ?? '',
        remoteAddress: remote,
        encrypted: km !== null,
        keyLength: km?.keyLength ?? 0,
        latencyMs: n.recvLatencyMs,
        peerLatencyMs: n.peerRecvLatencyMs,
        startedAt: new Date().toISOString(),
      },
      close: (reason) => conn.close(reason),
    };

    if (mode === 'publish') {
      const publisher: PublisherInfo = { id, protocol: 'srt', remoteAddress: remote, query: request.query, grant: gate, close: (reason) => conn.close(reason) };
      try {
        stream = this.o.registry.publish(path, publisher);
      } catch (err) {
        if (err instanceof StreamBusyError) return reject(AccessReject.Conflict, err.message);
        throw err;
      }
      const live = stream;
      const ingest = new SrtToStream(live, log);
      onData = (payload) => ingest.push(payload, performance.now());
      session.transportErrors = () => ingest.transportErrors;
      onClose = (reason, byPeer) => {
        ingest.end();
        this.o.registry.unpublish(live, reason, publisher);
        this.forget(session, reason, byPeer);
      };
    }
    this.bySocketId.set(localSocketId, session);
    this.byPeer.set(peerKey, session);
    // The answer goes first: a libsrt caller that gets data before it asks for the handshake again.
    this.send(response, rinfo);
    if (mode === 'read') {
      const reader = this.attachReader(stream!, session);
      onClose = (reason, byPeer) => {
        reader.detach();
        this.forget(session, reason, byPeer);
      };
    }
    log.info(mode === 'publish' ? 'publish started' : 'play started', {
      streamId: hs.streamId,
      encrypted: km ? `aes-${km.keyLength * 8}` : undefined,
      latencyMs: n.recvLatencyMs,
      peerLatencyMs: n.peerRecvLatencyMs,
    });
    this.startTimer();
  }

  /**
   * An SRT reader of `stream`: an ordinary reader of it, after the stream's MPEG-TS muxer (a
   * per-stream output: started with its first SRT reader, stopped with its last).
   */
  private attachReader(stream: Stream, session: Session): { detach(): void } {
    const mux = stream.outputs.use(TS_MUX);
    let reader: ReaderHandle;
    try {
      reader = stream.addReader(
        { id: session.id, protocol: 'srt', remoteAddress: session.info.remoteAddress, query: session.query, ...(session.grant ? { grant: session.grant } : {}) },
        new SrtReader(session.conn, mux.output),
      );
    } catch (err) {
      mux.release();
      throw err;
    }
    let detached = false;
    return {
      detach: () => {
        if (detached) return;
        detached = true;
        reader.close();
        mux.release();
      },
    };
  }

  private forget(session: Session, reason: string, byPeer: boolean): void {
    if (this.bySocketId.get(session.localSocketId) === session) this.bySocketId.delete(session.localSocketId);
    if (this.byPeer.get(session.peerKey) === session) this.byPeer.delete(session.peerKey);
    // What livegate decided (a timeout, a take-over, a slow reader, an error) is a warning; the peer
    // leaving, its stream ending and shutdown are the normal course.
    const routine = byPeer || session.closingRoutinely || reason.startsWith('stream ended');
    session.log[routine ? 'info' : 'warn']('connection closed', { reason, ...flatStats(session.conn.stats()) });
    if (this.bySocketId.size === 0) this.stopTimer();
    else this.startTimer(); // the last reader may have gone
  }

  /** A refused caller usually retries at once, again and again (srt-live-transmit does): log once per 5 s. */
  private logRefusal(address: string, code: number, fields: { [k: string]: string | number | undefined }): void {
    this.refusals.refused(`${address}|${code}`, 'srt connection refused', fields);
  }

  /**
   * The admission gate's decision for a caller: null while it is being asked (`answer` runs again
   * once it is known), then the decision, used once.
   */
  private gate(peerKey: string, request: SrtAccessRequest, answer: () => void): AccessDecision | null {
    const known = this.gates.get(peerKey);
    if (known) {
      if (known.decision === null) return null;
      this.gates.delete(peerKey);
      return known.decision;
    }
    if (this.gates.size >= MAX_PENDING_GATES) return { ok: false, reason: 'busy', message: 'too many connections being admitted', retryInMs: 250 };
    const entry: { decision: AccessDecision | null } = { decision: null };
    this.gates.set(peerKey, entry);
    const token = request.query ? new URLSearchParams(request.query).get('token') ?? undefined : undefined;
    this.o.registry
      .admit({
        action: request.mode,
        protocol: 'srt',
        path: request.path,
        ...(request.user !== undefined ? { user: request.user } : {}),
        ...(request.password !== undefined ? { password: request.password } : {}),
        ...((token ?? request.session) !== undefined ? { token: (token ?? request.session)! } : {}),
        ip: request.remoteAddress.replace(/:\d+$/, ''),
        id: peerKey,
        query: request.query ?? '',
        userAgent: '',
      })
      .then(
        (decision) => {
          entry.decision = decision;
          try {
            if (this.socket) answer();
          } catch (err) {
            this.o.log.error('srt handshake failed after admission', { peer: peerKey, reason: describeError(err) });
          }
          // Not consumed (the server closed, or the answer threw): forgotten all the same.
          if (this.gates.get(peerKey) === entry) this.gates.delete(peerKey);
        },
        () => this.gates.delete(peerKey),
      );
    return null;
  }

  private rememberRejection(peerKey: string, packet: Buffer): void {
    const now = Date.now();
    if (this.rejections.size > 1000) {
      for (const [k, v] of this.rejections) if (now - v.at > REJECTION_MEMORY_MS) this.rejections.delete(k);
      if (this.rejections.size > 1000) this.rejections.clear();
    }
    this.rejections.set(peerKey, { packet, at: now });
  }

  private handshakePacket(hs: Handshake, destId: number, timestamp = 0): Buffer {
    return controlPacket(ControlType.Handshake, 0, 0, timestamp, destId, encodeHandshake(hs));
  }

  private send(parts: Buffer | readonly Buffer[], to: RemoteInfo): void {
    this.socket?.send(parts as Buffer[], to.port, to.address);
  }

  private newSocketId(): number {
    for (;;) {
      const id = randomBytes(4).readUInt32BE(0) & 0x3fffffff;
      if (id !== 0 && !this.bySocketId?.has(id)) return id;
    }
  }

  /** Starts the timer, or restarts it when the connections now need another period. */
  private startTimer(): void {
    let period = RECEIVE_TICK_MS;
    for (const s of this.bySocketId.values()) if (s.info.mode === 'read') period = TICK_MS;
    if (this.timer && this.timerPeriod === period) return;
    this.stopTimer();
    this.timerPeriod = period;
    this.timer = setInterval(() => {
      const now = performance.now() * 1000;
      for (const s of [...this.bySocketId.values()]) {
        try {
          s.conn.tick(now);
        } catch (err) {
          s.close(`internal error: ${describeError(err)}`);
        }
      }
    }, period);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/**
 * The socket's address lookup. Datagrams go to peers' IP addresses (their rinfo): dgram would pass
 * each one through dns.lookup, which answers an IP address on the next tick, so every send costs a
 * trip through the nextTick queue. An IPv4 address is answered at once; anything else (a host name
 * to bind to) goes to dns.lookup.
 */
function literalLookup(address: string, options: unknown, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  if (isIPv4(address)) return callback(null, address, 4);
  lookup(address, options as number, callback);
}

function flatStats(s: SrtConnectionStats): { [k: string]: number } {
  return {
    rttMs: Math.round(s.rttMs * 10) / 10,
    packetsReceived: s.packetsReceived,
    packetsLost: s.packetsLost,
    packetsRecovered: s.packetsRecovered,
    packetsDropped: s.packetsDropped,
    packetsSent: s.packetsSent,
    packetsRetransmitted: s.packetsRetransmitted,
  };
}
