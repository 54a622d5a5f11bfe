/**
 * RTSP ingest (issue 15): CPU per RTSP-pulled camera stream over UDP. A "camera" livegate serves S
 * copies of the 720p ~2.5 Mb/s bench clip over RTSP (ffmpeg publishes them, stream copy); the
 * measured livegate pulls all S as always-on sources (`paths[].source`, `rtspTransport: udp`) with one
 * HTTP-FLV reader each, so every unit is depacketized and delivered. Prints the measured process's
 * CPU %, CPU per stream, and the latency it adds from the packet that completes a unit to the FLV write.
 * S = 1, 10 (BENCH_STREAMS); BENCH_SECONDS per point.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { benchClip } from './make-clip.js';

const root = new URL('..', import.meta.url).pathname;
const COUNTS = (process.env.BENCH_STREAMS ?? '1,10').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
};

type Ports = { rtmp: number; http: number; rtsp: number };
function startServer(config: object): Promise<{ child: ChildProcess; ports: Ports }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/livegate-server.ts')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, BENCH_CONFIG: JSON.stringify(config) } });
  return new Promise((resolve) => child.once('message', (m) => resolve({ child, ports: m as Ports })));
}

const rows = [];
for (const s of COUNTS) {
  const camera = await startServer({});
  const publishers = Array.from({ length: s }, (_, i) =>
    spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', benchClip(), '-c', 'copy', '-f', 'rtsp', '-rtsp_transport', 'tcp', `rtsp://127.0.0.1:${camera.ports.rtsp}/cam/${i}`], { stdio: 'ignore' }),
  );
  await sleep(3000);
  const paths = Array.from({ length: s }, (_, i) => ({ path: `pulled/${i}`, source: `rtsp://127.0.0.1:${camera.ports.rtsp}/cam/${i}`, rtspTransport: 'udp' }));
  const measured = await startServer({ paths });
  await sleep(3000);
  let bytes = 0;
  const readers = paths.map((p) => request(`http://127.0.0.1:${measured.ports.http}/${p.path}.flv`, (res) => res.on('data', (d: Buffer) => (bytes += d.length))).end());
  await sleep(3000);
  measured.child.send('latency-reset');
  const c0 = cpuTicks(measured.child.pid!);
  const b0 = bytes;
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const cpuSeconds = (cpuTicks(measured.child.pid!) - c0) / 100;
  const elapsed = (performance.now() - t0) / 1000;
  const lat = await new Promise<{ p50: number; p99: number }>((resolve) => {
    measured.child.once('message', (m) => resolve((m as { latency: { p50: number; p99: number } }).latency));
    measured.child.send('latency');
  });
  const row = {
    streams: s,
    cpuPercent: +((cpuSeconds / elapsed) * 100).toFixed(1),
    cpuPercentPerStream: +(((cpuSeconds / elapsed) * 100) / s).toFixed(2),
    deliveredMbps: +(((bytes - b0) * 8) / elapsed / 1e6).toFixed(1),
    latencyMs: { p50: +lat.p50.toFixed(2), p99: +lat.p99.toFixed(2) },
  };
  console.log(JSON.stringify(row));
  rows.push(row);
  for (const r of readers) r.destroy();
  for (const p of publishers) p.kill('SIGKILL');
  measured.child.disconnect();
  camera.child.disconnect();
  await sleep(2000);
}
console.log('\npulled streams  CPU %  CPU % per stream  Mb/s delivered  added latency p50/p99 ms (last packet of a unit → FLV write)');
for (const r of rows) console.log(`${String(r.streams).padStart(14)} ${String(r.cpuPercent).padStart(6)} ${String(r.cpuPercentPerStream).padStart(17)} ${String(r.deliveredMbps).padStart(15)}  ${r.latencyMs.p50}/${r.latencyMs.p99}`);
process.exit(0);
