/**
 * LL-HLS benchmark: one 720p ~2.5 Mb/s RTMP stream (ffmpeg, the same clip as bench:fanout) played by
 * N LL-HLS clients in another process (blocking playlist reload + each new part, as hls.js does).
 * Prints, per N: server CPU % (user + system from /proc), RSS, playlists and parts served per
 * second, and how long after a part is cut the held playlist requests are answered (p50 / p99: the
 * muxer's work is once per stream; per client only the HTTP write). No peer is measured beside it:
 * node-media-server has no LL-HLS. BENCH_N (default 100,500), BENCH_SECONDS (20).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { benchClip } from './make-clip.js';

const root = new URL('..', import.meta.url).pathname;
const COUNTS = (process.env.BENCH_N ?? '100,500').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const CLK_TCK = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cpu = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
};
const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

const server = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/livegate-server.ts')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const ports = await new Promise<{ rtmp: number; http: number }>((resolve) => server.once('message', (m) => resolve(m as { rtmp: number; http: number })));
const latency = () =>
  new Promise<Record<string, number>>((resolve) => {
    server.once('message', (m) => resolve((m as { latency: Record<string, number> }).latency));
    server.send('latency');
  });
const publisher = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', benchClip(), '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${ports.rtmp}/live/bench`], { stdio: 'ignore' });
await sleep(3000);

const results = [];
for (const n of COUNTS) {
  const clients = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/hls-clients.ts'), `http://127.0.0.1:${ports.http}/live/bench/`, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let last = { clients: 0, playlists: 0, parts: 0, bytes: 0, errors: 0 };
  createInterface({ input: clients.stdout! }).on('line', (l) => (last = JSON.parse(l) as typeof last));
  const deadline = performance.now() + 30_000;
  while (last.clients < n && performance.now() < deadline) await sleep(250);
  await sleep(3000);
  server.send('latency-reset');
  const pid = server.pid!;
  const c0 = cpu(pid);
  const s0 = { ...last };
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  const cpuPercent = ((cpu(pid) - c0) / CLK_TCK / elapsed) * 100;
  const lat = await latency();
  const r = {
    clients: n,
    connected: last.clients,
    serverCpuPercent: +cpuPercent.toFixed(1),
    rssMiB: +rssMiB(pid).toFixed(0),
    playlistsPerSecond: +((last.playlists - s0.playlists) / elapsed).toFixed(0),
    partsPerSecond: +((last.parts - s0.parts) / elapsed).toFixed(0),
    deliveredMbps: +(((last.bytes - s0.bytes) * 8) / elapsed / 1e6).toFixed(1),
    errors: last.errors - s0.errors,
    heldPlaylistAfterPartMs: { p50: +lat.p50!.toFixed(2), p99: +lat.p99!.toFixed(2), max: +lat.max!.toFixed(2), samples: lat.writes },
  };
  console.log(JSON.stringify(r));
  results.push(r);
  clients.kill('SIGKILL');
  await sleep(2000);
}
publisher.kill('SIGKILL');
server.disconnect();
console.log('\nclients  server CPU  RSS MiB  playlists/s  parts/s  Mb/s  held playlist after its part p50 / p99 ms');
for (const r of results) console.log(`${String(r.clients).padStart(7)}  ${String(r.serverCpuPercent).padStart(9)}%  ${String(r.rssMiB).padStart(7)}  ${String(r.playlistsPerSecond).padStart(11)}  ${String(r.partsPerSecond).padStart(7)}  ${String(r.deliveredMbps).padStart(4)}  ${r.heldPlaylistAfterPartMs.p50} / ${r.heldPlaylistAfterPartMs.p99}`);
process.exit(0);
