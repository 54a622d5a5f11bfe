/**
 * A client that floods a WHEP/WHIP endpoint with SDP offers it will never follow up (no ICE), from a
 * process of its own — as a hostile client would be — so the gateway's process does only the
 * gateway's share of the work. Run as a script it prints one JSON line: every answer's status,
 * Retry-After and the first body of each status.
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface FloodResult {
  statuses: { [status: number]: number };
  retryAfter: { [status: number]: string | undefined };
  bodies: { [status: number]: string };
}

export interface FloodOptions {
  port: number;
  path: string;
  count: number;
  /** Local addresses to send from, used in turn (each is one client address to the gateway). */
  from: string[];
  direction: 'recvonly' | 'sendonly';
  /** Numbers the offers' ICE credentials so they differ from another flood's. */
  firstId?: number;
}

/** A browser-like offer (its own ICE credentials) that will never send a connectivity check. */
export function offer(n: number, direction: 'recvonly' | 'sendonly'): string {
  const ufrag = `f${n.toString(36).padStart(5, '0')}`;
  return [
    'v=0', `o=- ${n} 2 IN IP4 127.0.0.1`, 's=-', 't=0 0', 'a=group:BUNDLE 0 1',
    'm=video 9 UDP/TLS/RTP/SAVPF 102', 'c=IN IP4 0.0.0.0', 'a=mid:0', `a=${direction}`, 'a=rtcp-mux',
    'a=rtpmap:102 H264/90000', 'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
    `a=ice-ufrag:${ufrag}`, 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF',
    'a=setup:actpass',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'c=IN IP4 0.0.0.0', 'a=mid:1', `a=${direction}`, 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2',
    `a=ice-ufrag:${ufrag}`, 'a=ice-pwd:abcdefghijklmnopqrstuvwx', 'a=setup:actpass', '',
  ].join('\r\n');
}

/** Runs the flood in a child process; resolves with what the gateway answered. */
export function floodOffers(o: FloodOptions): Promise<FloodResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), JSON.stringify(o)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`offer flood exited ${code}: ${err}`));
      resolve(JSON.parse(out) as FloodResult);
    });
  });
}

async function main(o: FloodOptions): Promise<void> {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const result: FloodResult = { statuses: {}, retryAfter: {}, bodies: {} };
  const one = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: o.port, path: o.path, method: 'POST', localAddress: o.from[i % o.from.length], agent, headers: { 'Content-Type': 'application/sdp' } },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => {
            const s = res.statusCode ?? 0;
            result.statuses[s] = (result.statuses[s] ?? 0) + 1;
            result.retryAfter[s] ??= res.headers['retry-after'] as string | undefined;
            result.bodies[s] ??= body;
            resolve();
          });
        },
      );
      req.on('error', reject);
      req.end(offer((o.firstId ?? 0) + i, o.direction));
    });
  await Promise.all(Array.from({ length: o.count }, (_, i) => one(i)));
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(JSON.parse(process.argv[2]!) as FloodOptions).catch((err: unknown) => {
    process.stderr.write(String(err) + '\n');
    process.exit(1);
  });
}
