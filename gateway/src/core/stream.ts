import { TypedEmitter } from './events.js';
import { GopCache, type GopCacheLimits } from './gop-cache.js';
import { TIMESCALE, type AudioCodec, type MediaUnit, type StreamMetadata, type Track, type VideoCodec } from './media-unit.js';
import { silentLogger, type Logger } from './log.js';
import { ReaderQueue, type OmittedTrack, type ReaderInfo, type ReaderQueueLimits, type ReaderSink } from './reader.js';
import type { AccessGrant } from './access.js';
import type { AudioRendition, ReaderWants, RenditionMaker, RenditionView } from './rendition.js';
import { addRenditionReader } from './rendition-reader.js';
import { StreamOutputs, type OutputView } from './stream-outputs.js';

/** Who is publishing a stream: the ingest session, seen from the core. */
export interface PublisherInfo {
  readonly id: string;
  readonly protocol: string;
  readonly remoteAddress: string;
  /** Query string the publisher sent (e.g. "token=…"). */
  readonly query?: string;
  /** The bearer token of an `Authorization: Bearer …` header (WHIP). */
  readonly bearer?: string;
  /** What the admission gate allowed (who, until when): see `StreamRegistry.admit`. */
  readonly grant?: AccessGrant;
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

/** Least time left between the last unit of one publisher and the first of the next (one frame at 30 fps). */
const MIN_HANDOVER_GAP = TIMESCALE / 30;

/** A unit with its times moved (the same data and memo: nothing memoised at ingest depends on time). */
function shifted(u: MediaUnit, by: number): MediaUnit {
  return { track: u.track, dts: u.dts + by, pts: u.pts + by, keyframe: u.keyframe, data: u.data, receivedAt: u.receivedAt, memo: u.memo };
}

export interface StreamOptions extends ReaderQueueLimits {
  gop: GopCacheLimits;
  /** How to make the stream's audio in other codecs, for readers that ask (see rendition.ts). */
  renditions?: readonly RenditionMaker[];
}

export type StreamEvents = {
  'reader-added': ReaderInfo;
  'reader-removed': ReaderInfo & { reason: string };
  'track': Track;
  'end': { reason: string };
};

/** One reader as the API shows it. */
export interface ReaderState extends ReaderInfo {
  readonly unitsSent: number;
  readonly unitsSkipped: number;
  /** Tracks of the stream this reader does not get (its protocol cannot carry them), and why. */
  readonly omittedTracks: OmittedTrack[];
}

export interface ReaderHandle {
  readonly info: ReaderInfo;
  /** Detaches the reader; idempotent. */
  close(): void;
  /**
   * How much later than its source the audio this reader gets leaves (ms): the delay of the
   * rendition it plays, 0 when it plays the source's audio. Readers that keep lip sync by sending
   * time hold their video back by as much.
   */
  audioDelayMs?(): number;
}

/**
 * A live path: its tracks, metadata, GOP cache and the fan-out to readers. Exactly one publisher
 * feeds it; it ends when that publisher goes away.
 */
export class Stream extends TypedEmitter<StreamEvents> {
  private trackList: Track[] = [];
  private meta: StreamMetadata | null = null;
  private readonly gop: GopCache;
  private readonly readerQueues = new Map<string, ReaderQueue>();
  private ended = false;
  private hasVideoTrack = false;
  /** Video with B-frames (presentation order ≠ decode order) was seen: WebRTC players cannot show it. */
  videoReordered = false;

  readonly startedAt = Date.now();
  lastActivity = performance.now();
  /** Publishers that took this stream over from a previous one (see `handOver`). */
  handovers = 0;
  private currentPublisher: PublisherInfo;
  /** Highest dts pushed so far (90 kHz, as readers saw it), for the time shift of a hand-over. */
  private lastDts: number | null = null;
  /** Added to the times of every unit since a hand-over, so that the stream's timeline runs on. */
  private timeShift = 0;
  /** Set by a hand-over until the new publisher's first unit fixes `timeShift`. */
  private rebaseFrom: { dts: number; at: number } | null = null;
  bytesIn = 0;
  unitsIn = 0;
  /** Bytes per second over the last stats interval (maintained by the registry). */
  bitrate = 0;
  private bytesAtLastTick = 0;

