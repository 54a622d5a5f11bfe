/**
 * Opus → AAC benchmark (issue 5, part 3): the CPU one transcoded stream costs, for 1 and for 4
 * streams transcoded at once, split by thread:
 * - main: the main thread (handing packets to the worker, taking AAC frames back) — what the
 *   gateway's event loop pays;
 * - hostWorker: the shared worker thread (Opus decoding, concealment, feeding the encoders);
 * - encoders: the encoders' own threads (libavcodec's AAC encoder in WASM, one thread per stream);
 * - process: the whole process (also GC helper threads and the like).
 * Each figure is CPU ms per second of audio per stream, and % of one core per stream.
 *
 * Input: 10 s of stereo 48 kHz music-like test signal (two tones and noise) encoded once with
 * libopus at 96 kb/s in 20 ms packets, looped with running timestamps and paced in real time, as a
 * publisher would send it. Output: AAC-LC 128 kb/s stereo. CPU per thread comes from /proc (Linux):
 * schedstat nanoseconds of the main thread, the worker's thread and each encoder's thread, over
 * BENCH_SECONDS (12, at least 10) after BENCH_WARMUP (3) seconds. A run with no transcoder measures
 * the pacing loop itself (baseline). Prints one JSON line per run, then a summary.
 *
 *   npm run bench:opus-aac          BENCH_OPUS_AAC_STREAMS=1,4  BENCH_SECONDS=12  BENCH_WARMUP=3
 */
import { OpusEncoder } from '../gateway/src/transcode/opus-native.js';
import { OpusToAac } from '../gateway/src/transcode/opus-to-aac.js';
import { threadCpuMs } from '../gateway/src/transcode/thread-cpu.js';

const SECONDS = Math.max(10, Number(process.env.BENCH_SECONDS ?? 12));
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const STREAMS = (process.env.BENCH_OPUS_AAC_STREAMS ?? '1,4').split(',').map(Number);
const PACKET_MS = 20;
const PACKET_TICKS = PACKET_MS * 90;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 2) => +x.toFixed(d);

/** 10 s of stereo 20 ms Opus packets: 440 Hz left, 1 kHz right, and some noise on both. */
function makeClip(): Buffer[] {
  const enc = new OpusEncoder(2, 96_000);
  const packets: Buffer[] = [];
  const frame = 960;
  let seed = 1;
  const noise = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.1;
  for (let f = 0; f < (10 * 1000) / PACKET_MS; f++) {
    const pcm = new Int16Array(frame * 2);
    for (let i = 0; i < frame; i++) {
      const n = f * frame + i;
      pcm[i * 2] = Math.round((0.3 * Math.sin((2 * Math.PI * 440 * n) / 48000) + noise()) * 32767);
      pcm[i * 2 + 1] = Math.round((0.3 * Math.sin((2 * Math.PI * 1000 * n) / 48000) + noise()) * 32767);
    }
    packets.push(enc.encode(pcm));
  }
  enc.close();
  return packets;
}

interface Snapshot {
  at: number;
  process: number;
  main: number;
  hostWorker: number;
  encoders: number;
  /** The worker's own timing of its Opus decoding (wall ms inside decode, concealment and queueing). */
  decode: number;
  framesOut: number;
}

function snapshot(ts: OpusToAac[]): Snapshot {
  const usage = process.cpuUsage();
  return {
    at: performance.now(),
    process: (usage.user + usage.system) / 1000,
    main: threadCpuMs(process.pid) ?? NaN,
    hostWorker: ts.length ? (OpusToAac.workerCpuMs() ?? NaN) : 0,
    encoders: ts.reduce((s, t) => s + (t.encoderCpuMs ?? NaN), 0),
    decode: ts.reduce((s, t) => s + (t.stats?.decodeMs ?? 0), 0),
    framesOut: ts.reduce((s, t) => s + t.framesOut, 0),
  };
}

/**
 * A transcoder whose encoder runs. They are started one after the other: the worker can tell which
 * threads are an encoder's (its CPU counter) only when encoders do not start at the same time.
 */
