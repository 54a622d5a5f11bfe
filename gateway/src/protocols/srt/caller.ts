/**
 * An SRT caller (draft-sharabayko-srt-01 §4.3.1): connects to a listener (INDUCTION, then
 * CONCLUSION with HSREQ, stream id and KMREQ), then runs an SrtConnection over its own UDP socket.
 * Used for relays and by the tests (it can start its packet clock anywhere, e.g. near the 32-bit wrap).
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { RejectedError, TimeoutError } from '../../core/errors.js';
import { TypedEmitter } from '../../core/events.js';
import { SrtConnection, type SrtConnectionStats } from './connection.js';
import { encodeKeyMaterial, generateKeyMaterial, type KeyLength, type KeyMaterial } from './crypto.js';
import { encodeHandshake, encryptionField, ExtFlag, HandshakeType, HS_MAGIC, parseHandshake, peerIpField, SRT_VERSION, type Handshake } from './handshake.js';
import { LIVE_FLAGS, rejectionText } from './listener-handshake.js';
import { ControlType, controlPacket, parsePacket, type Packet } from './packet.js';

export interface SrtCallerOptions {
  host: string;
  port: number;
  streamId: string;
  passphrase?: string;
  /** AES key length when a passphrase is set (default 16). */
  keyLength?: KeyLength;
  latencyMs?: number;
  peerIdleTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Where the packet clock starts (µs); tests put it near 2^32 to cross the timestamp wrap. */
  clockStartUs?: number;
  keyRefreshPackets?: number;
  keyPreAnnouncePackets?: number;
}

/**
 * Caller options from an `srt://host:port?streamid=…&passphrase=…&latency=…` URL, as ffmpeg and
 * srt-live-transmit take them (relay sources and targets).
 */
export function callerOptionsFromUrl(url: string): SrtCallerOptions {
  const u = new URL(url);
  const passphrase = u.searchParams.get('passphrase');
  const latency = u.searchParams.get('latency');
  return {
    host: u.hostname,
    port: Number(u.port),
    streamId: u.searchParams.get('streamid') ?? '',
    ...(passphrase ? { passphrase } : {}),
    ...(latency ? { latencyMs: Number(latency) } : {}),
  };
}

export type SrtCallerEvents = {
  data: Buffer;
  close: { reason: string };
};

const RETRY_MS = 250;
const TICK_MS = 5;
const nowUs = (): number => performance.now() * 1000;

export class SrtCaller extends TypedEmitter<SrtCallerEvents> {
  private conn: SrtConnection | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closedReason: string | null = null;

  private constructor(
    private readonly socket: Socket,
    private readonly o: SrtCallerOptions,
  ) {
    super();
  }

