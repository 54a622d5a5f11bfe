import type { AccessGrant } from './access.js';
import type { MediaUnit, StreamMetadata, Track } from './media-unit.js';

/** What a reader (one viewer connection) learns when it attaches to a live stream. */
export interface StreamStart {
  readonly path: string;
  readonly tracks: readonly Track[];
  readonly metadata: StreamMetadata | null;
}

/**
 * The output side of one reader: a protocol's from-stream adapter implements it. The Stream calls
 * it synchronously from the publisher's receive path, so every method must be cheap and must never
 * throw for a peer problem (close instead).
 */
export interface ReaderSink {
  /** Called once, first, before any unit. */
  start(info: StreamStart): void;
  unit(unit: MediaUnit): void;
  /** A track was added or its decoder configuration changed (e.g. a new SPS/PPS). */
  trackUpdate(track: Track, tracks: readonly Track[]): void;
  metadata(meta: StreamMetadata): void;
  /** The publisher went away: send the protocol's end-of-stream and finish. */
  end(reason: string): void;
  /** Bytes accepted for this peer and not yet handed to the kernel (or peer), for back-pressure. */
  backlog(): number;
  /** The stream drops this reader (too slow): close the connection with this reason. */
  drop(reason: string): void;
  /**
   * Optional: why this reader cannot carry `track` (its protocol has no place for the codec), or
   * null when it can. The stream logs it and shows it in the API for the reader: a track is never
   * left out silently. The reader itself still skips that track's units.
   */
  omits?(track: Track): string | null;
  /**
   * Optional: several units follow at once (one TCP read of the publisher held them). A socket sink
   * corks here and uncorks in `endBatch`, so they reach the kernel in one writev.
   */
  beginBatch?(): void;
  endBatch?(): void;
}

export interface ReaderInfo {
  readonly id: string;
  readonly protocol: string;
  readonly remoteAddress: string;
  /** Query string the reader sent (e.g. "token=…"). */
  readonly query?: string;
  /** The bearer token of an `Authorization: Bearer …` header (WHEP). */
  readonly bearer?: string;
  /** What the admission gate allowed (who, until when): see `StreamRegistry.admit`. */
  readonly grant?: AccessGrant;
}

/**
 * A reader the gateway itself attached (a transcoder making a rendition, a per-stream output such as
 * the HLS muxer) rather than a client: it does not keep an on-demand source alive.
 */
export function isInternalReader(info: ReaderInfo): boolean {
  return info.protocol === 'transcoder' || info.remoteAddress === 'internal';
}

export interface ReaderQueueLimits {
  /** Above this backlog the reader skips units until the next keyframe. */
  maxBacklogBytes: number;
  /** A reader still skipping after this long is dropped. */
  stuckTimeoutMs: number;
}

type QueueState = 'waiting-keyframe' | 'flowing' | 'skipping';

/** A track of the stream that a reader does not get, and why. */
export interface OmittedTrack {
  readonly id: number;
  readonly kind: 'video' | 'audio';
  readonly codec: string;
  readonly reason: string;
}

/**
 * Per-reader flow control. The bytes themselves queue in the reader's socket (as references to the
 * shared Buffers, never copies); this class bounds that queue: past the limit the reader skips to the
 * next keyframe, and a reader that stays stuck is dropped. It never delays any other reader.
 */
export class ReaderQueue {
  private state: QueueState = 'waiting-keyframe';
  private skippingSince = 0;
  /** Counters for the API. */
  unitsSent = 0;
  unitsSkipped = 0;
  closed = false;
  /** Tracks this reader's protocol cannot carry, by track id. */
  readonly omitted = new Map<number, OmittedTrack>();

  constructor(
    readonly info: ReaderInfo,
    readonly sink: ReaderSink,
    private readonly limits: ReaderQueueLimits,
    private readonly hasVideo: () => boolean,
  ) {}

  /** Offers one unit; returns false when the reader must be dropped. */
  offer(unit: MediaUnit, now: number): boolean {
    if (this.closed) return true;
    const isRandomAccess = unit.track.kind === 'video' ? unit.keyframe : !this.hasVideo();
    switch (this.state) {
      case 'waiting-keyframe':
        if (!isRandomAccess) return this.skip();
        this.state = 'flowing';
        break;
      case 'skipping':
        if (now - this.skippingSince > this.limits.stuckTimeoutMs) return false;
        if (!isRandomAccess || this.sink.backlog() > this.limits.maxBacklogBytes / 2) return this.skip();
        this.state = 'flowing';
        break;
      case 'flowing':
        if (this.sink.backlog() > this.limits.maxBacklogBytes) {
          this.state = 'skipping';
          this.skippingSince = now;
          return this.skip();
        }
        break;
    }
    this.unitsSent++;
    this.sink.unit(unit);
    return true;
  }

  /** The source changed (a new publisher): start again on the next keyframe. */
  restart(): void {
    this.state = 'waiting-keyframe';
  }

  private skip(): true {
    this.unitsSkipped++;
    return true;
  }
}
