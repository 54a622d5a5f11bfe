/**
 * werift's ICE agent, moved onto livegate's shared ports. werift keeps what it does well — answering
 * checks as ICE-lite, nominating the pair, DTLS, SRTP, RTCP — but never opens a socket: its gathering
 * is replaced by candidates on the IceMux's UDP and TCP ports, and its "protocols" (werift's name for
 * a socket with a STUN layer) send and receive through the mux. This file is the only place that
 * knows werift's ICE internals (checked against werift 0.25.2).
 */
import { createRequire } from 'node:module';
import type { Candidate as WeriftCandidate } from 'werift';
import type { RTCPeerConnection } from '../werift.js';
import type { IceMux, IceMuxSession, IceRemote, TcpRemote } from './ice-mux.js';
import { SRTP_AES128_CM_HMAC_SHA1_80 } from '../../../format/srtp.js';

const require = createRequire(import.meta.url);
const ice = require('werift') as {
  StunProtocol: new () => WeriftProtocol;
  Candidate: new (
    foundation: string,
    component: number,
    transport: string,
    priority: number,
    host: string,
    port: number,
    type: string,
    relatedAddress: string | undefined,
    relatedPort: number | undefined,
    tcptype: string | undefined,
    generation: number | undefined,
    ufrag: string | undefined,
  ) => WeriftCandidate;
  candidateFoundation(type: string, transport: string, address: string): string;
  candidatePriority(type: string, options: { transport: string; tcptype?: string }): number;
  Event: new () => { execute(...args: unknown[]): void; complete(): void };
};

type Address = [string, number];

/** What werift's Connection reads and writes on a transport. */
interface WeriftTransport {
  readonly type: string;
  readonly closed: boolean;
  readonly address: { address: string; port: number };
  readonly addressFamily: number;
  onData: (data: Buffer, addr: Address) => void;
  send(data: Buffer, addr: Address): Promise<void>;
  /** livegate's: the same send without a promise (the fast RTP path). */
  sendNow?(data: Buffer, addr: Address): void;
  /** livegate's: the shared UDP socket's descriptor (the native send path), null on TCP. */
  udpFd?(): number | null;
  close(): Promise<void>;
}

interface WeriftProtocol {
  transport: WeriftTransport;
  localCandidate?: WeriftCandidate;
  localIp?: string;
  onConnectionClosed?: { execute(addr: Address): void; complete(): void };
  datagramReceived(data: Buffer, addr: Address): void;
  close(): Promise<void>;
}

interface WeriftConnection {
  localUsername: string;
  localPassword: string;
  generation: number;
  protocols: WeriftProtocol[];
  nominated?: { protocol: WeriftProtocol; remoteAddr: Address };
  ensureProtocol(protocol: WeriftProtocol): void;
  appendLocalCandidate(candidate: WeriftCandidate): void;
  getCandidatePromises(addresses: string[], timeout?: number): Promise<unknown>[];
}

interface WeriftDtlsTransport {
  iceTransport: { iceGather: { connection: WeriftConnection } };
}

/** An address announced in candidates: the host part, and the ports a peer reaches the mux at. */
export interface AnnouncedAddress {
  address: string;
  udpPort: number;
  /** Absent: no ICE-TCP candidate for this address. */
  tcpPort?: number;
}

/** Where a WebRTC session's peer is reached now (after nomination), for sending without werift. */
export interface IcePath {
  readonly remote: IceRemote;
}

/**
 * Makes every ICE transport `pc` creates gather on `mux` instead of opening sockets: candidates are
 * `announce()` at gathering time, checks arrive through the mux.
 */
