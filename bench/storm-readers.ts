/** A child process of bench/admission.ts: N HTTP-FLV readers spread over a window; reports when each got its first bytes. */
import { Agent, get } from 'node:http';

const [url, nText, windowText] = process.argv.slice(2);
const n = Number(nText);
const windowMs = Number(windowText);
const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
const waits: number[] = [];
let failed = 0;
let done = 0;
const t0 = performance.now();
let last = 0;
for (let i = 0; i < n; i++) {
  setTimeout(() => {
    const asked = performance.now();
    get(url!, { agent }, (res) => {
      if (res.statusCode !== 200) {
        failed++;
        finish();
        return;
      }
      res.once('data', () => {
        waits.push(performance.now() - asked);
        last = Math.max(last, performance.now() - t0);
        finish();
      });
    }).on('error', () => {
      failed++;
      finish();
    });
  }, (i * windowMs) / n);
}
function finish(): void {
  if (++done < n) return;
  waits.sort((a, b) => a - b);
  const q = (p: number) => Math.round(waits[Math.min(waits.length - 1, Math.floor(p * waits.length))] ?? NaN);
  process.send!({ readers: n, allPlayingMs: Math.round(last), p50Ms: q(0.5), p99Ms: q(0.99), failed });
  setTimeout(() => process.exit(0), 100);
}
