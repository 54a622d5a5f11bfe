/**
 * SRT ingest benchmark (issue 4): CPU per SRT ingest stream at 5, 10 and 20 Mb/s, livegate next to
 * srt-live-transmit (libsrt, Debian srt-tools) receiving the same feed. Target: livegate within 2× of
 * libsrt. Prints JSON lines per run, then a table.
 *
 * The feed is ffmpeg copying a cached MPEG-TS clip (-re, looped) to SRT, so the encoder costs nothing:
 *   ffmpeg -re -stream_loop -1 -i clip.ts -c copy -f mpegts 'srt://127.0.0.1:P?streamid=publish:live/bench&pkt_size=1316'
 * livegate (bench/srt-server.ts, its own process): the SRT listener publishes into live/bench, no
 * readers — SRT receive + TS demux + units into the stream. Then, unless BENCH_SRT_READER=0, one SRT
 * reader (ffmpeg -i 'srt://…?streamid=read:live/bench' -c copy -f null -) for a second figure.
 * libsrt: srt-live-transmit 'srt://127.0.0.1:P?mode=listener' file://con, its stdout on /dev/null —
 * the same receive work (handshake, ACK/NAK, TSBPD, delivery) and a write(2) per packet into
 * /dev/null, the nearest thing to livegate's "nobody reads" (a UDP sink would add a sendto(2) and a
 * loopback delivery per packet that livegate does not do). BENCH_SRT_SINK=udp to relay to a UDP port
 * nobody reads instead. It writes its own counters (-s -pf:json -f -statsout) to a temp file.
 *
 * CPU is utime+stime from /proc/<pid>/stat over a steady window (BENCH_SECONDS, 15 s) after a warm-up
 * (BENCH_WARMUP, 5 s), as % of one core. The feed's bitrate is ffmpeg's total_size (-progress) over
 * the same window. BENCH_SRT_RATES=5,10,20 (Mb/s). testsrc2 tops out near 15 Mb/s (x264 at QP ~0):
 * BENCH_SRT_NOISE=1 adds temporal noise to the clips so that 20 Mb/s is really reached.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const root = new URL('..', import.meta.url).pathname;
const RATES = (process.env.BENCH_SRT_RATES ?? '5,10,20').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 5);
const READER = process.env.BENCH_SRT_READER !== '0';
const SINK = process.env.BENCH_SRT_SINK === 'udp' ? 'udp' : 'null';
const DEADLINE_S = Number(process.env.BENCH_SRT_DEADLINE ?? 235);
/** testsrc2 is so easy that x264 tops out near 15 Mb/s at QP 0; temporal noise lets 20 Mb/s be reached. */
const NOISE = process.env.BENCH_SRT_NOISE === '1';
const SLT = process.env.SRT_LIVE_TRANSMIT ?? '/usr/bin/srt-live-transmit';
const CLK_TCK = 100;
const STREAM = 'live/bench';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 1) => +x.toFixed(d);

// ---- processes: every child is tracked, stopped with SIGINT then SIGKILL, and killed on any exit ----
const children = new Set<ChildProcess>();
function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
async function stop(child: ChildProcess | undefined, graceMs = 1500): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGINT');
  if (await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)])) return;
  child.kill('SIGKILL');
  await exited;
}
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
const deadline = setTimeout(() => {
  console.error(`srt-ingest: over the ${DEADLINE_S} s deadline, stopping everything`);
  process.exit(2);
}, DEADLINE_S * 1000);
deadline.unref();

// ---- measurements ----
function cpuTicks(pid: number): number {
  return userSys(pid).reduce((a, b) => a + b);
}
function userSys(pid: number): [number, number] {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return [Number(f[11]), Number(f[12])];
}
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
function freeUdpPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

