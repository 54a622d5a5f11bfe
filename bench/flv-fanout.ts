/**
 * Fan-out benchmark: one 720p ~2.5 Mb/s RTMP stream to N HTTP-FLV readers (in a separate process),
 * for livegate and node-media-server side by side. Prints JSON lines, then a summary table.
 * Server CPU comes from /proc/<pid>/stat (user + system), RSS from /proc/<pid>/status.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { benchClip } from './make-clip.js';

const root = new URL('..', import.meta.url).pathname;
const COUNTS = (process.env.BENCH_N ?? '100,500,1000').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const SERVERS = (process.env.BENCH_SERVERS ?? 'livegate,nms').split(',');
const CLK_TCK = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cpuTicks(pid: number): { user: number; system: number; total: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  return { user, system, total: user + system };
}
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Server {
  name: string;
  child: ChildProcess;
  rtmp: number;
  http: number;
  latency?: () => Promise<Record<string, number>>;
  resetLatency?: () => void;
}

async function startLivegate(): Promise<Server> {
  // BENCH_CPU_PROF=1 writes a V8 CPU profile of the server to bench/out/ (open it in Chrome DevTools).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', join(root, 'bench/out')] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', join(root, 'bench/livegate-server.ts')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ports = await new Promise<{ rtmp: number; http: number }>((resolve) => child.once('message', (m) => resolve(m as { rtmp: number; http: number })));
  return {
    name: 'livegate',
    child,
    ...ports,
    resetLatency: () => child.send('latency-reset'),
    latency: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve((m as { latency: Record<string, number> }).latency));
        child.send('latency');
      }),
  };
}

async function startNms(): Promise<Server> {
  const rtmp = await freePort();
  const http = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'nms-'));
  const cfg = join(dir, 'config.json');
  writeFileSync(cfg, JSON.stringify({ bind: '127.0.0.1', rtmp: { port: rtmp }, http: { port: http }, store: { path: join(dir, 'data') }, auth: { play: false, publish: false } }));
  const child = spawn(process.execPath, [join(root, 'node_modules/node-media-server/bin/app.js'), '-c', cfg, '--no-admin'], { stdio: ['ignore', 'ignore', 'inherit'] });
  await sleep(1500);
  return { name: 'node-media-server', child, rtmp, http };
}

function startPublisher(clip: string, url: string): ChildProcess {
  return spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', clip, '-c', 'copy', '-f', 'flv', url], { stdio: 'ignore' });
}

async function measure(server: Server, n: number) {
  const readers = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/flv-readers.ts'), `http://127.0.0.1:${server.http}/live/bench.flv`, String(n)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let last = { connected: 0, failed: 0, bytes: 0 };
  createInterface({ input: readers.stdout! }).on('line', (l) => (last = JSON.parse(l) as typeof last));
  const rampDeadline = performance.now() + 30_000;
  while (last.connected < n && performance.now() < rampDeadline) await sleep(250);
  await sleep(3000);
  server.resetLatency?.();
  const pid = server.child.pid!;
  const t0 = performance.now();
  const c0 = cpuTicks(pid);
  const b0 = last.bytes;
  await sleep(SECONDS * 1000);
  const c1 = cpuTicks(pid);
  const elapsed = (performance.now() - t0) / 1000;
  const cpuSeconds = (c1.total - c0.total) / CLK_TCK;
  const userShare = (c1.user - c0.user) / Math.max(1, c1.total - c0.total);
  const result = {
    server: server.name,
    readers: n,
    connected: last.connected,
    cpuPercent: +((cpuSeconds / elapsed) * 100).toFixed(1),
    userPercentOfCpu: +(userShare * 100).toFixed(0),
    rssMiB: +rssMiB(pid).toFixed(0),
    deliveredMbps: +(((last.bytes - b0) * 8) / elapsed / 1e6).toFixed(0),
    readersPerCpuSecond: +(n / (cpuSeconds / elapsed)).toFixed(0),
    latencyMs: server.latency && n === 500 ? await server.latency() : undefined,
  };
  readers.kill('SIGKILL');
  await sleep(2000);
  return result;
}

const clip = benchClip();
const results = [];
for (const name of SERVERS) {
  const server = name === 'nms' ? await startNms() : await startLivegate();
  const pub = startPublisher(clip, `rtmp://127.0.0.1:${server.rtmp}/live/bench`);
  await sleep(4000);
  for (const n of COUNTS) {
    const r = await measure(server, n);
    console.log(JSON.stringify(r));
    results.push(r);
  }
  pub.kill('SIGKILL');
  if (server.child.connected) server.child.disconnect(); // livegate: closes and exits (profile written)
  else server.child.kill('SIGTERM');
  await sleep(1500);
  if (server.child.exitCode === null) server.child.kill('SIGTERM');
}
console.log('\nserver              readers  CPU %   RSS MiB  Mb/s out  readers/CPU-s');
for (const r of results) {
  console.log(
    `${r.server.padEnd(19)} ${String(r.readers).padStart(7)} ${String(r.cpuPercent).padStart(6)} ${String(r.rssMiB).padStart(9)} ${String(r.deliveredMbps).padStart(9)} ${String(r.readersPerCpuSecond).padStart(14)}`,
  );
}
const lat = results.find((r) => r.latencyMs)?.latencyMs;
if (lat) console.log(`\nlivegate added latency at N=500 (tag received → written to a reader): p50 ${lat.p50!.toFixed(2)} ms, p99 ${lat.p99!.toFixed(2)} ms, max ${lat.max!.toFixed(2)} ms over ${lat.writes} writes`);
