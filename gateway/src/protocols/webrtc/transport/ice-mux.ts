/**
 * One UDP port and one TCP port for every WebRTC session (as mediasoup's WebRtcServer and Pion's
 * UDPMux do). A STUN Binding request is routed by the ICE username fragment it is for, after its
 * MESSAGE-INTEGRITY has been checked with that session's password; the address it came from is then
 * learnt, and DTLS, SRTP and SRTCP from that address follow it. ICE-TCP (RFC 6544, passive) carries
 * the same packets framed by RFC 4571; a TCP connection belongs to the session whose check it carried
 * first. Anything else — garbage, unknown ufrags, checks that fail integrity, packets from unknown
 * addresses, oversized frames — is dropped (and counted) without touching any session.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { literalFirst } from '../../../net/literal-lookup.js';
import { createServer, type Server, type Socket } from 'node:net';
import {
  bindingRequest,
  checkedUfrag,
  hasValidIntegrity,
  isStun,
  mappedAddress,
  stunTransactionId,
  stunType,
  STUN_BINDING_REQUEST,
  STUN_BINDING_SUCCESS,
  type MappedAddress,
} from '../../../format/stun.js';
import { FrameTooLargeError, Rfc4571Reader, rfc4571Header } from '../../../format/rfc4571.js';
import type { Logger } from '../../../core/log.js';
import { RefusalLog } from '../../../core/refusal-log.js';
import { listen } from '../../../net/listen.js';
import { flushNativeSends } from './native-send.js';

/** Where a session's peer is reached: a UDP address, or one ICE-TCP connection. */
export type IceRemote = UdpRemote | TcpRemote;

export interface UdpRemote {
  readonly transport: 'udp';
  readonly address: string;
  readonly port: number;
}

export interface TcpRemote {
  readonly transport: 'tcp';
  readonly address: string;
  readonly port: number;
  readonly connection: IceTcpConnection;
}

export interface IceMuxSession {
  /** The local ICE ufrag (what the peer puts first in USERNAME). */
  readonly ufrag: string;
  /** The local ICE password (the MESSAGE-INTEGRITY key of the peer's checks). */
  readonly password: string;
  /** A packet from the peer: a check that passed integrity, or DTLS/RTP/RTCP from a learnt address. */
  receive(data: Buffer, remote: IceRemote): void;
  /** An ICE-TCP connection of this session ended. */
  tcpClosed(remote: TcpRemote): void;
}

export interface IceMuxOptions {
  /** Where to bind (all interfaces when absent). */
  host?: string;
  /** UDP port for every session (0: any free port). */
  udpPort: number;
  /** TCP port for ICE-TCP (0: any free port; null: no ICE-TCP). */
  tcpPort: number | null;
  log: Logger;
  /** Largest RFC 4571 frame accepted; a larger one ends its connection. */
  maxTcpFrame?: number;
  /** ICE-TCP connections that have not yet carried a valid check, at most. */
  maxPendingTcp?: number;
  /** A TCP connection must carry a valid check within this long (ms). */
  tcpCheckTimeoutMs?: number;
  /** Bytes queued on one ICE-TCP connection above which further packets are dropped (a slow client). */
  maxTcpQueue?: number;
  /** Addresses one session may be reached at (UDP), at most; older ones are forgotten. */
  maxAddressesPerSession?: number;
}

export interface IceMuxStats {
  udpPacketsIn: number;
  udpPacketsOut: number;
  tcpConnections: number;
  /** Packets dropped, by why. */
  dropped: { [reason in DropReason]: number };
}

type DropReason = 'unknownAddress' | 'unknownUfrag' | 'badIntegrity' | 'notACheck' | 'tcpOverflow' | 'tcpFraming';

const DEFAULTS = { maxTcpFrame: 4096, maxPendingTcp: 256, tcpCheckTimeoutMs: 10_000, maxTcpQueue: 1 << 20, maxAddressesPerSession: 8 };


