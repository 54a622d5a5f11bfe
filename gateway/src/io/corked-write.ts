/**
 * Writes to a socket, corked until the end of the current tick: every unit a publisher's one TCP read
 * produced (often a video frame and audio frames together) reaches each reader in one writev
 * syscall instead of one per unit. Fan-out is bound by syscalls, so this matters.
 */
import type { Socket } from 'node:net';

function uncork(socket: Socket): void {
  socket.uncork();
}

export function corkedWrite(socket: Socket, bytes: Buffer): void {
  if (!socket.writableCorked) {
    socket.cork();
    process.nextTick(uncork, socket);
  }
  socket.write(bytes);
}
