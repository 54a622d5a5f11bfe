/**
 * livegate for bench/whep-fanout.ts: the Gateway in its own process with the latency probe on.
 * IPC: sends { rtmp, http }; answers 'reset' and 'report' (latency percentiles per probe name,
 * RTP packets sent by all WHEP viewers, transcoder CPU).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseConfig } from '../gateway/src/config/load.js';
import { setLatencyProbe } from '../gateway/src/core/latency-probe.js';
import { createLogger } from '../gateway/src/core/log.js';
import { Gateway } from '../gateway/src/server.js';
import { OpusFeed } from '../gateway/src/transcode/opus-feed.js';

const samples = new Map<string, number[]>();
setLatencyProbe({
  record(name, ms) {
    let list = samples.get(name);
    if (!list) samples.set(name, (list = []));
    if (list.length < 2_000_000) list.push(ms);
  },
});
const config = parseConfig({
  host: '127.0.0.1',
  logLevel: 'warn',
  rtmp: { port: 0 },
  http: { port: 0 },
  rtsp: { port: 0, udpRtpPort: 0, udpRtcpPort: 0 },
  webrtc: { additionalHosts: ['127.0.0.1'], udpPort: 0, tcpPort: 0, fastRtp: process.env.BENCH_WHEP_WERIFT !== '1' },
});
const gw = await Gateway.start(config, { log: createLogger('warn') });
process.send!({ rtmp: gw.ports.rtmp, http: gw.ports.http, rtsp: gw.ports.rtsp, webrtcUdp: gw.ports.webrtcUdp });

/** CPU ticks (user + system) of each thread of this process, by thread name (Linux /proc). */
function threadTicks(): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = tid === String(process.pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      byName.set(name, (byName.get(name) ?? 0) + Number(f[11]) + Number(f[12]));
    } catch {
      // the thread ended
    }
  }
  return byName;
}

let base = { packets: 0, transcodeMs: 0, at: performance.now() };
let baseThreads = threadTicks();
// Packets sent per session, kept after the session ends: a sum over the live sessions alone falls
// when viewers drop out (what made this bench print negative packets/s at 100 viewers).
const sentBy = new Map<string, number>();
const sample = () => {
  for (const [id, s] of gw.whep!.sessions) sentBy.set(id, s.packetsSent);
};
setInterval(sample, 100).unref();
const totals = () => {
  sample();
  let packets = 0;
  for (const n of sentBy.values()) packets += n;
  return { packets, transcodeMs: OpusFeed.totalCpuMs, at: performance.now() };
};
const pct = (list: number[], p: number) => {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
};
process.on('message', (msg: string) => {
  if (msg === 'reset') {
    samples.clear();
    base = totals();
    baseThreads = threadTicks();
  } else if (msg === 'report') {
    const now = totals();
    const latency: { [name: string]: { p50: number; p99: number; n: number } } = {};
    for (const [name, list] of samples) latency[name] = { p50: pct(list, 0.5), p99: pct(list, 0.99), n: list.length };
    process.send!({
      viewers: gw.whep!.sessions.size,
      overTcp: [...gw.whep!.sessions.values()].filter((v) => v.iceTransport === 'tcp').length,
      packets: now.packets - base.packets,
      seconds: (now.at - base.at) / 1000,
      transcoderCorePercent: ((now.transcodeMs - base.transcodeMs) / (now.at - base.at)) * 100,
      // Share of a core per thread: the main thread does the fan-out, the others are V8's and libuv's.
      threads: Object.fromEntries([...threadTicks()].map(([name, t]) => [name, +(((t - (baseThreads.get(name) ?? 0)) / 100 / ((now.at - base.at) / 1000)) * 100).toFixed(1)]).filter(([, v]) => (v as number) > 0)),
      latency,
    });
  }
});
process.on('disconnect', () => void gw.close().then(() => process.exit(0)));
