/**
 * The Opus → AAC host worker: one per process, serving every transcoder (OpusAacPipeline) by id.
 * Decoding and encoding happen here and in the encoders' own workers, never on the main thread,
 * which only copies bytes in and out. Output is batched per turn of the event loop, as input is.
 */
import { parentPort } from 'node:worker_threads';
import { registerAacEncoder } from '@mediabunny/aac-encoder';
import { OpusAacPipeline, type StartGate } from './opus-aac-pipeline.js';
import { PUSH_FIELDS, PUSH_RESYNC, type FromWorker, type ToWorker } from './opus-to-aac-messages.js';
import { currentThreadId } from './thread-cpu.js';

const port = parentPort;
if (!port) throw new Error('opus-to-aac-worker runs as a worker thread only');

registerAacEncoder();

const pipelines = new Map<number, OpusAacPipeline>();
let outChunks: Uint8Array[] = [];
let outEntries: number[] = [];
let outBytes = 0;
const changed = new Set<number>();
let scheduled = false;

let watching = false;
let spoiled = false;
const gate: StartGate = {
  tryEnter: () => {
    if (watching) return false;
    watching = true;
    spoiled = false;
    return true;
  },
  spoil: () => void (spoiled = true),
  leave: () => {
    watching = false;
    return !spoiled;
  },
};

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(flush);
}

function flush(): void {
  scheduled = false;
  const bytes = new ArrayBuffer(outBytes);
  const view = new Uint8Array(bytes);
  let at = 0;
  for (const c of outChunks) {
    view.set(c, at);
    at += c.length;
  }
  const stats = [...changed].flatMap((id) => {
    const p = pipelines.get(id);
    return p ? [{ ...p.stats }] : [];
  });
  post({ type: 'out', bytes, entries: outEntries, stats }, [bytes]);
  outChunks = [];
  outEntries = [];
  outBytes = 0;
  changed.clear();
}

function open(id: number, channels: 1 | 2, bitrate: number): void {
  const pipeline = new OpusAacPipeline(
    id,
    channels,
    bitrate,
    {
      config: (asc) => post({ type: 'config', id, asc }),
      unit: (data, pts) => {
        outEntries.push(id, pts, outBytes, data.length);
        outChunks.push(data);
        outBytes += data.length;
        changed.add(id);
        schedule();
      },
      changed: () => {
        changed.add(id);
        schedule();
      },
      warning: (msg, fields) => post({ type: 'warning', id, msg, fields }),
      error: (err) => {
        pipelines.delete(id);
        post({ type: 'error', id, message: err.message });
      },
    },
    gate,
  );
  pipelines.set(id, pipeline);
  pipeline.start().catch((err: unknown) => {
    pipeline.close();
    pipelines.delete(id);
    post({ type: 'error', id, message: `AAC encoder did not start: ${err instanceof Error ? err.message : String(err)}` });
  });
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'open':
      return open(msg.id, msg.channels, msg.bitrate);
    case 'push': {
      const e = msg.entries;
      for (let i = 0; i + PUSH_FIELDS <= e.length; i += PUSH_FIELDS) {
        const p = pipelines.get(e[i]!);
        if (p) p.push(Buffer.from(msg.bytes, e[i + 2]!, e[i + 3]!), e[i + 1]!, (e[i + 4]! & PUSH_RESYNC) !== 0);
      }
      return;
    }
    case 'close':
      pipelines.get(msg.id)?.close();
      pipelines.delete(msg.id);
      return;
  }
});

post({ type: 'ready', threadId: currentThreadId() });
