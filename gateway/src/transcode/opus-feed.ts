/**
 * The AAC → Opus transcoder of one stream, shared by all its WebRTC viewers: a reader of the
 * stream's AAC track that is also a source of Opus frames. The first subscriber starts it; it stops
 * a few seconds after the last one leaves (so a page reload does not restart it).
 */
import type { AudioTrack, MediaUnit, Track } from '../core/media-unit.js';
import type { ReaderHandle, Stream } from '../core/stream.js';
import type { Logger } from '../core/log.js';
import { describeError } from '../core/errors.js';
import type { AacDecoderKind } from './aac-decoders.js';
import { AacToOpus, type OpusPacket } from './aac-to-opus.js';
import { PerStream } from './per-stream.js';

export interface OpusFeedOptions {
  bitrate: number;
  decoder: AacDecoderKind;
  /** How long the transcoder lives on after its last subscriber (ms). */
  lingerMs: number;
  log: Logger;
}

/** `receivedAt`: when the AAC frame that holds the start of this Opus frame reached livegate. */
type Subscriber = (packet: OpusPacket, receivedAt: number) => void;

const feeds = new PerStream<OpusFeed>();

export class OpusFeed {
  private readonly subscribers = new Set<Subscriber>();
  private handle: ReaderHandle | null = null;
  private transcoder: AacToOpus | null = null;
  private creating: Promise<void> | null = null;
  private asc: Buffer | null = null;
  /** AAC units that arrived while the decoder was starting (bounded). */
  private waiting: MediaUnit[] = [];
  private lingerTimer: NodeJS.Timeout | null = null;
  /** Arrival times of the last AAC frames, by pts. */
  private arrivals: { pts: number; receivedAt: number }[] = [];
  private closed = false;
  /** For the API and the benchmarks. */
  framesIn = 0;
  framesOut = 0;
  cpuMs = 0;
  /** CPU time of every transcoder this process ran (benchmarks). */
  static totalCpuMs = 0;

  private constructor(
    private readonly stream: Stream,
    private readonly options: OpusFeedOptions,
  ) {}

  /** The stream's feed, created on first use. */
  static for(stream: Stream, options: OpusFeedOptions): OpusFeed {
    return feeds.get(stream, () => new OpusFeed(stream, options));
  }

  static existing(stream: Stream): OpusFeed | undefined {
    return feeds.existing(stream);
  }

  get running(): boolean {
    return this.handle !== null;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  subscribe(fn: Subscriber): () => void {
    this.subscribers.add(fn);
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    if (!this.handle && !this.closed) this.start();
    return () => {
      this.subscribers.delete(fn);
      if (this.subscribers.size === 0 && !this.lingerTimer) {
        this.lingerTimer = setTimeout(() => this.stop('no more WebRTC viewers'), this.options.lingerMs);
        this.lingerTimer.unref();
      }
    };
  }

  private start(): void {
    const log = this.options.log;
    this.handle = this.stream.addReader(
      { id: `transcode-aac-opus/${this.stream.path}`, protocol: 'transcoder', remoteAddress: '' },
      {
        start: (info) => {
          const aac = info.tracks.find((t): t is AudioTrack => t.kind === 'audio' && t.codec === 'aac');
          if (aac?.config) this.configure(aac.config);
        },
        trackUpdate: (track: Track) => {
          if (track.kind === 'audio' && track.codec === 'aac' && track.config) this.configure(track.config);
        },
        unit: (unit) => {
          if (unit.track.kind === 'audio' && unit.track.codec === 'aac') this.onAac(unit);
        },
        metadata: () => {},
        end: () => this.stop('stream ended'),
        backlog: () => 0,
        drop: (reason) => this.stop(reason),
      },
    );
    log.info('transcoder started', { path: this.stream.path, from: 'aac', to: 'opus' });
  }

  private configure(asc: Buffer): void {
    if (this.asc?.equals(asc)) return;
    this.asc = asc;
    this.transcoder?.close();
    this.transcoder = null;
    const creating = AacToOpus.create({
      asc,
      bitrate: this.options.bitrate,
      decoder: this.options.decoder,
      onPacket: (p) => this.onOpus(p),
      onError: (err) => this.stop(`transcoder failed: ${err.message}`),
    }).then(
      (t) => {
        if (this.closed || this.creating !== creating) return t.close();
        this.transcoder = t;
        const waiting = this.waiting;
        this.waiting = [];
        for (const u of waiting) this.onAac(u);
      },
      (err: unknown) => this.options.log.error('transcoder failed to start', { path: this.stream.path, reason: describeError(err) }),
    );
    this.creating = creating;
  }

  private onAac(unit: MediaUnit): void {
    this.framesIn++;
    if (!this.transcoder) {
      if (this.waiting.length < 100) this.waiting.push(unit);
      return;
    }
    this.arrivals.push({ pts: unit.pts, receivedAt: unit.receivedAt });
    if (this.arrivals.length > 16) this.arrivals.shift();
    const t0 = performance.now();
    // Frames made during push() are handed out after it, so the transcoder's own cost is measured
    // without the viewers' sends.
    const made: OpusPacket[] = (this.collecting = []);
    try {
      this.transcoder.push(unit.data, unit.pts);
    } catch (err) {
      // One bad frame costs one frame, not the stream.
      this.options.log.warn('AAC frame not transcoded', { path: this.stream.path, reason: describeError(err) });
    }
    this.collecting = null;
    const spent = performance.now() - t0;
    this.cpuMs += spent;
    OpusFeed.totalCpuMs += spent;
    for (const p of made) this.onOpus(p);
  }

  private collecting: OpusPacket[] | null = null;

  /**
   * How much later than their AAC input the Opus frames leave (ms, smoothed): the decoder's one-frame
   * look-ahead plus Opus framing. WebRTC viewers hold video back by as much, so lip sync holds.
   */
  delayMs = 0;

  private onOpus(p: OpusPacket): void {
    if (this.collecting) {
      this.collecting.push(p);
      return;
    }
    this.framesOut++;
    const now = performance.now();
    const receivedAt = this.arrivalOf(p.pts) ?? now;
    const delay = now - receivedAt;
    this.delayMs = this.framesOut === 1 ? delay : this.delayMs * 0.95 + delay * 0.05;
    for (const fn of this.subscribers) fn(p, receivedAt);
  }

  /** When the AAC frame holding the start of an Opus frame arrived (the latency the transcoder adds). */
  private arrivalOf(pts: number): number | undefined {
    let found: number | undefined;
    for (const a of this.arrivals) if (a.pts <= pts) found = a.receivedAt;
    return found;
  }

  private stop(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.handle?.close();
    this.handle = null;
    this.transcoder?.close();
    this.transcoder = null;
    this.subscribers.clear();
    feeds.forget(this.stream, this);
    this.options.log.info('transcoder stopped', { path: this.stream.path, reason });
  }
}
