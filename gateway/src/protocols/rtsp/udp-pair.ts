/**
 * The shared RTP/RTCP UDP port pair (default 8000/8001) of every RTSP session that chose UDP.
 * Incoming datagrams are routed by their source address (the client_port a session's SETUP named,
 * at the RTSP connection's IP); anything from an unknown address is dropped and counted. The same
 * sockets send to players, so their packets come from the server_port the SETUP answer announced.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '../../core/log.js';
import { literalFirst } from '../../net/literal-lookup.js';

export type UdpHandler = (packet: Buffer, now: number) => void;
export type UdpKind = 'rtp' | 'rtcp';

/** Socket buffers large enough for a few frames of many streams. */
const SOCKET_BUFFER = 4 * 1024 * 1024;

export class RtspUdpPair {
  private readonly sockets: Record<UdpKind, Socket>;
  private readonly routes = new Map<string, UdpHandler>();
  /** Datagrams from addresses no session set up. */
  dropped = 0;
  ports: Record<UdpKind, number> = { rtp: 0, rtcp: 0 };

  constructor(private readonly log: Logger) {
    this.sockets = { rtp: this.open('rtp'), rtcp: this.open('rtcp') };
  }

  private open(kind: UdpKind): Socket {
    const s = createSocket({ type: 'udp4', recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER, lookup: literalFirst });
    s.on('message', (msg, rinfo) => {
      const handler = this.routes.get(`${kind}|${rinfo.address}|${rinfo.port}`);
      if (!handler) {
        this.dropped++;
        return;
      }
      handler(msg, performance.now());
    });
    s.on('error', (err) => this.log.warn('rtsp udp socket error', { kind, reason: err.message }));
    return s;
  }

  async listen(rtpPort: number, rtcpPort: number, host: string): Promise<void> {
    const bind = (s: Socket, port: number): Promise<number> =>
      new Promise((resolve, reject) => {
        s.once('error', reject);
        s.bind(port, host, () => {
          s.off('error', reject);
          resolve(s.address().port);
        });
      });
    this.ports.rtp = await bind(this.sockets.rtp, rtpPort);
    this.ports.rtcp = await bind(this.sockets.rtcp, rtcpPort);
  }

  /** Routes datagrams from ip:port on the `kind` socket to `handler`; returns the way to undo it. */
  route(kind: UdpKind, ip: string, port: number, handler: UdpHandler): () => void {
    const key = `${kind}|${ip}|${port}`;
    this.routes.set(key, handler);
    return () => {
      if (this.routes.get(key) === handler) this.routes.delete(key);
    };
  }

  /** Whether a route exists (another session already uses this client address). */
  routed(kind: UdpKind, ip: string, port: number): boolean {
    return this.routes.has(`${kind}|${ip}|${port}`);
  }

  send(kind: UdpKind, packet: Buffer, ip: string, port: number): void {
    this.sockets[kind].send(packet, port, ip);
  }

  /** Bytes queued in the RTP socket's send queue (back-pressure for UDP players). */
  backlog(): number {
    return this.sockets.rtp.getSendQueueSize();
  }

  close(): void {
    for (const s of Object.values(this.sockets)) s.close();
  }
}
