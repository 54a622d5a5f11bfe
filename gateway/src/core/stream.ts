import { TypedEmitter } from './events.js';
import { GopCache, type GopCacheLimits } from './gop-cache.js';
import type { MediaUnit, StreamMetadata, Track, VideoCodec } from './media-unit.js';
import { ReaderQueue, type ReaderInfo, type ReaderQueueLimits, type ReaderSink } from './reader.js';

/** Who is publishing a stream: the ingest session, seen from the core. */
export interface PublisherInfo {
  readonly id: string;
  readonly protocol: string;
  readonly remoteAddress: string;
  /** Query string the publisher sent (e.g. "token=…"), kept for authentication. */
  readonly query?: string;
  /** The bearer token of an `Authorization: Bearer …` header (WHIP), kept for authentication. */
  readonly bearer?: string;
  /** The video codec the source will send, when it is known before the first frame (WHIP: negotiated). */
  readonly videoCodec?: VideoCodec;
  /** Ends the ingest session (idle timeout, take-over, shutdown). Must be idempotent. */
  close(reason: string): void;
  /**
   * Asks the source for a keyframe soon (WebRTC PLI), when it can make one on demand; rate limiting
   * is the publisher's business. Absent for sources that cannot (RTMP, SRT).
   */
  requestKeyframe?(reason: string): void;
}

/**
 * A cached GOP older than this is not replayed to a new reader when the publisher can make a
 * keyframe on demand (WHIP): the reader waits for the one it asks for (a round trip away) instead.
 */
export const STALE_GOP_MS = 2000;

export interface StreamOptions extends ReaderQueueLimits {
  gop: GopCacheLimits;
}

export type StreamEvents = {
  'reader-added': ReaderInfo;
  'reader-removed': ReaderInfo & { reason: string };
  'track': Track;
  'end': { reason: string };
};

export interface ReaderHandle {
  readonly info: ReaderInfo;
  /** Detaches the reader; idempotent. */
  close(): void;
}

/**
 * A live path: its tracks, metadata, GOP cache and the fan-out to readers. Exactly one publisher
 * feeds it; it ends when that publisher goes away.
 */
export class Stream extends TypedEmitter<StreamEvents> {
  private readonly trackList: Track[] = [];
  private meta: StreamMetadata | null = null;
  private readonly gop: GopCache;
  private readonly readerQueues = new Map<string, ReaderQueue>();
  private ended = false;
  private hasVideoTrack = false;
  /** Video with B-frames (presentation order ≠ decode order) was seen: WebRTC players cannot show it. */
  videoReordered = false;

  readonly startedAt = Date.now();
  lastActivity = performance.now();
  bytesIn = 0;
  unitsIn = 0;
  /** Bytes per second over the last stats interval (maintained by the registry). */
  bitrate = 0;
  private bytesAtLastTick = 0;

  constructor(
    readonly path: string,
    readonly publisher: PublisherInfo,
    private readonly options: StreamOptions,
  ) {
    super();
    this.gop = new GopCache(options.gop);
  }

  get tracks(): readonly Track[] {
    return this.trackList;
  }
  get metadata(): StreamMetadata | null {
    return this.meta;
  }
  get isEnded(): boolean {
    return this.ended;
  }
  get readerCount(): number {
    return this.readerQueues.size;
  }
  readers(): ReaderInfo[] {
    return [...this.readerQueues.values()].map((q) => q.info);
  }

  /** Adds a track or replaces the one with the same id (e.g. new decoder configuration). */
  setTrack(track: Track): void {
    if (this.ended) return;
    const i = this.trackList.findIndex((t) => t.id === track.id);
    if (i >= 0) this.trackList[i] = track;
    else this.trackList.push(track);
    if (track.kind === 'video') this.hasVideoTrack = true;
    this.lastActivity = performance.now();
    for (const q of this.readerQueues.values()) q.sink.trackUpdate(track, this.trackList);
    this.emit('track', track);
  }

  setMetadata(meta: StreamMetadata): void {
    if (this.ended) return;
    this.meta = meta;
    for (const q of this.readerQueues.values()) q.sink.metadata(meta);
  }

