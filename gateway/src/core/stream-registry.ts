import { TypedEmitter } from './events.js';
import { StreamBusyError } from './errors.js';
import type { Logger } from './log.js';
import { Stream, type PublisherInfo, type StreamOptions } from './stream.js';

export interface RegistryOptions extends StreamOptions {
  /** A second publisher on a live path replaces the first instead of being refused. */
  allowTakeover: boolean;
  /** A publisher that sends nothing for this long is disconnected. */
  publisherIdleTimeoutMs: number;
}

export type RegistryEvents = {
  publish: Stream;
  unpublish: { stream: Stream; reason: string };
};

const TICK_MS = 1000;

/** Normalises a user-visible path: no leading/trailing slashes, no empty or dot segments. */
export function normalizePath(raw: string): string | null {
  const parts = raw.split('/').filter((p) => p.length > 0);
  if (parts.length === 0) return null;
  for (const p of parts) {
    if (p === '.' || p === '..' || p.length > 128 || !/^[\w.~@:+-]+$/.test(p)) return null;
  }
  const path = parts.join('/');
  return path.length <= 256 ? path : null;
}

/** path → live Stream. The only place that decides who may publish where. */
export class StreamRegistry extends TypedEmitter<RegistryEvents> {
  private readonly streams = new Map<string, Stream>();
  private readonly timer: NodeJS.Timeout;
  private lastTick = performance.now();

  constructor(
    readonly options: RegistryOptions,
    private readonly log: Logger,
  ) {
    super();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  get(path: string): Stream | undefined {
    return this.streams.get(path);
  }

  list(): Stream[] {
    return [...this.streams.values()];
  }

  /**
   * Starts a stream at `path` for `publisher`. Throws StreamBusyError when the path is live and
   * take-over is off; with take-over, the previous publisher is closed and its readers ended.
   */
  publish(path: string, publisher: PublisherInfo): Stream {
    const existing = this.streams.get(path);
    if (existing) {
      if (!this.options.allowTakeover) throw new StreamBusyError(path);
      this.log.info('publisher taken over', { path, old: existing.publisher.id, new: publisher.id });
      this.unpublish(existing, `taken over by ${publisher.id}`);
      existing.publisher.close('taken over by another publisher');
    }
    const stream = new Stream(path, publisher, this.options);
    this.streams.set(path, stream);
    this.emit('publish', stream);
    return stream;
  }

  /** Ends `stream` (readers get end-of-stream) and frees its path. Idempotent. */
  unpublish(stream: Stream, reason: string): void {
    if (this.streams.get(stream.path) === stream) this.streams.delete(stream.path);
    if (stream.isEnded) return;
    stream.end(reason);
    this.emit('unpublish', { stream, reason });
  }

  /** Ends every stream (shutdown). */
  closeAll(reason: string): void {
    for (const stream of [...this.streams.values()]) {
      stream.publisher.close(reason);
      this.unpublish(stream, reason);
    }
    clearInterval(this.timer);
  }

  private tick(): void {
    const now = performance.now();
    const interval = now - this.lastTick;
    this.lastTick = now;
    for (const stream of this.streams.values()) {
      stream.tick(interval);
      if (now - stream.lastActivity > this.options.publisherIdleTimeoutMs) {
        this.log.warn('publisher idle, closing', { path: stream.path, id: stream.publisher.id });
        stream.publisher.close(`idle for ${this.options.publisherIdleTimeoutMs} ms`);
        this.unpublish(stream, 'publisher idle timeout');
      }
    }
  }
}
