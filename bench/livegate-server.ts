/**
 * livegate for the benchmarks: the real Gateway in its own process, with the latency probe on.
 * Talks to the parent over IPC: sends { ready, rtmp, http, rtsp }; answers 'latency-reset' and 'latency'.
 * BENCH_CONFIG (JSON) is merged into the configuration (e.g. `paths` for a pulling gateway).
 */
import { parseConfig } from '../gateway/src/config/load.js';
import { setLatencyProbe } from '../gateway/src/core/latency-probe.js';
import { createLogger } from '../gateway/src/core/log.js';
import { Gateway } from '../gateway/src/server.js';

const CAP = 1 << 22;
const samples = new Float64Array(CAP);
let count = 0;
setLatencyProbe({
  record(_protocol, ms) {
    samples[count++ & (CAP - 1)] = ms;
  },
});

const extra = JSON.parse(process.env.BENCH_CONFIG ?? '{}') as object;
const config = parseConfig({ host: '127.0.0.1', logLevel: 'warn', rtmp: { port: 0 }, http: { port: 0 }, srt: { port: 0 }, rtsp: { port: 0, udpRtpPort: 0, udpRtcpPort: 0 }, webrtc: { udpPort: 0, tcpPort: 0 }, ...extra });
const gw = await Gateway.start(config, { log: createLogger('warn') });
process.send!({ ready: true, rtmp: gw.ports.rtmp, http: gw.ports.http, rtsp: gw.ports.rtsp });

process.on('message', (msg: string) => {
  if (msg === 'latency-reset') count = 0;
  else if (msg === 'latency') {
    const n = Math.min(count, CAP);
    const sorted = Array.from(samples.subarray(0, n)).sort((a, b) => a - b);
    const at = (p: number): number => sorted[Math.min(n - 1, Math.floor(p * n))] ?? NaN;
    process.send!({ latency: { writes: count, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[n - 1] ?? NaN } });
  }
});
process.on('disconnect', () => void gw.close().then(() => process.exit(0)));