/** ffmpeg with `-progress pipe:1`: the latest total_size / out_time, and its stderr (errors only). */
interface Ffmpeg {
  child: ChildProcess;
  progress: { bytes: number; outTimeUs: number; at: number };
  errors: string[];
}
function ffmpeg(args: string[]): Ffmpeg {
  const child = track(spawn('ffmpeg', ['-hide_banner', '-nostats', '-loglevel', 'error', '-progress', 'pipe:1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const f: Ffmpeg = { child, progress: { bytes: 0, outTimeUs: 0, at: performance.now() }, errors: [] };
  let bytes = 0;
  let outTimeUs = 0;
  createInterface({ input: child.stdout! }).on('line', (l) => {
    const [k, v] = l.split('=');
    if (k === 'total_size') bytes = Number(v);
    else if (k === 'out_time_us') outTimeUs = Number(v);
    else if (k === 'progress') f.progress = { bytes, outTimeUs, at: performance.now() };
  });
  createInterface({ input: child.stderr! }).on('line', (l) => f.errors.length < 20 && f.errors.push(l));
  return f;
}
const feedUrl = (port: number, mode: 'publish' | 'read') => `srt://127.0.0.1:${port}?streamid=${mode}:${STREAM}&pkt_size=1316`;
const startFeed = (clip: string, port: number) => ffmpeg(['-re', '-stream_loop', '-1', '-i', clip, '-c', 'copy', '-f', 'mpegts', feedUrl(port, 'publish')]);

/** Measures `pid` (and the feed) over one window; `edges` samples extra counters at both ends. */
async function measureWindow<T>(pid: number, feed: Ffmpeg, edges: () => Promise<T> | T) {
  const e0 = await edges();
  const p0 = feed.progress;
  const c0 = userSys(pid);
  const f0 = cpuTicks(feed.child.pid!);
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const c1 = userSys(pid);
  const f1 = cpuTicks(feed.child.pid!);
  const t1 = performance.now();
  const p1 = feed.progress;
  const e1 = await edges();
  const wall = (t1 - t0) / 1000;
  return {
    seconds: round(wall, 2),
    cpuPercent: round(((c1[0] + c1[1] - c0[0] - c0[1]) / CLK_TCK / wall) * 100),
    sysPercent: round(((c1[1] - c0[1]) / CLK_TCK / wall) * 100),
    feedCpuPercent: round(((f1 - f0) / CLK_TCK / wall) * 100),
    feedMbps: round(((p1.bytes - p0.bytes) * 8) / ((p1.at - p0.at) / 1000) / 1e6, 2),
    feedSpeed: round((p1.outTimeUs - p0.outTimeUs) / 1000 / (p1.at - p0.at), 3),
    e0,
    e1,
  };
}

// ---- clips ----
function clipFor(mbps: number): string {
  const dir = join(root, 'bench/out');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `clip-720p-${mbps}M${NOISE ? '-noise' : ''}.m2t`);
  if (existsSync(file)) return file;
  const rate = `${mbps * 1000}k`;
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000',
    ...(NOISE ? ['-vf', 'noise=alls=12:allf=t'] : []),
    '-t', '20', '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', rate, '-maxrate', rate, '-bufsize', `${mbps * 500}k`,
    '-g', '60', '-bf', '0', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '128k', '-f', 'mpegts', file + '.part',
  ], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('ffmpeg could not make the benchmark clip');
  spawnSync('mv', [file + '.part', file]);
  return file;
}
function clipMbps(file: string): number {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=bit_rate', '-of', 'default=nw=1:nk=1', file], { encoding: 'utf8' });
  return round(Number(r.stdout.trim()) / 1e6, 2);
}

// ---- livegate ----
interface SrtSession {
  mode: string;
  latencyMs: number;
  stats: { packetsReceived: number; bytesReceived: number; packetsLost: number; packetsRecovered: number; packetsDropped: number; packetsSent: number; packetsRetransmitted: number; receiveBitrate: number };
}
async function getJson<T>(url: string): Promise<T | null> {
  try {
    const r = await fetch(url);
    return r.ok ? ((await r.json()) as T) : null;
  } catch {
    return null;
  }
}

async function runLivegate(mbps: number, clip: string) {
  const logs: string[] = [];
  const server = track(spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/srt-server.ts')], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }));
  for (const s of [server.stdout!, server.stderr!]) createInterface({ input: s }).on('line', (l) => logs.push(l));
  const ports = await new Promise<{ srt: number; http: number }>((resolve, reject) => {
    server.once('message', (m) => resolve(m as { srt: number; http: number }));
    server.once('exit', (code) => reject(new Error(`livegate exited (${code}) before listening: ${logs.slice(-5).join(' | ')}`)));
  });
  const api = `http://127.0.0.1:${ports.http}/api/v1`;
  const sessions = async () => (await getJson<{ sessions: SrtSession[] }>(`${api}/srt/sessions`))?.sessions ?? [];
  const publisher = async () => (await sessions()).find((s) => s.mode === 'publish');
  const feed = startFeed(clip, ports.srt);
  let reader: Ffmpeg | undefined;
  try {
    const connectBy = performance.now() + 10_000;
    while (!(await publisher())?.stats.packetsReceived && performance.now() < connectBy) await sleep(200);
    if (!(await publisher())) throw new Error(`the feed never connected to livegate; ffmpeg: ${feed.errors.join(' | ')}; livegate: ${logs.slice(-5).join(' | ')}`);
    await sleep(WARMUP * 1000);
    const edges = async () => ({ pub: (await publisher())?.stats, rd: (await sessions()).find((s) => s.mode === 'read')?.stats });
    const pid = server.pid!;
    const w = await measureWindow(pid, feed, edges);
    const pub0 = w.e0.pub!;
    const pub1 = (w.e1.pub ?? pub0);
    const stream = await getJson<{ tracks: { codec: string }[]; bitrate: number; gopCache: { units: number } }>(`${api}/streams/${STREAM}`);
    const ingest = {
      run: 'livegate',
      readers: 0,
      targetMbps: mbps,
      cpuPercent: w.cpuPercent,
      sysPercent: w.sysPercent,
      rssMiB: round(rssMiB(pid), 0),
      feedMbps: w.feedMbps,
      feedSpeed: w.feedSpeed,
      feedCpuPercent: w.feedCpuPercent,
      srtPacketsPerSecond: round((pub1.packetsReceived - pub0.packetsReceived) / w.seconds, 0),
      srtMbps: round(((pub1.bytesReceived - pub0.bytesReceived) * 8) / w.seconds / 1e6, 2),
      packetsLost: pub1.packetsLost - pub0.packetsLost,
      packetsRecovered: pub1.packetsRecovered - pub0.packetsRecovered,
      packetsDropped: pub1.packetsDropped - pub0.packetsDropped,
      packetsLostTotal: pub1.packetsLost,
      packetsDroppedTotal: pub1.packetsDropped,
      latencyMs: (await publisher())?.latencyMs,
      streamTracks: stream?.tracks.map((t) => t.codec).join('+') ?? 'no stream',
      streamMbps: stream ? round(stream.bitrate / 1e6, 2) : NaN,
      publisherAlive: w.e1.pub !== undefined && feed.child.exitCode === null,
      logLines: logs.length,
    };
    console.log(JSON.stringify(ingest));
    const results: Record<string, unknown>[] = [ingest];

    if (READER) {
      reader = ffmpeg(['-i', feedUrl(ports.srt, 'read'), '-c', 'copy', '-f', 'null', '-']);
      const readBy = performance.now() + 8000;
      while (!(await sessions()).find((s) => s.mode === 'read')?.stats.packetsSent && performance.now() < readBy) await sleep(200);
      await sleep(3000);
      const logsBefore = logs.length;
      const r = await measureWindow(pid, feed, edges);
      const rd0 = r.e0.rd;
      const rd1 = r.e1.rd;
      const p0 = r.e0.pub!;
      const p1 = r.e1.pub ?? p0;
      const withReader = {
        run: 'livegate+1 SRT reader',
        readers: 1,
        targetMbps: mbps,
        cpuPercent: r.cpuPercent,
        sysPercent: r.sysPercent,
        rssMiB: round(rssMiB(pid), 0),
        feedMbps: r.feedMbps,
        feedCpuPercent: r.feedCpuPercent,
        packetsLost: p1.packetsLost - p0.packetsLost,
        packetsDropped: p1.packetsDropped - p0.packetsDropped,
        readerConnected: rd0 !== undefined && rd1 !== undefined,
        readerSentMbps: rd0 && rd1 ? round(((rd1.packetsSent - rd0.packetsSent) * 1316 * 8) / r.seconds / 1e6, 2) : 0,
        readerPacketsRetransmitted: rd0 && rd1 ? rd1.packetsRetransmitted - rd0.packetsRetransmitted : 0,
        readerErrors: reader.errors.slice(0, 3),
        logLines: logs.length - logsBefore,
      };
      console.log(JSON.stringify(withReader));
      results.push(withReader);
    }
    if (feed.errors.length) console.error(`livegate ${mbps} Mb/s, feed ffmpeg said: ${feed.errors.slice(0, 5).join(' | ')}`);
    return { results, logs };
  } finally {
    await stop(reader?.child);
    await stop(feed.child);
    await stop(server);
  }
}

// ---- srt-live-transmit ----
interface SltStats {
  time: number;
  recv: { packets: number; packetsLost: number; packetsDropped: number; packetsRetransmitted: number; bytes: number; msTsbPdDelay: number };
}
function lastSltStats(file: string): SltStats | undefined {
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      return JSON.parse(lines[i]!) as SltStats;
    } catch {
      /* a line being written */
    }
  }
  return undefined;
}

