/**
 * The main thread's side of the shared Opus → AAC worker: starts it on first use, routes its
 * messages by transcoder id, batches input per turn of the event loop, and terminates it when the
 * last transcoder closes. A worker that dies takes its transcoders with it (each gets an error); the
 * next transcoder starts a fresh one.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { OUT_FIELDS, PUSH_RESYNC, type FromWorker, type PipelineStats, type ToWorker } from './opus-to-aac-messages.js';

/** One raw AAC frame (no ADTS header) and its pts in 90 kHz ticks. */
export interface AacUnit {
  data: Buffer;
  pts: number;
}

/** What a transcoder hears from the worker. Called on the main thread, never re-entrantly. */
export interface HostClient {
  config(asc: Buffer): void;
  units(units: AacUnit[]): void;
  stats(stats: PipelineStats): void;
  warning(msg: string, fields: Record<string, string | number>): void;
  /** The transcoder is over (its encoder or the whole worker failed). */
  error(err: Error): void;
}

interface PendingPush {
  id: number;
  pts: number;
  data: Buffer;
  flags: number;
}

/**
 * The worker's file sits next to this one with the same extension: `.ts` when run through tsx (tests,
 * development), `.js` when compiled into dist. Node 20 does not apply the parent's `--import tsx`
 * hooks to a worker's entry file, so under tsx a small bootstrap registers tsx in the worker first.
 */
function startWorker(): Worker {
  const ext = extname(fileURLToPath(import.meta.url));
  const entry = new URL(`./opus-to-aac-worker${ext}`, import.meta.url);
  // No inherited flags: the encoders' own workers (inline scripts, which mediabunny starts from
  // inside this one) must run as plain scripts whatever the main thread was started with.
  const options = { execArgv: [] };
  if (ext !== '.ts') return new Worker(entry, options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

export class AacWorkerHost {
  private static shared: AacWorkerHost | null = null;

  /** The process's worker, started on first use. */
  static acquire(): AacWorkerHost {
    return (AacWorkerHost.shared ??= new AacWorkerHost());
  }

  /** The running worker, if any (tests, benchmarks). */
  static get current(): AacWorkerHost | null {
    return AacWorkerHost.shared;
  }

  private readonly worker: Worker;
  private readonly clients = new Map<number, HostClient>();
  private nextId = 1;
  private pending: PendingPush[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private dead = false;
  /** The worker's thread id (for its CPU counter), once it has started. */
  threadId: number | null = null;
  /** performance.now() when the worker reported that it runs. */
  readyAt: number | null = null;

  private constructor() {
    this.worker = startWorker();
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`Opus → AAC worker exited (code ${code})`)));
  }

  get transcoderCount(): number {
    return this.clients.size;
  }

  open(client: HostClient, channels: 1 | 2, bitrate: number): number {
    const id = this.nextId++;
    this.clients.set(id, client);
    this.post({ type: 'open', id, channels, bitrate });
    return id;
  }

  push(id: number, data: Buffer, pts: number, resync: boolean): void {
    if (this.dead) return;
    this.pending.push({ id, pts, data, flags: resync ? PUSH_RESYNC : 0 });
    this.pendingBytes += data.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  close(id: number): void {
    if (!this.clients.delete(id) || this.dead) return;
    if (this.clients.size > 0) return this.post({ type: 'close', id });
    // The last transcoder is gone: so is the worker (and with it every encoder thread).
    this.dead = true;
    if (AacWorkerHost.shared === this) AacWorkerHost.shared = null;
    void this.worker.terminate();
  }

  /** Ends the worker as if it had crashed (tests). */
  crashForTests(): void {
    this.fail(new Error('Opus → AAC worker terminated by a test'));
  }

  private flush(): void {
    this.scheduled = false;
    if (this.dead || this.pending.length === 0) return;
    const bytes = new ArrayBuffer(this.pendingBytes);
    const view = new Uint8Array(bytes);
    const entries: number[] = [];
    let at = 0;
    for (const p of this.pending) {
      view.set(p.data, at);
      entries.push(p.id, p.pts, at, p.data.length, p.flags);
      at += p.data.length;
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.worker.postMessage({ type: 'push', bytes, entries } satisfies ToWorker, [bytes]);
  }

  private post(msg: ToWorker): void {
    if (!this.dead) this.worker.postMessage(msg);
  }

  private onMessage(m: FromWorker): void {
    if (this.dead) return;
    switch (m.type) {
      case 'ready':
        this.threadId = m.threadId;
        this.readyAt = performance.now();
        return;
      case 'config':
        return this.call(m.id, (c) => c.config(Buffer.from(m.asc.buffer, m.asc.byteOffset, m.asc.byteLength)));
      case 'warning':
        return this.call(m.id, (c) => c.warning(m.msg, m.fields));
      case 'error': {
        const client = this.clients.get(m.id);
        this.close(m.id);
        client?.error(new Error(m.message));
        return;
      }
      case 'out': {
        for (const s of m.stats) this.call(s.id, (c) => c.stats(s));
        // The units of one batch share its buffer; each unit is a view of it, never a copy.
        const buf = Buffer.from(m.bytes);
        const byId = new Map<number, AacUnit[]>();
        const e = m.entries;
        for (let i = 0; i + OUT_FIELDS <= e.length; i += OUT_FIELDS) {
          const id = e[i]!;
          let list = byId.get(id);
          if (!list) byId.set(id, (list = []));
          list.push({ pts: e[i + 1]!, data: buf.subarray(e[i + 2]!, e[i + 2]! + e[i + 3]!) });
        }
        for (const [id, units] of byId) this.call(id, (c) => c.units(units));
        return;
      }
    }
  }

  /** A client that throws is a bug on its side: that transcoder ends with the error, the others go on. */
  private call(id: number, fn: (c: HostClient) => void): void {
    const client = this.clients.get(id);
    if (!client) return;
    try {
      fn(client);
    } catch (err) {
      this.close(id);
      client.error(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private fail(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    if (AacWorkerHost.shared === this) AacWorkerHost.shared = null;
    const clients = [...this.clients.values()];
    this.clients.clear();
    void this.worker.terminate();
    for (const c of clients) {
      try {
        c.error(err);
      } catch {
        // Already failing; nothing more to tell it.
      }
    }
  }
}
