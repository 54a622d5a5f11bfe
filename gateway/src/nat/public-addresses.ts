/**
 * The addresses livegate puts in its WebRTC candidates: the machine's own (or `webrtc.interface`),
 * plus what the operator says the world reaches it at (`webrtc.publicAddresses`): an IP, an IP:port
 * (a port-forwarded NAT whose public port differs from the local one), or a host name (resolved at
 * start and again on a timer, for dynamic DNS). Optionally the public IP is asked of a STUN server at
 * start (`webrtc.stunDetect`); nothing is sent anywhere unless that is configured.
 */
import { lookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Logger } from '../core/log.js';

export interface PublicAddressEntry {
  /** An IPv4 address or a host name. */
  host: string;
  /** The public port, when it differs from the local one. */
  port?: number;
}

export interface Announced {
  address: string;
  udpPort: number;
  /** Absent when ICE-TCP is off. */
  tcpPort?: number;
  /** Where it came from: the interface, `publicAddresses`, `additionalHosts` or STUN. */
  source: 'interface' | 'public' | 'stun';
}

/** Parses `IP`, `IP:port`, `host` or `host:port`; throws on anything else. */
export function parsePublicAddress(text: string): PublicAddressEntry {
  const m = /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not IP, IP:port, host or host:port`);
  const host = m[1]!;
  if (!isIPv4(host) && !/^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(host)) {
    throw new Error(`"${host}" is neither an IPv4 address nor a host name`);
  }
  if (m[2] === undefined) return { host };
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`port ${port} in "${text}" is out of range`);
  return { host, port };
}

/** Parses `stun:host:port` (port 3478 when absent). */
export function parseStunUrl(url: string): { host: string; port: number } {
  const m = /^stun:([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(url.trim());
  if (!m) throw new Error(`"${url}" is not stun:host[:port]`);
  return { host: m[1]!, port: m[2] ? Number(m[2]) : 3478 };
}

/** The machine's non-loopback IPv4 addresses. */
export function interfaceAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) out.push(a.address);
  }
  return out;
}

export interface PublicAddressesOptions {
  /** Where the media ports are bound: a specific address is the only local one announced. */
  bindHost: string;
  /** `webrtc.interface`: the one local address announced, when set. */
  interface?: string;
  /** `webrtc.additionalHosts`: extra IPs announced with the local ports. */
  additionalHosts: string[];
  publicAddresses: PublicAddressEntry[];
  stunDetect?: string;
  /** Local ports of the shared UDP and TCP sockets. */
  udpPort: number;
  tcpPort: number | null;
  /** How often host names are resolved again (ms). */
  refreshMs: number;
  log: Logger;
  /** Asks a STUN server, from the shared UDP socket, what address it sees (for stunDetect). */
  probe?: (server: { address: string; port: number }) => Promise<{ address: string; port: number }>;
}

export class PublicAddresses {
  private resolved = new Map<string, string>();
  private detected: { address: string; port: number } | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: PublicAddressesOptions) {}

  /** Resolves host names and runs STUN detection once; then re-resolves on a timer. Never throws. */
  async start(): Promise<void> {
    await this.resolveNames();
    if (this.options.stunDetect && this.options.probe) await this.detect(this.options.stunDetect, this.options.probe);
    if (this.options.publicAddresses.some((e) => !isIPv4(e.host))) {
      this.timer = setInterval(() => void this.resolveNames(), this.options.refreshMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** What candidates announce now, local addresses first; one entry per address. */
  current(): Announced[] {
    const { udpPort, tcpPort } = this.options;
    const out: Announced[] = [];
    const add = (address: string, source: Announced['source'], publicUdp = udpPort, publicTcp = tcpPort): void => {
      if (out.some((a) => a.address === address && a.udpPort === publicUdp)) return;
      out.push({ address, udpPort: publicUdp, ...(publicTcp !== null ? { tcpPort: publicTcp } : {}), source });
    };
    const bound = this.options.bindHost;
    // webrtc.interface is announced as given; a specific bind address unless it is loopback (never
    // reachable from elsewhere: announce it with additionalHosts for a same-machine setup).
    const locals = this.options.interface
      ? [this.options.interface]
      : bound === '0.0.0.0'
        ? interfaceAddresses()
        : bound.startsWith('127.')
          ? []
          : [bound];
    for (const a of locals) add(a, 'interface');
    for (const a of this.options.additionalHosts) add(a, 'public');
    for (const e of this.options.publicAddresses) {
      const ip = isIPv4(e.host) ? e.host : this.resolved.get(e.host);
      // A forwarded port is taken to be forwarded for both UDP and TCP.
      if (ip) add(ip, 'public', e.port ?? udpPort, tcpPort === null ? null : (e.port ?? tcpPort));
    }
    // STUN tells the UDP mapping only; TCP is taken to be forwarded with the local port number.
    if (this.detected) add(this.detected.address, 'stun', this.detected.port, tcpPort);
    return out;
  }

  private async resolveNames(): Promise<void> {
    for (const e of this.options.publicAddresses) {
      if (isIPv4(e.host)) continue;
      try {
        const { address } = await lookup(e.host, { family: 4 });
        if (this.resolved.get(e.host) !== address) this.options.log.info('WebRTC public address resolved', { host: e.host, address });
        this.resolved.set(e.host, address);
      } catch (err) {
        // The last good answer stays in use.
        this.options.log.warn('WebRTC public address could not be resolved', { host: e.host, error: (err as Error).message });
      }
    }
  }

  private async detect(url: string, probe: NonNullable<PublicAddressesOptions['probe']>): Promise<void> {
    try {
      const server = parseStunUrl(url);
      const address = isIPv4(server.host) ? server.host : (await lookup(server.host, { family: 4 })).address;
      this.detected = await probe({ address, port: server.port });
      this.options.log.info('WebRTC public address detected by STUN', { server: url, ...this.detected });
    } catch (err) {
      this.options.log.warn('WebRTC public address detection failed', { server: url, error: (err as Error).message });
    }
  }
}
