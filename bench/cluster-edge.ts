/**
 * Cluster benchmark (issue 16): an origin and an edge livegate (separate processes) on one
 * redis-server, one 720p ~2.5 Mb/s RTMP stream published to the origin.
 * 1. Edge fan-out: the origin's CPU with N HTTP-FLV readers on it directly, then with the same N
 *    readers on the edge instead (the origin serves the edge's one pull); the edge's CPU beside it.
 * 2. First frame on an edge: a new reader on an edge that must first start the pull (the path is not
 *    there yet) → its first video keyframe; beside it, a new reader of a path already live locally.
 * For each pull protocol (BENCH_PULL, default srt,rtmp). Prints JSON lines, then a table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FlvDemuxer } from '../gateway/src/format/flv/index.js';
import { startRedis } from '../test/helpers/redis.js';
import { benchClip } from './make-clip.js';

const root = new URL('..', import.meta.url).pathname;
const N = Number(process.env.BENCH_N ?? 500);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const FIRST_FRAME_RUNS = Number(process.env.BENCH_RUNS ?? 20);
const PULLS = (process.env.BENCH_PULL ?? 'srt,rtmp').split(',') as ('srt' | 'rtmp')[];
const CLK_TCK = 100;
const LINGER_MS = 300;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

interface Node {
  child: ChildProcess;
  rtmp: number;
  http: number;
}

async function startNode(config: object): Promise<Node> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/livegate-server.ts')], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, BENCH_CONFIG: JSON.stringify(config) },
  });
  const ports = await new Promise<{ rtmp: number; http: number }>((resolve) => child.once('message', (m) => resolve(m as { rtmp: number; http: number })));
  return { child, ...ports };
}

function stopNode(n: Node): Promise<void> {
  return new Promise((resolve) => {
    if (n.child.exitCode !== null) return resolve();
    n.child.once('exit', () => resolve());
    n.child.disconnect();
  });
}

async function api<T>(n: Node, path: string): Promise<T> {
  return (await (await fetch(`http://127.0.0.1:${n.http}/${path}`)).json()) as T;
}

/** CPU % of each process over SECONDS with `readers` HTTP-FLV readers of `url`. */
async function measure(url: string, pids: number[]): Promise<{ connected: number; cpu: number[]; mbps: number }> {
  const readers = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/flv-readers.ts'), url, String(N)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let last = { connected: 0, failed: 0, bytes: 0 };
  createInterface({ input: readers.stdout! }).on('line', (l) => (last = JSON.parse(l) as typeof last));
  const deadline = performance.now() + 30_000;
  while (last.connected < N && performance.now() < deadline) await sleep(250);
  await sleep(3000);
  const c0 = pids.map(cpuSeconds);
  const b0 = last.bytes;
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = pids.map((p, i) => +(((cpuSeconds(p) - c0[i]!) / elapsed) * 100).toFixed(1));
  const result = { connected: last.connected, cpu, mbps: +(((last.bytes - b0) * 8) / elapsed / 1e6).toFixed(0) };
  readers.kill('SIGKILL');
  await sleep(2000);
  return result;
}

/** ms from the request to the first video keyframe tag. */
function firstKeyframe(url: string): Promise<number> {
  const t0 = performance.now();
  const demux = new FlvDemuxer();
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
      res.on('data', (chunk: Buffer) => {
        for (const tag of demux.push(chunk)) {
          if (tag.type === 9 && tag.body.length > 1 && tag.body[0]! >> 4 === 1 && tag.body[1] === 1) {
            resolve(performance.now() - t0);
            req.destroy();
            return;
          }
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};

const redis = await startRedis();
const clip = benchClip();
const rows: string[] = [];
for (const pull of PULLS) {
  const cluster = (nodeId: string): object => ({ cluster: { redis: redis.url, nodeId, pullProtocol: pull, lingerMs: LINGER_MS, heartbeatMs: 1000, ttlMs: 5000 } });
  const origin = await startNode(cluster(`origin-${pull}`));
  const edge = await startNode(cluster(`edge-${pull}`));
  const pub = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', clip, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${origin.rtmp}/live/bench`], { stdio: 'ignore' });
  await sleep(4000);

  // 1. Edge fan-out.
  const direct = await measure(`http://127.0.0.1:${origin.http}/live/bench.flv`, [origin.child.pid!, edge.child.pid!]);
  const viaEdge = await measure(`http://127.0.0.1:${edge.http}/live/bench.flv`, [origin.child.pid!, edge.child.pid!]);
  const fanout = { bench: 'edge-fanout', pull, readers: N, direct: { connected: direct.connected, originCpu: direct.cpu[0], mbps: direct.mbps }, viaEdge: { connected: viaEdge.connected, originCpu: viaEdge.cpu[0], edgeCpu: viaEdge.cpu[1], mbps: viaEdge.mbps } };
  console.log(JSON.stringify(fanout));

  // 2. First frame on an edge that must start the pull, and on a node that has the path.
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < FIRST_FRAME_RUNS; i++) {
    const deadline = performance.now() + 10_000;
    while ((await api<{ pulls: unknown[] }>(edge, 'api/v1/cluster')).pulls.length > 0 && performance.now() < deadline) await sleep(100);
    cold.push(await firstKeyframe(`http://127.0.0.1:${edge.http}/live/bench.flv`));
    warm.push(await firstKeyframe(`http://127.0.0.1:${origin.http}/live/bench.flv`));
    await sleep(LINGER_MS + 200);
  }
  const first = { bench: 'edge-first-frame', pull, runs: FIRST_FRAME_RUNS, coldEdge: { p50: +pct(cold, 0.5).toFixed(0), p90: +pct(cold, 0.9).toFixed(0) }, liveNode: { p50: +pct(warm, 0.5).toFixed(0), p90: +pct(warm, 0.9).toFixed(0) } };
  console.log(JSON.stringify(first));
  rows.push(
    `${pull.padEnd(5)} ${String(N).padStart(7)} ${String(direct.cpu[0]).padStart(16)} ${String(viaEdge.cpu[0]).padStart(17)} ${String(viaEdge.cpu[1]).padStart(10)}   ${String(first.coldEdge.p50).padStart(5)} / ${String(first.coldEdge.p90).padEnd(5)}  ${String(first.liveNode.p50).padStart(5)} / ${first.liveNode.p90}`,
  );
  pub.kill('SIGKILL');
  await Promise.all([stopNode(edge), stopNode(origin)]);
}
await redis.stop();
console.log('\npull  readers  origin CPU % (direct)  origin CPU % (via edge)  edge CPU %   first keyframe ms p50/p90: edge starting its pull, node with the path');
for (const r of rows) console.log(r);
