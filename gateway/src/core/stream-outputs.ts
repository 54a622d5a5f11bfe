/**
 * Per-stream outputs: stateful muxers that read a stream once for all the readers of one protocol
 * (the MPEG-TS muxer of SRT readers, the HLS muxer). One lifecycle for every kind: the first user
 * starts the output (attached to the stream as an internal reader, so it sees the cached GOP), every
 * user shares it, and it stops `lingerMs` after the last one lets it go — or when the stream ends.
 */
import type { ReaderSink } from './reader.js';
import type { ReaderWants } from './rendition.js';
import type { ReaderHandle, Stream } from './stream.js';

/** What an output is and how to make one. */
export interface OutputKind<T extends ReaderSink> {
  /** Names the output in the API and in the stream's reader list (e.g. 'srt-mux', 'hls'). */
  readonly name: string;
  make(stream: Stream): T;
  /** How long the output lives on after its last user (ms); 0 stops it at once. */
  readonly lingerMs: number;
  /** Called when the output stops (the stream ended, or the linger ran out). */
  stopped?(output: T, reason: string): void;
  /** The codecs it takes (e.g. AAC audio: an Opus source's AAC rendition is made for it). */
  readonly wants?: ReaderWants;
  /** Figures for the API (bytes held, segments…). */
  describe?(output: T): { [figure: string]: number };
}

/** One user's hold on an output. */
export interface OutputLease<T> {
  readonly output: T;
  /** Lets the output go; idempotent. */
  release(): void;
}

/** An output as the API shows it. */
export interface OutputView {
  name: string;
  /** Users holding it (readers of its protocol, requests in flight). */
  users: number;
  /** Whether its last user has gone and it is lingering. */
  lingering: boolean;
  /** The output's own figures (e.g. the HLS window's segments and bytes). */
  stats?: { [figure: string]: number };
}

interface Running {
  readonly kind: OutputKind<ReaderSink>;
  readonly output: ReaderSink;
  readonly handle: ReaderHandle;
  users: number;
  linger: NodeJS.Timeout | null;
}

export class StreamOutputs {
  private readonly running = new Map<string, Running>();

  constructor(private readonly stream: Stream) {
    stream.on('end', ({ reason }) => this.stopAll(`stream ended: ${reason}`));
  }

  /** Holds the stream's output of `kind`, starting it when none runs. Throws when the stream has ended. */
  use<T extends ReaderSink>(kind: OutputKind<T>): OutputLease<T> {
    let r = this.running.get(kind.name);
    if (!r) {
      const output = kind.make(this.stream);
      const handle = this.stream.addReader({ id: `${kind.name}/${this.stream.path}`, protocol: kind.name, remoteAddress: 'internal' }, output, kind.wants);
      r = { kind: kind as OutputKind<ReaderSink>, output, handle, users: 0, linger: null };
      this.running.set(kind.name, r);
    }
    const held = r;
    if (held.linger) clearTimeout(held.linger);
    held.linger = null;
    held.users++;
    let released = false;
    return {
      output: held.output as T,
      release: () => {
        if (released) return;
        released = true;
        if (--held.users > 0 || this.running.get(kind.name) !== held) return;
        if (kind.lingerMs <= 0) return this.stop(held, 'no more users');
        held.linger = setTimeout(() => this.stop(held, 'no more users'), kind.lingerMs);
        held.linger.unref();
      },
    };
  }

  /** The running output of `name`, if any (for the API and tests). */
  get<T extends ReaderSink>(name: string): T | undefined {
    return this.running.get(name)?.output as T | undefined;
  }

  views(): OutputView[] {
    return [...this.running.values()].map((r) => {
      const stats = r.kind.describe?.(r.output);
      return { name: r.kind.name, users: r.users, lingering: r.linger !== null, ...(stats ? { stats } : {}) };
    });
  }

  private stop(r: Running, reason: string): void {
    if (this.running.get(r.kind.name) !== r) return;
    this.running.delete(r.kind.name);
    if (r.linger) clearTimeout(r.linger);
    r.handle.close();
    r.kind.stopped?.(r.output, reason);
  }

  private stopAll(reason: string): void {
    for (const r of [...this.running.values()]) this.stop(r, reason);
  }
}