  /** `protocol|track id|codec` of the omitted tracks already logged (once per stream, not per reader). */
  private readonly omissionsLogged = new Set<string>();
  /** The stream's running renditions, by `from>to`. */
  private readonly renditionsByKey = new Map<string, AudioRendition>();
  /** Per-stream outputs (muxers shared by the readers of a protocol): one lifecycle for all. */
  readonly outputs = new StreamOutputs(this);

  constructor(
    readonly path: string,
    publisher: PublisherInfo,
    private readonly options: StreamOptions,
    private readonly log: Logger = silentLogger,
  ) {
    super();
    this.currentPublisher = publisher;
    this.gop = new GopCache(options.gop);
  }

  /** The ingest session feeding the stream now. */
  get publisher(): PublisherInfo {
    return this.currentPublisher;
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

  /** Every reader with its counters and the tracks it does not get (for the API). */
  readerStates(): ReaderState[] {
    return [...this.readerQueues.values()].map((q) => ({
      ...q.info,
      unitsSent: q.unitsSent,
      unitsSkipped: q.unitsSkipped,
      omittedTracks: [...q.omitted.values()],
    }));
  }

  /** Adds a track or replaces the one with the same id (e.g. new decoder configuration). */
  setTrack(track: Track): void {
    if (this.ended) return;
    const i = this.trackList.findIndex((t) => t.id === track.id);
    if (i >= 0) this.trackList[i] = track;
    else this.trackList.push(track);
    if (track.kind === 'video') this.hasVideoTrack = true;
    this.lastActivity = performance.now();
    for (const q of this.readerQueues.values()) {
      q.sink.trackUpdate(track, this.trackList);
      this.checkOmitted(q, track);
    }
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
    if (this.rebaseFrom) this.fixTimeShift(units[0]!);
    if (this.timeShift !== 0) units = units.map((u) => shifted(u, this.timeShift));
    for (const unit of units) {
      if (this.lastDts === null || unit.dts > this.lastDts) this.lastDts = unit.dts;
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
   *
   * `wants.audio`: the audio codecs the reader plays. Audio in another codec that a rendition can turn
   * into one of them reaches the reader as that rendition, shared with every reader that needs it;
   * audio nothing can turn into one of them passes as it is (the sink's `omits` says so).
   */
  addReader(info: ReaderInfo, sink: ReaderSink, wants?: ReaderWants): ReaderHandle {
    if (this.ended) throw new Error(`stream ${this.path} has ended`);
    const accepted = wants?.audio;
    // A reader that could ever need a rendition is wrapped from the start: the audio may change codec
    // with a new publisher (a hand-over from RTMP's AAC to WHIP's Opus keeps an FLV reader's sound).
    if (accepted && this.options.renditions?.some((m) => accepted.includes(m.to) && !accepted.includes(m.from))) {
      return addRenditionReader(this, info, sink, {
        choose: (codec) => {
          const maker = this.makerFor(accepted, codec);
          if (!maker) return null;
          return {
            from: maker.from,
            sourceFor: () => this.rendition(maker),
            placeholder: (t) => maker.placeholder(t),
            ...(maker.metadata ? { metadata: (m: StreamMetadata) => maker.metadata!(m) } : {}),
          };
        },
        maxBacklogBytes: this.options.maxBacklogBytes,
      });
    }
    const queue = new ReaderQueue(info, sink, this.options, () => this.hasVideoTrack);
    this.readerQueues.set(info.id, queue);
    sink.start({ path: this.path, tracks: this.trackList, metadata: this.meta });
    for (const t of this.trackList) this.checkOmitted(queue, t);
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

  /** The rendition a reader that plays `accepted` needs for audio in `codec` (none when it plays it). */
  private makerFor(accepted: readonly AudioCodec[], codec: AudioCodec): RenditionMaker | undefined {
    if (accepted.includes(codec)) return undefined;
    return this.options.renditions?.find((m) => m.from === codec && accepted.includes(m.to));
  }

  /** The stream's running rendition of `maker`, made on first use (and again once stopped). */
  rendition(maker: RenditionMaker): AudioRendition {
    const key = `${maker.from}>${maker.to}`;
    let r = this.renditionsByKey.get(key);
    if (!r || r.isClosed) {
      r = maker.make(this);
      this.renditionsByKey.set(key, r);
    }
    return r;
  }

  /** The stream's rendition from `from` into `to`, if one has been made and is not stopped. */
  currentRendition(from: AudioCodec, to: AudioCodec): AudioRendition | undefined {
    const r = this.renditionsByKey.get(`${from}>${to}`);
    return r && !r.isClosed ? r : undefined;
  }

  /** The renditions running now, for the API. */
  renditionViews(): RenditionView[] {
    return [...this.renditionsByKey.values()].filter((r) => r.running && !r.isClosed).map((r) => r.view());
  }

  /** The per-stream outputs running now, for the API. */
  outputViews(): OutputView[] {
    return this.outputs.views();
  }

  /**
   * Another publisher takes the stream over (the previous one was silent too long, or take-over is
   * allowed): path, readers, transcoders and outputs stay. The previous publisher must be closed
   * first (what it still held has been pushed). Readers wait for the new publisher's first keyframe;
   * its tracks replace the old ones as it announces them; its times are shifted to run on from the
   * last unit readers got (plus the silence in between), so no reader sees time jump back.
   */
  handOver(publisher: PublisherInfo): void {
    if (this.ended) return;
    this.currentPublisher = publisher;
    this.handovers++;
    if (this.lastDts !== null) this.rebaseFrom = { dts: this.lastDts, at: this.lastActivity };
    this.trackList = [];
    this.hasVideoTrack = false;
    this.videoReordered = false;
    this.gop.clear();
    this.lastActivity = performance.now();
    for (const q of this.readerQueues.values()) q.restart();
    // Every reader waits for a keyframe: a source that makes them on demand is asked for one.
    if (this.readerQueues.size > 0) publisher.requestKeyframe?.('took the path over');
  }

  /** The first unit after a hand-over lands one frame or the silence after the last one, whichever is more. */
  private fixTimeShift(first: MediaUnit): void {
    const from = this.rebaseFrom!;
    this.rebaseFrom = null;
    const gap = Math.max(MIN_HANDOVER_GAP, Math.round((first.receivedAt - from.at) * (TIMESCALE / 1000)));
    this.timeShift = from.dts + gap - first.dts;
  }

  /** Asks the reader whether it carries `track`; a track it cannot carry is recorded and logged. */
  private checkOmitted(q: ReaderQueue, track: Track): void {
    const reason = q.sink.omits?.(track) ?? null;
    if (!reason) {
      q.omitted.delete(track.id);
      return;
    }
    const before = q.omitted.get(track.id);
    if (before?.codec === track.codec && before.reason === reason) return;
    q.omitted.set(track.id, { id: track.id, kind: track.kind, codec: track.codec, reason });
    const key = `${q.info.protocol}|${track.id}|${track.codec}`;
    if (this.omissionsLogged.has(key)) return;
    this.omissionsLogged.add(key);
    this.log.warn('track not carried to readers', { path: this.path, protocol: q.info.protocol, reader: q.info.id, track: track.id, codec: track.codec, reason });
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

  /** Drops the reader `id` (kicked through the API); false when it is not a reader of this stream. */
  dropReader(id: string, reason: string): boolean {
    const q = this.readerQueues.get(id);
    if (!q) return false;
    this.removeQueue(q, reason);
    q.sink.drop(reason);
    return true;
  }

  /** Drops the readers whose credentials expired before `wallNow` (ms since the epoch). */
  closeExpiredReaders(wallNow: number): void {
    for (const q of [...this.readerQueues.values()]) {
      const until = q.info.grant?.expiresAt;
      if (until === undefined || until === null || until > wallNow) continue;
      this.removeQueue(q, 'credentials expired');
      q.sink.drop('credentials expired');
    }
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