export class IceMux {
  private udp: UdpSocket | null = null;
  private tcp: Server | null = null;
  private readonly byUfrag = new Map<string, IceMuxSession>();
  /** Learnt UDP addresses: ip → port → session. */
  private readonly byAddress = new Map<string, Map<number, IceMuxSession>>();
  private readonly addressesOf = new Map<IceMuxSession, UdpRemote[]>();
  private readonly connectionsOf = new Map<IceMuxSession, Set<IceTcpConnection>>();
  private pendingTcp = 0;
  /** Binding requests this mux sent (public address discovery), by transaction id. */
  private readonly probes = new Map<string, { from: string; resolve: (m: MappedAddress) => void }>();
  private readonly refusals: RefusalLog;
  private readonly limits: typeof DEFAULTS;
  readonly stats: IceMuxStats = {
    udpPacketsIn: 0,
    udpPacketsOut: 0,
    tcpConnections: 0,
    dropped: { unknownAddress: 0, unknownUfrag: 0, badIntegrity: 0, notACheck: 0, tcpOverflow: 0, tcpFraming: 0 },
  };
  /** The bound ports, once started. */
  ports: { udp: number; tcp: number | null } = { udp: 0, tcp: null };

  constructor(private readonly options: IceMuxOptions) {
    this.refusals = new RefusalLog(options.log, 10_000);
    this.limits = {
      maxTcpFrame: options.maxTcpFrame ?? DEFAULTS.maxTcpFrame,
      maxPendingTcp: options.maxPendingTcp ?? DEFAULTS.maxPendingTcp,
      tcpCheckTimeoutMs: options.tcpCheckTimeoutMs ?? DEFAULTS.tcpCheckTimeoutMs,
      maxTcpQueue: options.maxTcpQueue ?? DEFAULTS.maxTcpQueue,
      maxAddressesPerSession: options.maxAddressesPerSession ?? DEFAULTS.maxAddressesPerSession,
    };
  }

