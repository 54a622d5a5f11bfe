/**
 * The RTSP server (RFC 2326 as ffmpeg, GStreamer, VLC and cameras speak it): the TCP listener, the
 * shared UDP pair, the table of sessions and their timeout. Each connection's work is in
 * rtsp-connection.ts; media goes to and from the core through rtp-receiver.ts and from-stream.ts.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import type { Logger } from '../../core/log.js';
import type { StreamRegistry } from '../../core/stream-registry.js';
import { listen } from '../../net/listen.js';
import { RtspConnection } from './rtsp-connection.js';
import type { RtspSession } from './rtsp-session.js';
import { RtspUdpPair } from './udp-pair.js';

export interface RtspServerOptions {
  /** UDP transport on the shared pair; false: TCP (interleaved) only. */
  udp: boolean;
  udpRtpPort: number;
  udpRtcpPort: number;
  /** A UDP session with no request, RTCP or RTP for this long is closed. */
  sessionTimeoutMs: number;
  /** A connection with no session that completes no request for this long is closed. */
  requestTimeoutMs: number;
  maxConnections: number;
  maxSessions: number;
  /** How long a gap in a UDP publisher's packets waits for the missing ones. */
  jitterBufferMs: number;
  /** The Basic realm of 401 answers. */
  realm: string;
  /** The address written in the SDP origin line. */
  announceHost: string;
}

/** What a connection needs of its server. */
export interface RtspServerContext {
  readonly registry: StreamRegistry;
  readonly log: Logger;
  readonly options: RtspServerOptions;
  readonly udp: RtspUdpPair | null;
  sessionExists(id: string): boolean;
  sessionCount(): number;
  addSession(session: RtspSession, conn: RtspConnection): void;
  removeSession(session: RtspSession): void;
}

/** An RTSP session as the API shows it. */
export interface RtspSessionView {
  id: string;
  connection: string;
  remoteAddress: string;
  path: string;
  mode: 'publish' | 'play';
  state: string;
  transport: 'tcp' | 'udp' | null;
  tracks: { codec: string; packetsReceived?: number; packetsLost?: number; jitterMs?: number; bytesReceived?: number }[];
  unitsSent?: number;
  receiverReports?: number;
  reportedLost?: number;
}

const TICK_MS = 1000;

export class RtspServer implements RtspServerContext {
  private readonly server: Server;
  /** RTSPS: the same protocol over TLS (null without a certificate). */
  private readonly secureServer: TlsServer | null;
  private readonly connections = new Set<RtspConnection>();
  private readonly sessionTable = new Map<string, { session: RtspSession; conn: RtspConnection }>();
  readonly udp: RtspUdpPair | null;
  private readonly timer: NodeJS.Timeout;
  /** Connections refused because maxConnections were open. */
  refusedConnections = 0;

  constructor(
    readonly registry: StreamRegistry,
    readonly log: Logger,
    readonly options: RtspServerOptions,
    tls?: SecureContextOptions,
  ) {
    this.udp = options.udp ? new RtspUdpPair(log) : null;
    const accept = (socket: Socket): void => {
      if (this.connections.size >= options.maxConnections) {
        this.refusedConnections++;
        socket.destroy();
        return;
      }
      const conn = new RtspConnection(socket, this, (c) => this.connections.delete(c));
      this.connections.add(conn);
    };
    this.server = createServer({ noDelay: true }, accept);
    this.server.on('error', (err) => log.error('rtsp server error', { reason: err.message }));
    this.secureServer = tls ? createTlsServer({ ...tls, handshakeTimeout: options.requestTimeoutMs }, accept) : null;
    this.secureServer?.on('tlsClientError', (err) => log.debug('rtsps handshake failed', { reason: err.message }));
    this.timer = setInterval(() => this.expire(), TICK_MS);
    this.timer.unref();
  }

  async listen(port: number, host: string): Promise<number> {
    const bound = await listen(this.server, port, host);
    await this.udp?.listen(this.options.udpRtpPort, this.options.udpRtcpPort, host);
    return bound;
  }

  /** Starts RTSPS on `port` (when a certificate was given). */
  listenSecure(port: number, host: string): Promise<number> {
    if (!this.secureServer) throw new Error('no TLS configured');
    return listen(this.secureServer, port, host);
  }

  get hasTls(): boolean {
    return this.secureServer !== null;
  }

  /** A new certificate for new RTSPS connections (SIGHUP). */
  reloadTls(tls: SecureContextOptions): void {
    this.secureServer?.setSecureContext(tls);
  }

  get udpPorts(): { rtp: number; rtcp: number } | null {
    return this.udp ? { ...this.udp.ports } : null;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  sessionExists(id: string): boolean {
    return this.sessionTable.has(id);
  }

  sessionCount(): number {
    return this.sessionTable.size;
  }

  addSession(session: RtspSession, conn: RtspConnection): void {
    this.sessionTable.set(session.id, { session, conn });
  }

  removeSession(session: RtspSession): void {
    this.sessionTable.delete(session.id);
  }

  sessions(): RtspSessionView[] {
    return [...this.sessionTable.values()].map(({ session: s, conn }) => ({
      id: s.id,
      connection: conn.id,
      remoteAddress: conn.remote,
      path: s.path,
      mode: s.mode,
      state: s.state,
      transport: s.transport,
      tracks:
        s.mode === 'publish'
          ? s.recorded.filter((r) => r).map((r) => ({ codec: r!.receiver.media.codec, packetsReceived: r!.receiver.packets, packetsLost: r!.receiver.lost, jitterMs: Math.round(r!.receiver.jitterMs * 100) / 100, bytesReceived: r!.receiver.bytes }))
          : s.played.map((p) => ({ codec: p.out.codec })),
      ...(s.mode === 'play' ? { unitsSent: s.reader?.unitsSent ?? 0, receiverReports: s.receiverReports, reportedLost: s.reportedLost } : {}),
    }));
  }

  /** UDP sessions whose peer has gone quiet are closed (TCP ones end with their connection). */
  private expire(): void {
    const now = performance.now();
    for (const { session, conn } of [...this.sessionTable.values()]) {
      if (session.transport === 'udp' && now - session.lastSeen > this.options.sessionTimeoutMs) {
        conn.endSession(session, `session timed out (nothing from the client for ${this.options.sessionTimeoutMs} ms)`);
      }
    }
  }

  close(): Promise<void> {
    clearInterval(this.timer);
    for (const c of [...this.connections]) c.close('server shutting down', 'shutdown');
    this.udp?.close();
    this.secureServer?.close();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