async function startTranscoder(clip: Buffer[]): Promise<OpusToAac> {
  const t = OpusToAac.create({
    channels: 2,
    bitrate: 128_000,
    onConfig: () => {},
    onUnits: () => {},
    onError: (err) => {
      console.error(`transcoder failed: ${err.message}`);
      process.exit(1);
    },
    onWarning: (msg, fields) => console.error(msg, JSON.stringify(fields)),
  });
  for (let i = 0; i < 5; i++) t.push(clip[i]!, i * PACKET_TICKS);
  const deadline = performance.now() + 10_000;
  while (!t.stats?.encoderThreads.length && performance.now() < deadline) await sleep(20);
  return t;
}

async function run(streams: number, clip: Buffer[]) {
  const ts: OpusToAac[] = [];
  for (let i = 0; i < streams; i++) ts.push(await startTranscoder(clip));
  // Real-time pacing: every packet leaves when its time has come, as from a live publisher.
  const start = performance.now();
  let sent = 0;
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - start) / PACKET_MS) + 1;
    // From 10 s on: the AAC clock starts afresh after the priming packets (no gap to conceal).
    for (; sent < due; sent++) for (const t of ts) t.push(clip[sent % clip.length]!, 900_000 + sent * PACKET_TICKS);
  }, 5);
  await sleep(WARMUP * 1000);
  const rssMiB = process.memoryUsage().rss / 2 ** 20;
  const s0 = snapshot(ts);
  await sleep(SECONDS * 1000);
  const s1 = snapshot(ts);
  clearInterval(timer);
  const dropped = ts.reduce((s, t) => s + t.framesDropped, 0);
  const backlogMs = Math.max(0, ...ts.map((t) => t.backlog.oldestMs));
  for (const t of ts) t.close();

  const wall = (s1.at - s0.at) / 1000;
  // Audio transcoded in the window, per stream (AAC frames of 1024 samples at 48 kHz).
  const audioSeconds = streams ? (s1.framesOut - s0.framesOut) / streams / (48000 / 1024) : wall;
  const perStream = (ms: number) => (streams ? ms / streams : ms);
  const figure = (ms: number) => ({ cpuMsPerAudioSecond: round(perStream(ms) / audioSeconds), percentOfCore: round((perStream(ms) / (wall * 1000)) * 100) });
  return {
    run: streams ? `${streams} stream${streams > 1 ? 's' : ''}` : 'baseline (pacing loop, no transcoder)',
    streams,
    seconds: round(wall),
    audioSecondsPerStream: round(audioSeconds),
    realTimeFactor: round(audioSeconds / wall, 3),
    perStream: {
      main: figure(s1.main - s0.main),
      hostWorker: figure(s1.hostWorker - s0.hostWorker),
      hostWorkerOpusDecode: figure(s1.decode - s0.decode),
      encoders: figure(s1.encoders - s0.encoders),
      process: figure(s1.process - s0.process),
    },
    rssMiB: round(rssMiB, 0),
    framesDropped: dropped,
    worstBacklogMs: round(backlogMs, 0),
  };
}

const clip = makeClip();
const results = [];
for (const n of [0, ...STREAMS]) {
  const r = await run(n, clip);
  console.log(JSON.stringify(r));
  results.push(r);
  await sleep(500);
}
const baseline = results[0]!.perStream.main.cpuMsPerAudioSecond;
console.log(
  JSON.stringify(
    {
      summary: 'Opus → AAC, stereo 48 kHz, AAC-LC 128 kb/s: CPU ms per second of audio per stream (and % of one core)',
      node: process.version,
      baselineMainCpuMsPerSecond: baseline,
      baselineRssMiB: results[0]!.rssMiB,
      runs: results.slice(1).map((r) => ({
        streams: r.streams,
        mainMs: r.perStream.main.cpuMsPerAudioSecond,
        hostWorkerMs: r.perStream.hostWorker.cpuMsPerAudioSecond,
        ofWhichOpusDecodeMs: r.perStream.hostWorkerOpusDecode.cpuMsPerAudioSecond,
        encoderMs: r.perStream.encoders.cpuMsPerAudioSecond,
        processMs: r.perStream.process.cpuMsPerAudioSecond,
        processPercentOfCore: r.perStream.process.percentOfCore,
        offMainThreadPercentOfCore: round(r.perStream.hostWorker.percentOfCore + r.perStream.encoders.percentOfCore),
        mainPercentOfCore: r.perStream.main.percentOfCore,
        rssMiB: r.rssMiB,
        framesDropped: r.framesDropped,
      })),
    },
    null,
    2,
  ),
);
