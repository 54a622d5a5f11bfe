/**
 * WebRTC fan-out and latency benchmark (issue 3). One 720p ~1.5 Mb/s H264 (no B-frames) + AAC stream
 * published over RTMP, N werift WHEP viewers in another process, N = 10, 50, 100 (BENCH_WHEP_N).
 * Prints, per N: server CPU %, µs of server CPU per outgoing RTP packet, packets/s; the latency the
 * gateway adds (RTMP message received → RTP packets of that frame handed to werift), video and audio
 * (AAC → Opus transcode included), p50/p99; the transcoder's CPU share of one core. A first point with
 * one viewer gives the stream's own cost; the other points also print the CPU per packet above it (what
 * an added viewer costs) and the viewers one core would carry at that rate.
 * WebRTC peers gather candidates on every interface, so this re-runs itself inside a network
 * namespace with only loopback (`unshare -n`, root). BENCH_CPU_PROF=1 writes a CPU profile.
 * BENCH_WHEP_TCP=1: UDP to the media port is dropped (nftables) and the viewers use ICE-TCP.
 * BENCH_WHEP_WERIFT=1: werift's send path instead of livegate's (for comparison).
 * BENCH_WHEP_SOURCE=rtsp: the stream is published over RTSP/UDP instead of RTMP (RTSP in → WHEP out);
 * the latency then runs from the RTP packet that completes a frame to its packets handed to werift.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const root = new URL('..', import.meta.url).pathname;
if (process.env.LIVEGATE_NETNS !== '1') {
  const r = spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec "${process.execPath}" --import tsx "${join(root, 'bench/whep-fanout.ts')}"`], {
    stdio: 'inherit',
    env: { ...process.env, LIVEGATE_NETNS: '1' },
  });
  process.exit(r.status ?? 1);
}

const COUNTS = (process.env.BENCH_WHEP_N ?? '10,50,100').split(',').map(Number);
/**
 * A first point with one viewer: the stream's own cost (RTMP ingest, the AAC → Opus transcoder,
 * timers) is then taken out of the other points' figures ("per added viewer"). BENCH_WHEP_BASELINE=0 skips it.
 */
const BASELINE = process.env.BENCH_WHEP_BASELINE !== '0' && !COUNTS.includes(1);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** utime and stime of `pid`, in clock ticks (1/100 s). */
const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(f[11]), system: Number(f[12]) };
};

function clip(): string {
  const dir = join(root, 'bench/out');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'clip-720p-1500k-nob.flv');
  if (!existsSync(file)) {
    const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000', '-t', '30', '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '0', '-b:v', '1500k', '-maxrate', '1500k', '-bufsize', '1500k', '-g', '60', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '128k', '-f', 'flv', file], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('ffmpeg could not make the clip');
  }
  return file;
}