export function useIceMux(pc: RTCPeerConnection, mux: IceMux, announce: () => AnnouncedAddress[], options: { dtlsServer?: boolean } = {}): void {
  const manager = (pc as unknown as { secureManager: { createTransport(options?: object): WeriftDtlsTransport } }).secureManager;
  const create = manager.createTransport.bind(manager);
  manager.createTransport = (createOptions?: object) => {
    const dtls = create(createOptions);
    preferCmProfile(dtls);
    // As the DTLS server (a=setup:passive, RFC 5763 §5) livegate picks the SRTP profile; as the
    // client the browser does, and Chromium picks AEAD_AES_128_GCM.
    if (options.dtlsServer) (dtls as unknown as { role: string }).role = 'server';
    const connection = dtls.iceTransport.iceGather.connection;
    connection.getCandidatePromises = () => gatherOnMux(connection, mux, announce());
    return dtls;
  };
}

function gatherOnMux(connection: WeriftConnection, mux: IceMux, addresses: AnnouncedAddress[]): Promise<unknown>[] {
  const session = new MuxedIceSession(connection, mux);
  for (const a of addresses) {
    const udp = candidate(connection, a.address, a.udpPort, 'udp');
    if (!session.udp.localCandidate) session.udp.localCandidate = udp;
    connection.appendLocalCandidate(udp);
  }
  for (const a of addresses) {
    if (a.tcpPort === undefined) continue;
    const tcp = candidate(connection, a.address, a.tcpPort, 'tcp');
    if (!session.tcp.localCandidate) session.tcp.localCandidate = tcp;
    connection.appendLocalCandidate(tcp);
  }
  return [];
}

function candidate(connection: WeriftConnection, address: string, port: number, transport: 'udp' | 'tcp'): WeriftCandidate {
  const tcptype = transport === 'tcp' ? 'passive' : undefined;
  return new ice.Candidate(
    ice.candidateFoundation('host', transport, address),
    1,
    transport,
    ice.candidatePriority('host', { transport, tcptype }),
    address,
    port,
    'host',
    undefined,
    undefined,
    tcptype,
    connection.generation,
    connection.localUsername,
  );
}

const addressKey = (address: string, port: number): string => `${address}:${port}`;

/** One werift ICE agent as a session of the mux: a UDP protocol and a TCP protocol, neither with a socket. */
class MuxedIceSession implements IceMuxSession {
  readonly ufrag: string;
  readonly password: string;
  readonly udp: WeriftProtocol;
  readonly tcp: WeriftProtocol;
  private readonly tcpConnections = new Map<string, TcpRemote>();
  private unregister: (() => void) | null;

  constructor(connection: WeriftConnection, private readonly mux: IceMux) {
    this.ufrag = connection.localUsername;
    this.password = connection.localPassword;
    this.udp = this.protocol('udp', {
      send: (data, addr) => mux.sendUdp(data, { address: addr[0], port: addr[1] }),
    });
    this.tcp = this.protocol('tcp', {
      send: (data, addr) => this.tcpConnections.get(addressKey(addr[0], addr[1]))?.connection.send(data),
    });
    this.tcp.onConnectionClosed = new ice.Event() as unknown as WeriftProtocol['onConnectionClosed'];
    for (const p of [this.udp, this.tcp]) {
      connection.ensureProtocol(p);
      connection.protocols.push(p);
    }
    this.unregister = mux.register(this);
  }

  private protocol(type: 'udp' | 'tcp', io: { send(data: Buffer, addr: Address): void }): WeriftProtocol {
    const protocol = new ice.StunProtocol();
    let closed = false;
    const ports = this.mux.ports;
    protocol.transport = {
      type,
      get closed() {
        return closed;
      },
      address: { address: '0.0.0.0', port: type === 'udp' ? ports.udp : (ports.tcp ?? 0) },
      addressFamily: 4,
      onData: () => {},
      send: async (data, addr) => {
        if (!closed) io.send(data, addr);
      },
      sendNow: (data, addr) => {
        if (!closed) io.send(data, addr);
      },
      udpFd: () => (type === 'udp' && !closed ? this.mux.udpFd() : null),
      close: async () => {
        closed = true;
        this.close();
      },
    };
    return protocol;
  }

