/**
 * An address lookup for media sockets: every send goes to an address learnt from a packet or a
 * SETUP (an IP), so it is answered at once instead of through dns.lookup's next tick, one per packet
 * sent; names (a STUN server) still go through DNS.
 */
import { lookup } from 'node:dns';
import { isIP } from 'node:net';

export const literalFirst: typeof lookup = ((host: string, options: unknown, callback: (err: Error | null, address: string, family: number) => void) => {
  const family = isIP(host);
  if (family) return callback(null, host, family);
  lookup(host, options as never, callback as never);
}) as typeof lookup;