  /** Fans one unit out to every reader. The unit's Buffers are shared, never copied. */
  push(unit: MediaUnit): void {
    this.pushMany([unit]);
  }

  /**
   * Fans out units that arrived together (one read of the publisher's socket), reader by reader:
   * each reader gets all of them in one batch, so one syscall, and readers early in the loop are
   * not held back by the others.
   */
  pushMany(units: readonly MediaUnit[]): void {
    if (this.ended || units.length === 0) return;
    for (const unit of units) {
      if (unit.pts !== unit.dts && unit.track.kind === 'video') this.videoReordered = true;
      this.bytesIn += unit.data.length;
      this.unitsIn++;
      this.gop.add(unit);
    }
    const now = (this.lastActivity = units[units.length - 1]!.receivedAt);
    const batch = units.length > 1;
    let dropped: ReaderQueue[] | undefined;
    for (const q of this.readerQueues.values()) {
      if (batch) q.sink.beginBatch?.();
      for (const unit of units) {
        if (!q.offer(unit, now)) {
          (dropped ??= []).push(q);
          break;
        }
      }
      if (batch) q.sink.endBatch?.();
    }
    if (dropped) {
      for (const q of dropped) {
        const reason = `slow reader: still behind after ${this.options.stuckTimeoutMs} ms`;
        this.removeQueue(q, reason);
        q.sink.drop(reason);
      }
    }
  }

  /**
   * Attaches a reader: it gets the tracks and metadata, then the cached GOP (so it starts on a
   * keyframe at once), then live units. A publisher that can make keyframes is asked for one when
   * nothing usable is cached (none, or older than STALE_GOP_MS).
   */
  addReader(info: ReaderInfo, sink: ReaderSink): ReaderHandle {
    if (this.ended) throw new Error(`stream ${this.path} has ended`);
    const queue = new ReaderQueue(info, sink, this.options, () => this.hasVideoTrack);
    this.readerQueues.set(info.id, queue);
    sink.start({ path: this.path, tracks: this.trackList, metadata: this.meta });
    const now = performance.now();
    let cached = this.gop.snapshot();
    const canMakeKeyframes = this.publisher.requestKeyframe !== undefined;
    if (canMakeKeyframes && cached.length > 0 && now - cached[0]!.receivedAt > STALE_GOP_MS) {
      // A browser publisher sends keyframes only when asked: its GOP may be minutes long, and a
      // reader started on it would be that far behind live. Ask for a fresh keyframe instead.
      cached = [];
    }
    for (const unit of cached) queue.offer(unit, now);
    // Nothing to start the reader on: a source that can make a keyframe is asked for one.
    if (cached.length === 0 && this.hasVideoTrack) this.publisher.requestKeyframe?.(`new reader ${info.id}`);
    this.emit('reader-added', info);
    return { info, close: () => this.removeQueue(queue, 'reader closed') };
  }

  /** The publisher is gone: every reader gets end-of-stream and is detached. */
  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    const queues = [...this.readerQueues.values()];
    this.readerQueues.clear();
    for (const q of queues) {
      q.closed = true;
      q.sink.end(reason);
      this.emit('reader-removed', { ...q.info, reason: `stream ended: ${reason}` });
    }
    this.gop.clear();
    this.emit('end', { reason });
    this.removeAllListeners();
  }

  /** Called once a second by the registry. */
  tick(intervalMs: number): void {
    this.bitrate = ((this.bytesIn - this.bytesAtLastTick) * 1000) / intervalMs;
    this.bytesAtLastTick = this.bytesIn;
  }

  get gopCacheSize(): { units: number; bytes: number } {
    return this.gop.size;
  }

  private removeQueue(queue: ReaderQueue, reason: string): void {
    if (queue.closed) return;
    queue.closed = true;
    if (this.readerQueues.get(queue.info.id) === queue) this.readerQueues.delete(queue.info.id);
    this.emit('reader-removed', { ...queue.info, reason });
  }
}
