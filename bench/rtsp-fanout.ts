/**
 * RTSP play fan-out (issue 15): one 720p ~2.5 Mb/s stream (H264 + AAC, published over RTMP) to N
 * RTSP players over TCP and, for comparison, to N RTMP players, in another process. Prints per
 * protocol and N: server CPU %, µs of CPU per reader-second, delivered Mb/s, RSS, and for RTSP the
 * latency livegate adds (unit received → its interleaved frames written to a player), p50/p99.
 * N = 100, 500 (BENCH_N); BENCH_SECONDS per point.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { benchClip } from './make-clip.js';

const root = new URL('..', import.meta.url).pathname;
const COUNTS = (process.env.BENCH_N ?? '100,500').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const PROTOCOLS = (process.env.BENCH_PROTOCOLS ?? 'rtsp,rtmp').split(',');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
};
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', join(root, 'bench/out')] : [];
const server = spawn(process.execPath, [...prof, '--import', 'tsx', join(root, 'bench/livegate-server.ts')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const ports = await new Promise<{ rtmp: number; http: number; rtsp: number }>((r) => server.once('message', (m) => r(m as { rtmp: number; http: number; rtsp: number })));
const latency = (): Promise<{ p50: number; p99: number; writes: number }> =>
  new Promise((resolve) => {
    server.once('message', (m) => resolve((m as { latency: { p50: number; p99: number; writes: number } }).latency));
    server.send('latency');
  });
const publisher = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', benchClip(), '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${ports.rtmp}/live/bench`], { stdio: 'ignore' });
await sleep(4000);

const rows = [];
for (const protocol of PROTOCOLS) {
  for (const n of COUNTS) {
    const url = protocol === 'rtsp' ? `rtsp://127.0.0.1:${ports.rtsp}/live/bench` : `rtmp://127.0.0.1:${ports.rtmp}/live/bench`;
    const readers: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/rtsp-readers.ts'), protocol, url, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let last = { connected: 0, failed: 0, bytes: 0 };
    createInterface({ input: readers.stdout! }).on('line', (l) => (last = JSON.parse(l) as typeof last));
    const deadline = performance.now() + 30_000;
    while (last.connected < n && performance.now() < deadline) await sleep(250);
    await sleep(3000);
    server.send('latency-reset');
    const c0 = cpuTicks(server.pid!);
    const b0 = last.bytes;
    const t0 = performance.now();
    await sleep(SECONDS * 1000);
    const cpuSeconds = (cpuTicks(server.pid!) - c0) / 100;
    const elapsed = (performance.now() - t0) / 1000;
    const lat = protocol === 'rtsp' ? await latency() : null;
    const row = {
      protocol,
      readers: n,
      playing: last.connected,
      cpuPercent: +((cpuSeconds / elapsed) * 100).toFixed(1),
      usPerReaderSecond: +((cpuSeconds * 1e6) / elapsed / n).toFixed(0),
      deliveredMbps: +(((last.bytes - b0) * 8) / elapsed / 1e6).toFixed(0),
      rssMiB: +rssMiB(server.pid!).toFixed(0),
      ...(lat ? { latencyMs: { p50: +lat.p50.toFixed(2), p99: +lat.p99.toFixed(2) } } : {}),
    };
    console.log(JSON.stringify(row));
    rows.push(row);
    readers.kill('SIGKILL');
    await sleep(2500);
  }
}
publisher.kill('SIGKILL');
server.disconnect();
await sleep(1000);
console.log('\nprotocol  readers  playing  CPU %   µs CPU per reader-second  Mb/s out  RSS MiB  added latency p50/p99 ms');
for (const r of rows) {
  console.log(
    `${r.protocol.padEnd(8)} ${String(r.readers).padStart(8)} ${String(r.playing).padStart(8)} ${String(r.cpuPercent).padStart(6)} ${String(r.usPerReaderSecond).padStart(25)} ${String(r.deliveredMbps).padStart(9)} ${String(r.rssMiB).padStart(8)}  ${r.latencyMs ? `${r.latencyMs.p50}/${r.latencyMs.p99}` : '—'}`,
  );
}
process.exit(0);
