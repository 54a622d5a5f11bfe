/** Starts a TCP/HTTP server listening; resolves with the bound port (useful with port 0). */
import type { Server } from 'node:net';

/**
 * Connections the kernel queues before Node accepts them (capped by net.core.somaxconn). Node's 511
 * overflows when thousands of players connect at once (an LL-HLS crowd waiting for the same part):
 * a dropped SYN is retried only a second later.
 */
const BACKLOG = 4096;

export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ port, host, backlog: BACKLOG }, () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}