  /** Connects; rejects with RejectedError (the listener's code) or TimeoutError. */
  static async connect(o: SrtCallerOptions): Promise<SrtCaller> {
    const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(o.port, o.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const caller = new SrtCaller(socket, o);
    // A connected UDP socket reports the listener's ICMP port-unreachable as an error event (the
    // listener went away): it ends this connection, never the process.
    socket.on('error', (err: Error) => caller.socketError(err));
    try {
      await caller.handshake();
    } catch (err) {
      socket.close();
      throw err;
    }
    return caller;
  }

  get connected(): boolean {
    return this.conn !== null && !this.conn.isClosed;
  }

  /** Sends one payload (≤ 1456 bytes; 1316 = 7 TS packets). */
  write(payload: Buffer): void {
    this.conn?.write(payload, nowUs());
  }

  /** Bytes queued and not yet sent. */
  backlog(): number {
    return this.conn?.backlog() ?? 0;
  }

  stats(): SrtConnectionStats | null {
    return this.conn?.stats() ?? null;
  }

  private failHandshake: ((err: Error) => void) | null = null;

  private socketError(err: Error): void {
    const reason = `socket error: ${err.message}`;
    if (this.failHandshake) return this.failHandshake(new Error(`SRT handshake with ${this.o.host}:${this.o.port} failed: ${err.message}`));
    this.close(reason);
  }

  close(reason = 'closed by caller'): void {
    this.conn?.close(reason);
    this.finish(reason);
  }

  private finish(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    if (this.timer) clearInterval(this.timer);
    try {
      this.socket.close();
    } catch {
      /* already closed */
    }
    this.emit('close', { reason });
  }

  private handshake(): Promise<void> {
    const o = this.o;
    const startUs = nowUs() - (o.clockStartUs ?? 0);
    const ts = (): number => Math.floor(nowUs() - startUs) % 2 ** 32;
    const localId = randomBytes(4).readUInt32BE(0) & 0x3fffffff || 1;
    const isn = randomBytes(4).readUInt32BE(0) & 0x3fffffff;
    const latencyMs = o.latencyMs ?? 120;
    const keyLength = o.keyLength ?? 16;
    const km: KeyMaterial | null = o.passphrase ? generateKeyMaterial(keyLength, 1) : null;
    const base: Handshake = {
      version: 4,
      encryption: 0,
      extensionField: 2,
      isn,
      mtu: 1500,
      flowWindow: 8192,
      type: HandshakeType.Induction,
      socketId: localId,
      cookie: 0,
      peerIp: peerIpField(o.host),
    };
    let request = controlPacket(ControlType.Handshake, 0, 0, ts(), 0, encodeHandshake(base));
    return new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => done(new TimeoutError(`SRT handshake with ${o.host}:${o.port} timed out`)), o.connectTimeoutMs ?? 3000);
      const retry = setInterval(() => this.socket.send(request), RETRY_MS);
      this.failHandshake = (err) => done(err);
      const done = (err?: Error): void => {
        this.failHandshake = null;
        clearTimeout(deadline);
        clearInterval(retry);
        this.socket.off('message', onMessage);
        if (err) reject(err);
        else resolve();
      };
      const onMessage = (msg: Buffer): void => {
        let p: Packet;
        let hs: Handshake;
        try {
          p = parsePacket(msg);
          if (!p.control || p.type !== ControlType.Handshake) return;
          hs = parseHandshake(p.cif);
        } catch {
          return;
        }
        if (hs.type === HandshakeType.Induction) {
          if (hs.version !== 5 || hs.extensionField !== HS_MAGIC) return done(new RejectedError('the listener does not speak SRT v5', 1008));
          request = controlPacket(
            ControlType.Handshake,
            0,
            0,
            ts(),
            0,
            encodeHandshake({
              ...base,
              version: 5,
              encryption: km ? encryptionField(keyLength) : 0,
              extensionField: ExtFlag.HsReq | ExtFlag.Config | (km ? ExtFlag.KmReq : 0),
              type: HandshakeType.Conclusion,
              cookie: hs.cookie,
              hsReq: { version: SRT_VERSION, flags: LIVE_FLAGS, recvDelayMs: latencyMs, sendDelayMs: latencyMs },
              ...(km ? { kmReq: encodeKeyMaterial(km, o.passphrase!) } : {}),
              streamId: o.streamId,
            }),
          );
          this.socket.send(request);
          return;
        }
        if (hs.type >= 1000 && hs.type < 3000) {
          const code = hs.type - 1000;
          return done(new RejectedError(`SRT connection rejected: ${rejectionText(code)} (${hs.type})`, hs.type));
        }
        if (hs.type !== HandshakeType.Conclusion || !hs.hsRsp) return;
        if (km && (!hs.kmRsp || hs.kmRsp.length <= 4)) return done(new RejectedError('SRT key exchange failed (KMRSP)', 1010));
        this.start(hs, p.timestamp, startUs, latencyMs, km, isn, localId);
        done();
      };
      this.socket.on('message', onMessage);
      this.socket.send(request);
    });
  }

  private start(hs: Handshake, peerTs: number, startUs: number, latencyMs: number, km: KeyMaterial | null, isn: number, localId: number): void {
    const o = this.o;
    const rsp = hs.hsRsp!;
    const now = nowUs();
    this.conn = new SrtConnection({
      localSocketId: localId,
      peerSocketId: hs.socketId,
      isn,
      recvLatencyUs: Math.max(latencyMs, rsp.sendDelayMs) * 1000,
      peerLatencyUs: Math.max(latencyMs, rsp.recvDelayMs) * 1000,
      peerFlowWindow: hs.flowWindow,
      windowPackets: 8192,
      startUs,
      peerHandshakeAtUs: now,
      peerHandshakeTs: peerTs,
      tooLateDrop: true,
      peerIdleTimeoutUs: (o.peerIdleTimeoutMs ?? 5000) * 1000,
      crypto: km
        ? { passphrase: o.passphrase!, km, refreshPackets: o.keyRefreshPackets ?? 0x1000000, preAnnouncePackets: o.keyPreAnnouncePackets ?? 0x10000 }
        : null,
      transmit: (parts) => this.socket.send(parts as Buffer[]),
      onData: (payload) => this.emit('data', payload),
      onClose: (reason) => this.finish(reason),
    });
    this.socket.on('message', (msg) => {
      let p: Packet;
      try {
        p = parsePacket(msg);
      } catch {
        return;
      }
      if (p.control && p.type === ControlType.Handshake) return;
      this.conn?.receive(p, nowUs());
    });
    this.timer = setInterval(() => this.conn?.tick(nowUs()), TICK_MS);
  }
}