const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', join(root, 'bench/out')] : [];
const server = spawn(process.execPath, [...prof, '--import', 'tsx', join(root, 'bench/whep-server.ts')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const ports = await new Promise<{ rtmp: number; http: number; rtsp: number; webrtcUdp: number }>((r) => server.once('message', (m) => r(m as { rtmp: number; http: number; rtsp: number; webrtcUdp: number })));
const overTcp = process.env.BENCH_WHEP_TCP === '1';
if (overTcp) {
  for (const args of [['add', 'table', 'inet', 'bench'], ['add chain inet bench input { type filter hook input priority 0; policy accept; }'], ['add', 'rule', 'inet', 'bench', 'input', 'udp', 'dport', String(ports.webrtcUdp), 'drop']]) {
    if (spawnSync('nft', args, { stdio: 'inherit' }).status !== 0) throw new Error('nft failed: ICE-TCP bench needs nftables');
  }
}
const ask = <T>(msg: string): Promise<T> =>
  new Promise((resolve) => {
    if (msg === 'reset') {
      server.send(msg);
      return resolve(undefined as T);
    }
    server.once('message', (m) => resolve(m as T));
    server.send(msg);
  });
const target = process.env.BENCH_WHEP_SOURCE === 'rtsp' ? ['-f', 'rtsp', '-rtsp_transport', 'udp', `rtsp://127.0.0.1:${ports.rtsp}/live/bench`] : ['-f', 'flv', `rtmp://127.0.0.1:${ports.rtmp}/live/bench`];
const publisher = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', clip(), '-c', 'copy', ...target], { stdio: 'ignore' });
await sleep(3000);

type Report = { viewers: number; overTcp: number; packets: number; seconds: number; transcoderCorePercent: number; threads: { [name: string]: number }; latency: { [k: string]: { p50: number; p99: number; n: number } } };
const rows = [];
let baseline: { cpuPerSecond: number; packetsPerSecond: number } | null = null;
for (const n of BASELINE ? [1, ...COUNTS] : COUNTS) {
  const viewers: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/whep-viewers.ts'), `http://127.0.0.1:${ports.http}/live/bench/whep`, String(n), overTcp ? 'tcp' : 'udp'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let last = { connected: 0, packets: 0, failed: 0 };
  createInterface({ input: viewers.stdout! }).on('line', (l) => (last = JSON.parse(l) as typeof last));
  const deadline = performance.now() + 60_000;
  while (last.connected < n && performance.now() < deadline) await sleep(250);
  await sleep(3000);
  await ask('reset');
  const c0 = cpuTicks(server.pid!);
  const t0 = performance.now();
  const p0 = last.packets;
  await sleep(SECONDS * 1000);
  const c1 = cpuTicks(server.pid!);
  const userSeconds = (c1.user - c0.user) / 100;
  const systemSeconds = (c1.system - c0.system) / 100;
  const cpuSeconds = userSeconds + systemSeconds;
  const elapsed = (performance.now() - t0) / 1000;
  const r = await ask<Report>('report');
  const row = {
    viewers: n,
    connected: last.connected,
    overTcp: r.overTcp,
    serverCpuPercent: +((cpuSeconds / elapsed) * 100).toFixed(1),
    packetsPerSecond: Math.round(r.packets / r.seconds),
    receivedPerSecond: Math.round((last.packets - p0) / elapsed),
    // Packets the viewers checked that did not authenticate (see whep-viewers.ts): must be 0.
    viewerAuthFailures: last.failed,
    usPerPacket: +((cpuSeconds * 1e6) / r.packets).toFixed(1),
    // The kernel's share: on loopback a send also runs the receiving side's network stack.
    userUsPerPacket: +((userSeconds * 1e6) / r.packets).toFixed(1),
    systemUsPerPacket: +((systemSeconds * 1e6) / r.packets).toFixed(1),
    videoLatencyMs: r.latency['webrtc-video'] && { p50: +r.latency['webrtc-video'].p50.toFixed(2), p99: +r.latency['webrtc-video'].p99.toFixed(2) },
    videoProcessingMs: r.latency['webrtc-video-processing'] && {
      p50: +r.latency['webrtc-video-processing'].p50.toFixed(2),
      p99: +r.latency['webrtc-video-processing'].p99.toFixed(2),
    },
    audioLatencyMs: r.latency['webrtc-audio'] && { p50: +r.latency['webrtc-audio'].p50.toFixed(2), p99: +r.latency['webrtc-audio'].p99.toFixed(2) },
    transcoderCorePercent: +r.transcoderCorePercent.toFixed(2),
    threadsCorePercent: r.threads,
    // The CPU above the one-viewer point over the packets above it: what each added viewer costs.
    perAddedViewer:
      baseline && n > 1
        ? (() => {
            const cpu = cpuSeconds / elapsed - baseline.cpuPerSecond;
            const packets = r.packets / r.seconds - baseline.packetsPerSecond;
            return { usPerPacket: +((cpu * 1e6) / packets).toFixed(1), viewersPerCore: Math.round((n - 1) / cpu) };
          })()
        : undefined,
  };
  if (n === 1) baseline = { cpuPerSecond: cpuSeconds / elapsed, packetsPerSecond: r.packets / r.seconds };
  console.log(JSON.stringify(row));
  rows.push(row);
  viewers.kill('SIGTERM');
  await new Promise((r) => viewers.once('exit', r));
  await sleep(2000);
}
publisher.kill('SIGKILL');
server.disconnect();
await sleep(1500);
console.log('\nviewers  server CPU %  µs/packet (user+sys)  per added viewer: µs/packet, viewers/core  packets/s  video p50/p99 ms (without the lip-sync hold)  audio p50/p99 ms  transcoder % core');
for (const r of rows) {
  console.log(
    `${String(r.viewers).padStart(7)} ${String(r.serverCpuPercent).padStart(12)} ${`${r.usPerPacket} (${r.userUsPerPacket}+${r.systemUsPerPacket})`.padStart(20)} ${(r.perAddedViewer ? `${r.perAddedViewer.usPerPacket}, ${r.perAddedViewer.viewersPerCore}` : '').padStart(42)} ${String(r.packetsPerSecond).padStart(10)}` +
      `   ${r.videoLatencyMs?.p50}/${r.videoLatencyMs?.p99} (${r.videoProcessingMs?.p50}/${r.videoProcessingMs?.p99})`.padEnd(36) +
      `${r.audioLatencyMs?.p50}/${r.audioLatencyMs?.p99}`.padEnd(18) +
      `${r.transcoderCorePercent}`,
  );
}
process.exit(0);