async function runSlt(mbps: number, clip: string) {
  const port = await freeUdpPort();
  const dir = mkdtempSync(join(tmpdir(), 'srt-bench-'));
  const statsFile = join(dir, 'stats.json');
  const target = SINK === 'udp' ? `udp://127.0.0.1:${await freeUdpPort()}` : 'file://con';
  // -s counts packets: about two reports a second at any rate.
  const every = Math.max(100, Math.round((mbps * 1e6) / 8 / 1316 / 2));
  const args = [`-s:${every}`, '-pf:json', '-f', `-statsout:${statsFile}`, `srt://127.0.0.1:${port}?mode=listener`, target];
  const logs: string[] = [];
  const slt = track(spawn(SLT, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
  createInterface({ input: slt.stderr! }).on('line', (l) => logs.push(l));
  await sleep(300);
  const feed = startFeed(clip, port);
  try {
    const connectBy = performance.now() + 10_000;
    while (!lastSltStats(statsFile)?.recv.packets && performance.now() < connectBy) await sleep(200);
    if (!lastSltStats(statsFile)) throw new Error(`the feed never connected to srt-live-transmit; ffmpeg: ${feed.errors.join(' | ')}; slt: ${logs.join(' | ')}`);
    await sleep(WARMUP * 1000);
    const w = await measureWindow(slt.pid!, feed, () => lastSltStats(statsFile)!);
    const s0 = w.e0.recv;
    const s1 = w.e1.recv;
    const span = (w.e1.time - w.e0.time) / 1000;
    const result = {
      run: 'srt-live-transmit',
      sink: SINK === 'udp' ? 'udp (unread)' : 'file://con > /dev/null',
      targetMbps: mbps,
      cpuPercent: w.cpuPercent,
      sysPercent: w.sysPercent,
      rssMiB: round(rssMiB(slt.pid!), 0),
      feedMbps: w.feedMbps,
      feedSpeed: w.feedSpeed,
      feedCpuPercent: w.feedCpuPercent,
      srtPacketsPerSecond: round((s1.packets - s0.packets) / span, 0),
      packetsLost: s1.packetsLost - s0.packetsLost,
      packetsDropped: s1.packetsDropped - s0.packetsDropped,
      packetsLostTotal: s1.packetsLost,
      latencyMs: s1.msTsbPdDelay,
      stderr: logs.filter((l) => !/Media path|Accepted SRT source/.test(l)).slice(0, 3),
    };
    console.log(JSON.stringify(result));
    return result;
  } finally {
    await stop(feed.child);
    await stop(slt);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- main ----
const started = performance.now();
if (!existsSync(SLT)) throw new Error(`${SLT} not found (Debian package srt-tools)`);
const clips = new Map(RATES.map((r) => [r, clipFor(r)]));
for (const [r, f] of clips) console.log(JSON.stringify({ clip: f, targetMbps: r, clipMbps: clipMbps(f) }));

type Row = { mbps: number; feed: number; lg: number; lgRead?: number; slt: number; lost: string };
const rows: Row[] = [];
const oddLogs: string[] = [];
for (const mbps of RATES) {
  const clip = clips.get(mbps)!;
  const lg = await runLivegate(mbps, clip);
  oddLogs.push(...lg.logs.map((l) => `[${mbps} Mb/s] ${l}`));
  const slt = await runSlt(mbps, clip);
  const ingest = lg.results[0] as { cpuPercent: number; feedMbps: number; packetsLost: number };
  const read = lg.results[1] as { cpuPercent: number } | undefined;
  rows.push({ mbps, feed: ingest.feedMbps, lg: ingest.cpuPercent, lgRead: read?.cpuPercent, slt: slt.cpuPercent, lost: `${ingest.packetsLost} / ${slt.packetsLost}` });
}

console.log('\ntarget Mb/s  feed Mb/s  livegate CPU %  srt-live-transmit CPU %  ratio  lost (lg / slt)' + (READER ? '  livegate+1 reader CPU %' : ''));
for (const r of rows) {
  console.log(
    `${String(r.mbps).padStart(11)} ${String(r.feed).padStart(10)} ${String(r.lg).padStart(15)} ${String(r.slt).padStart(24)} ${(r.slt > 0 ? (r.lg / r.slt).toFixed(2) + '×' : 'n/a').padStart(6)} ${r.lost.padStart(16)}` +
      (READER ? String(r.lgRead ?? '').padStart(25) : ''),
  );
}
console.log(JSON.stringify({ summary: rows.map((r) => ({ targetMbps: r.mbps, feedMbps: r.feed, livegateCpuPercent: r.lg, sltCpuPercent: r.slt, ratio: r.slt > 0 ? round(r.lg / r.slt, 2) : null, livegateWithReaderCpuPercent: r.lgRead })), sink: SINK, loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '), seconds: round((performance.now() - started) / 1000, 0) }));
if (oddLogs.length) {
  console.error(`\nlivegate logged ${oddLogs.length} line(s) at warn or above; the first ones:`);
  for (const l of oddLogs.slice(0, 10)) console.error(l);
}
