/**
 * The gateway's WebRTC media ports: one UDP port (and one ICE-TCP port) for every session, and the
 * addresses its candidates announce (local interfaces, `publicAddresses`, STUN detection).
 */
import type { Logger } from '../../core/log.js';
import { parsePublicAddress, PublicAddresses, type Announced } from '../../nat/public-addresses.js';
import type { WebrtcNetwork } from './peer-connection.js';
import { IceMux } from './transport/ice-mux.js';

export interface WebrtcPortsConfig {
  udpPort: number;
  tcpPort: number | false;
  interface?: string | undefined;
  additionalHosts: string[];
  publicAddresses: string[];
  publicAddressRefreshMs: number;
  stunDetect?: string | undefined;
}

export class WebrtcPorts implements WebrtcNetwork {
  readonly mux: IceMux;
  private addresses: PublicAddresses | null = null;

  constructor(
    private readonly config: WebrtcPortsConfig,
    private readonly host: string,
    private readonly log: Logger,
  ) {
    this.mux = new IceMux({
      host: config.interface ?? host,
      udpPort: config.udpPort,
      tcpPort: config.tcpPort === false ? null : config.tcpPort,
      log: log.child({ protocol: 'webrtc' }),
    });
  }

  /** Binds the ports, then works out the announced addresses (DNS, STUN when configured). */
  async start(): Promise<{ udp: number; tcp: number | null }> {
    const ports = await this.mux.start();
    this.addresses = new PublicAddresses({
      bindHost: this.config.interface ?? this.host,
      ...(this.config.interface ? { interface: this.config.interface } : {}),
      additionalHosts: this.config.additionalHosts,
      publicAddresses: this.config.publicAddresses.map(parsePublicAddress),
      ...(this.config.stunDetect ? { stunDetect: this.config.stunDetect } : {}),
      udpPort: ports.udp,
      tcpPort: ports.tcp,
      refreshMs: this.config.publicAddressRefreshMs,
      log: this.log,
      probe: (server) => this.mux.probe(server),
    });
    await this.addresses.start();
    const announced = this.announced();
    if (announced.length === 0) {
      this.log.warn('WebRTC announces no address: set webrtc.publicAddresses (or webrtc.interface) so clients can reach the media port');
    }
    return ports;
  }

  /** What candidates announce now. */
  announced(): Announced[] {
    return this.addresses?.current() ?? [];
  }

  announce(): Announced[] {
    return this.announced();
  }

  async close(): Promise<void> {
    this.addresses?.stop();
    await this.mux.close();
  }
}
