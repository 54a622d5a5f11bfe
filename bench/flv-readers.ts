/**
 * A separate process holding N HTTP-FLV readers of one URL. It reads and discards; every second it
 * reports (on stdout, JSON) how many readers are connected and the bytes they received.
 * Usage: tsx bench/flv-readers.ts URL N
 */
import { Agent, request } from 'node:http';

const [url, nArg] = process.argv.slice(2);
const n = Number(nArg);
if (!url || !Number.isInteger(n)) throw new Error('usage: flv-readers.ts URL N');
const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
let bytes = 0;
let connected = 0;
let failed = 0;

function open(): void {
  const req = request(url!, { agent }, (res) => {
    if (res.statusCode !== 200) {
      failed++;
      res.resume();
      return;
    }
    connected++;
    res.on('data', (d: Buffer) => (bytes += d.length));
    res.on('close', () => connected--);
  });
  req.on('error', () => failed++);
  req.end();
}

for (let i = 0; i < n; i++) {
  open();
  if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20));
}
setInterval(() => {
  process.stdout.write(JSON.stringify({ connected, failed, bytes }) + '\n');
}, 1000);