  receive(data: Buffer, remote: IceRemote): void {
    if (remote.transport === 'udp') {
      this.udp.datagramReceived(data, [remote.address, remote.port]);
      return;
    }
    const key = addressKey(remote.address, remote.port);
    if (!this.tcpConnections.has(key)) this.tcpConnections.set(key, remote);
    this.tcp.datagramReceived(data, [remote.address, remote.port]);
  }

  tcpClosed(remote: TcpRemote): void {
    const key = addressKey(remote.address, remote.port);
    if (this.tcpConnections.get(key)?.connection !== remote.connection) return;
    this.tcpConnections.delete(key);
    this.tcp.onConnectionClosed?.execute([remote.address, remote.port]);
  }

  private close(): void {
    this.unregister?.();
    this.unregister = null;
    for (const r of this.tcpConnections.values()) r.connection.destroy();
    this.tcpConnections.clear();
  }
}

/** The selected ICE path of `pc`: its transport and the peer's address, once a pair is nominated. */
export function selectedPath(pc: RTCPeerConnection): { transport: 'udp' | 'tcp'; address: string; port: number } | null {
  const transports = (pc as unknown as { iceTransports: { connection?: WeriftConnection }[] }).iceTransports;
  const nominated = transports[0]?.connection?.nominated;
  if (!nominated) return null;
  const transport = nominated.protocol.localCandidate?.transport === 'tcp' ? 'tcp' : 'udp';
  return { transport, address: nominated.remoteAddr[0], port: nominated.remoteAddr[1] };
}

/**
 * The selected ICE path of one peer connection, as the send path reads it for every packet: werift's
 * ICE connection is looked up once (its `iceTransports` getter builds arrays on every call), the
 * nominated pair on each use.
 */
export class SelectedPath {
  private constructor(private readonly connection: WeriftConnection) {}

  /** `pc`'s path, or null before werift has an ICE connection. */
  static of(pc: RTCPeerConnection): SelectedPath | null {
    const connection = (pc as unknown as { iceTransports: { connection?: WeriftConnection }[] }).iceTransports[0]?.connection;
    return connection ? new SelectedPath(connection) : null;
  }

  /** The nominated pair (a new object when the path changes), or undefined before one is. */
  pair(): object | undefined {
    return this.connection.nominated;
  }

  /**
   * For the native send path: the shared UDP socket's descriptor and the peer's address when the
   * nominated pair `pair` is UDP on the shared port and open; null otherwise (TCP, closed).
   */
  udp(pair: object): { fd: number; address: string; port: number } | null {
    const p = pair as NonNullable<WeriftConnection['nominated']>;
    const fd = p.protocol.transport?.udpFd?.();
    return fd === null || fd === undefined ? null : { fd, address: p.remoteAddr[0], port: p.remoteAddr[1] };
  }

  /** The descriptor to send `pair`'s packets on, checked for every packet (-1: closed, or not UDP). */
  fd(pair: object): number {
    return (pair as NonNullable<WeriftConnection['nominated']>).protocol.transport?.udpFd?.() ?? -1;
  }

  /** Sends `data` on the nominated pair through the shared ports; false when there is none (yet). */
  send(data: Buffer): boolean {
    const nominated = this.connection.nominated;
    const transport = nominated?.protocol.transport;
    if (!nominated || !transport?.sendNow || transport.closed) return false;
    transport.sendNow(data, nominated.remoteAddr);
    return true;
  }
}

/**
 * Asks werift to prefer AES_CM_128_HMAC_SHA1_80 in the DTLS handshake of `dtls` (a transport it just
 * made): its default prefers AEAD_AES_128_GCM, which costs a cipher object per packet, and only the
 * CM profile has livegate's fast send path (fast-rtp.ts). A copy: werift shares the default list.
 */
function preferCmProfile(dtls: object): void {
  const d = dtls as { srtpProfiles: number[] };
  d.srtpProfiles = [SRTP_AES128_CM_HMAC_SHA1_80, ...d.srtpProfiles.filter((p) => p !== SRTP_AES128_CM_HMAC_SHA1_80)];
}