  async start(): Promise<{ udp: number; tcp: number | null }> {
    const host = this.options.host ?? '0.0.0.0';
    const udp = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20, lookup: literalFirst });
    udp.on('message', (data, rinfo) => this.onDatagram(data, rinfo));
    udp.on('error', (err) => this.options.log.warn('WebRTC UDP socket error', { error: err.message }));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.options.udpPort, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.udp = udp;
    this.ports.udp = udp.address().port;
    if (this.options.tcpPort !== null) {
      const tcp = createServer({ noDelay: true }, (socket) => this.onTcpConnection(socket));
      tcp.on('error', (err) => this.options.log.warn('WebRTC TCP server error', { error: err.message }));
      this.ports.tcp = await listen(tcp, this.options.tcpPort, host);
      this.tcp = tcp;
    }
    return this.ports;
  }

  async close(): Promise<void> {
    flushNativeSends();
    this.udp?.close();
    this.udp = null;
    this.fd = undefined;
    for (const set of this.connectionsOf.values()) for (const c of set) c.destroy();
    await new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve()));
    this.tcp = null;
  }

  /** Sessions routed by this mux. */
  get sessionCount(): number {
    return this.byUfrag.size;
  }

  /** Starts routing checks for `session`'s ufrag; the returned function stops it and forgets its addresses. */
  register(session: IceMuxSession): () => void {
    if (this.byUfrag.has(session.ufrag)) throw new Error(`ICE ufrag ${session.ufrag} is already in use`);
    this.byUfrag.set(session.ufrag, session);
    return () => this.unregister(session);
  }

  private unregister(session: IceMuxSession): void {
    if (this.byUfrag.get(session.ufrag) === session) this.byUfrag.delete(session.ufrag);
    for (const remote of this.addressesOf.get(session) ?? []) this.forgetAddress(remote, session);
    this.addressesOf.delete(session);
    for (const c of this.connectionsOf.get(session) ?? []) c.destroy();
    this.connectionsOf.delete(session);
  }

  /**
   * The UDP socket's file descriptor, for the native send path's sendmmsg (native-send.ts), or null
   * (not bound, or a Node whose dgram keeps it elsewhere). Node keeps the libuv handle, with its `fd`,
   * in the socket's "state symbol" field.
   */
  udpFd(): number | null {
    const udp = this.udp;
    if (!udp) return null;
    if (this.fd === undefined) {
      this.fd = null;
      for (const key of Object.getOwnPropertySymbols(udp)) {
        const fd = (udp as unknown as Record<symbol, { handle?: { fd?: unknown } } | undefined>)[key]?.handle?.fd;
        if (typeof fd === 'number' && fd >= 0) this.fd = fd;
      }
    }
    return this.fd;
  }

  private fd: number | null | undefined = undefined;

  /** Sends one datagram to a UDP remote. */
  sendUdp(data: Buffer, remote: { address: string; port: number }): void {
    if (!this.udp) return;
    this.stats.udpPacketsOut++;
    this.udp.send(data, remote.port, remote.address);
  }

  /**
   * Asks a STUN server, from the shared UDP socket, which address it sees us at (the NAT's mapping of
   * this very socket). Retransmits with doubling waits (RFC 8489 §6.2.1), capped so that a silent
   * server delays the start by about 3 s at most.
   */
  async probe(server: { address: string; port: number }, attempts = 4): Promise<MappedAddress> {
    const request = bindingRequest();
    const id = stunTransactionId(request).toString('hex');
    const from = `${server.address}:${server.port}`;
    try {
      return await new Promise<MappedAddress>((resolve, reject) => {
        let done = false;
        this.probes.set(id, {
          from,
          resolve: (mapped) => {
            done = true;
            resolve(mapped);
          },
        });
        let sent = 0;
        const send = (): void => {
          if (done) return;
          if (sent++ >= attempts) {
            done = true;
            return reject(new Error(`no answer from STUN server ${from}`));
          }
          this.sendUdp(request, server);
          setTimeout(send, Math.min(250 * 2 ** (sent - 1), 1000)).unref();
        };
        send();
      });
    } finally {
      this.probes.delete(id);
    }
  }

  private onDatagram(data: Buffer, rinfo: RemoteInfo): void {
    this.stats.udpPacketsIn++;
    const known = this.byAddress.get(rinfo.address)?.get(rinfo.port);
    if (this.probes.size > 0 && !known && isStun(data) && stunType(data) === STUN_BINDING_SUCCESS) {
      const probe = this.probes.get(stunTransactionId(data).toString('hex'));
      const mapped = probe?.from === `${rinfo.address}:${rinfo.port}` ? mappedAddress(data) : undefined;
      if (probe && mapped) probe.resolve(mapped);
      return;
    }
    if (isStun(data) && stunType(data) === STUN_BINDING_REQUEST) {
      const session = this.checkFor(data, rinfo.address);
      if (!session) return;
      const remote: UdpRemote = { transport: 'udp', address: rinfo.address, port: rinfo.port };
      if (known !== session) this.learnAddress(session, remote);
      session.receive(data, remote);
      return;
    }
    if (!known) {
      this.drop('unknownAddress', rinfo.address);
      return;
    }
    known.receive(data, { transport: 'udp', address: rinfo.address, port: rinfo.port });
  }

  /** The session a Binding request is for, if it names a known ufrag and passes that session's integrity check. */
  private checkFor(data: Buffer, from: string): IceMuxSession | null {
    const ufrag = checkedUfrag(data);
    const session = ufrag === undefined ? undefined : this.byUfrag.get(ufrag);
    if (!session) {
      this.drop('unknownUfrag', from);
      return null;
    }
    if (!hasValidIntegrity(data, session.password)) {
      this.drop('badIntegrity', from);
      return null;
    }
    return session;
  }

  private learnAddress(session: IceMuxSession, remote: UdpRemote): void {
    const previous = this.byAddress.get(remote.address)?.get(remote.port);
    if (previous) {
      // The address moved to another session (a NAT binding reused): the old one forgets it.
      const list = this.addressesOf.get(previous);
      if (list) this.addressesOf.set(previous, list.filter((r) => r.address !== remote.address || r.port !== remote.port));
    }
    let ports = this.byAddress.get(remote.address);
    if (!ports) this.byAddress.set(remote.address, (ports = new Map()));
    ports.set(remote.port, session);
    const list = this.addressesOf.get(session) ?? [];
    list.push(remote);
    while (list.length > this.limits.maxAddressesPerSession) this.forgetAddress(list.shift()!, session);
    this.addressesOf.set(session, list);
  }

  private forgetAddress(remote: UdpRemote, session: IceMuxSession): void {
    const ports = this.byAddress.get(remote.address);
    if (ports?.get(remote.port) !== session) return;
    ports.delete(remote.port);
    if (ports.size === 0) this.byAddress.delete(remote.address);
  }

  private onTcpConnection(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    if (this.pendingTcp >= this.limits.maxPendingTcp) {
      this.drop('tcpOverflow', address);
      socket.destroy();
      return;
    }
    this.stats.tcpConnections++;
    this.pendingTcp++;
    const connection = new IceTcpConnection(socket, this.limits.maxTcpQueue, () => this.drop('tcpOverflow', address));
    const reader = new Rfc4571Reader(this.limits.maxTcpFrame);
    let session: IceMuxSession | null = null;
    let pending = true;
    const settle = (): void => {
      if (pending) this.pendingTcp--;
      pending = false;
    };
    const timer = setTimeout(() => {
      this.refusals.refused(`tcp-timeout:${address}`, 'WebRTC ICE-TCP connection closed: no valid check', { remote: address, afterMs: this.limits.tcpCheckTimeoutMs });
      socket.destroy();
    }, this.limits.tcpCheckTimeoutMs);
    timer.unref();
    const onFrame = (frame: Buffer): void => {
      if (isStun(frame) && stunType(frame) === STUN_BINDING_REQUEST) {
        const target = this.checkFor(frame, address);
        if (!target) return;
        if (session && target !== session) {
          // One connection carries one session's packets (RFC 6544 §7.1).
          this.drop('notACheck', address);
          return;
        }
        if (!session) {
          session = target;
          settle();
          clearTimeout(timer);
          let set = this.connectionsOf.get(session);
          if (!set) this.connectionsOf.set(session, (set = new Set()));
          set.add(connection);
        }
        session.receive(frame, connection.remote);
        return;
      }
      if (!session) {
        this.drop('notACheck', address);
        return;
      }
      session.receive(frame, connection.remote);
    };
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk, onFrame);
      } catch (err) {
        this.drop('tcpFraming', address);
        this.refusals.refused(`tcp-framing:${address}`, 'WebRTC ICE-TCP connection closed', { remote: address, error: err instanceof FrameTooLargeError ? err.message : String(err) }, 'warn');
        socket.destroy();
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      clearTimeout(timer);
      settle();
      if (session) {
        this.connectionsOf.get(session)?.delete(connection);
        session.tcpClosed(connection.remote);
      }
    });
  }

  private drop(reason: DropReason, from: string): void {
    this.stats.dropped[reason]++;
    this.refusals.refused(`${reason}:${from}`, 'WebRTC packet dropped', { reason, remote: from });
  }
}

/** One ICE-TCP connection: packets out are framed by RFC 4571 and dropped while the socket is backed up. */
export class IceTcpConnection {
  readonly remote: TcpRemote;

  constructor(
    private readonly socket: Socket,
    private readonly maxQueue: number,
    private readonly onOverflow: () => void,
  ) {
    this.remote = { transport: 'tcp', address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0, connection: this };
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  send(data: Buffer): void {
    if (this.socket.destroyed) return;
    if (this.socket.writableLength > this.maxQueue) {
      this.onOverflow();
      return;
    }
    this.socket.cork();
    this.socket.write(rfc4571Header(data.length));
    this.socket.write(data);
    process.nextTick(() => this.socket.uncork());
  }

  destroy(): void {
    this.socket.destroy();
  }
}
