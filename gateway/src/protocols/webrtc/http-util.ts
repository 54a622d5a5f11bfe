/** HTTP pieces shared by the WHIP and WHEP endpoints: problem responses, bounded bodies, tokens. */
import type { IncomingMessage } from 'node:http';
import { LimitError } from '../../core/errors.js';

/** An RFC 9457 problem response (the one error shape of every HTTP route). */
export { sendProblem as problem } from '../../http/problem.js';

/** Bytes of an oversized body read and thrown away so that the client can still get its 413. */
const DRAIN_LIMIT = 1024 * 1024;

/** The request body as text, at most `limit` bytes (LimitError beyond). */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > DRAIN_LIMIT) req.destroy();
      else if (size <= limit) parts.push(d);
    });
    req.on('end', () => {
      if (size > limit) reject(new LimitError(`request body of ${size} bytes is over ${limit}`));
      else resolve(Buffer.concat(parts).toString('utf8'));
    });
    req.on('error', reject);
  });
}

/** The media type of a request, lower-cased, without parameters. */
export function contentType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The token of `Authorization: Bearer <token>` (RFC 6750), kept for authentication. */
export function bearerToken(req: IncomingMessage): string | undefined {
  return /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
}
