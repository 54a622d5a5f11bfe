/**
 * The AAC → Opus (or G.711 → Opus) transcoder of one stream, shared by all its WebRTC viewers: a
 * reader of the stream's AAC (or PCMU/PCMA) track that is also a source of Opus frames. The first subscriber starts it; it stops
 * a few seconds after the last one leaves (so a page reload does not restart it).
 */
import { makeUnit, type AudioCodec, type AudioTrack, type MediaUnit, type Track } from '../core/media-unit.js';
import type { AudioRendition, RenditionSubscriber, RenditionView } from '../core/rendition.js';
import type { ReaderHandle, Stream } from '../core/stream.js';
import type { Logger } from '../core/log.js';
import { describeError } from '../core/errors.js';
import { buildOpusHead } from '../codec/opus.js';
import type { AacDecoderKind } from './aac-decoders.js';
import { AacToOpus, type OpusPacket } from './aac-to-opus.js';

export interface OpusFeedOptions {
  bitrate: number;
  decoder: AacDecoderKind;
  /** How long the transcoder lives on after its last subscriber (ms). */
  lingerMs: number;
  log: Logger;
}

/** The Opus track of the AAC → Opus rendition of `source`: 48 kHz, its channels (mono or stereo). */
export function opusTrackFor(source: AudioTrack): AudioTrack {
  const channels = source.channels === 1 ? 1 : 2;
  return { kind: 'audio', id: source.id, codec: 'opus', config: buildOpusHead(channels), sampleRate: 48_000, channels, codecString: 'opus' };
}

/**
 * The AAC → Opus rendition of a stream (see core/rendition.ts). Its units are stamped with the
 * arrival of the AAC frame that holds their start, so the latency it adds is seen downstream.
 */
export class OpusFeed implements AudioRendition {
  readonly to = 'opus';
  private readonly subscribers = new Set<RenditionSubscriber>();
  /** The Opus track, once the AAC track is known. */
  track: AudioTrack | null = null;
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

  constructor(
    private readonly stream: Stream,
    private readonly options: OpusFeedOptions,
    /** The source codec: AAC, or G.711 from a camera. */
    readonly from: Extract<AudioCodec, 'aac' | 'pcmu' | 'pcma'> = 'aac',
  ) {}

  view(): RenditionView {
    return { from: this.from, to: 'opus', readers: this.subscribers.size, framesIn: this.framesIn, framesOut: this.framesOut };
  }

  /** Nothing is kept for joiners: a WebRTC viewer's audio starts with its live video. */
  recent(): MediaUnit[] {
    return [];
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

  subscribe(sub: RenditionSubscriber): () => void {
    if (this.closed) {
      sub.stopped('transcoder stopped');
      return () => {};
    }
    this.subscribers.add(sub);
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    if (!this.handle) this.start();
    return () => {
      if (!this.subscribers.delete(sub) || this.closed) return;
      if (this.subscribers.size === 0 && !this.lingerTimer) {
        this.lingerTimer = setTimeout(() => this.stop('no more WebRTC viewers'), this.options.lingerMs);
        this.lingerTimer.unref();
      }
    };
  }

  private start(): void {
    const log = this.options.log;
    this.handle = this.stream.addReader(
      { id: `transcode-${this.from}-opus/${this.stream.path}`, protocol: 'transcoder', remoteAddress: '' },
      {
        start: (info) => {
          const source = info.tracks.find((t): t is AudioTrack => t.kind === 'audio' && t.codec === this.from);
          const key = this.keyOf(source);
          if (key) this.configure(key);
        },
        trackUpdate: (track: Track) => {
          const key = track.kind === 'audio' && track.codec === this.from ? this.keyOf(track) : null;
          if (key) this.configure(key);
        },
        unit: (unit) => {
          if (unit.track.kind === 'audio' && unit.track.codec === this.from) this.onAac(unit);
        },
        metadata: () => {},
        end: () => this.stop('stream ended'),
        backlog: () => 0,
        drop: (reason) => this.stop(reason),
      },
    );
    log.info('transcoder started', { path: this.stream.path, from: this.from, to: 'opus' });
  }

  /** What a new transcoder is made for: AAC's AudioSpecificConfig; G.711 has none (its law is the key). */
  private keyOf(track: AudioTrack | undefined): Buffer | null {
    if (!track) return null;
    if (this.from === 'aac') return track.config;
    return Buffer.from(this.from);
  }

  private configure(asc: Buffer): void {
    if (this.asc?.equals(asc)) return;
    const source = this.stream.tracks.find((t): t is AudioTrack => t.kind === 'audio' && t.codec === this.from);
    if (source) {
      this.track = opusTrackFor(source);
      for (const s of this.subscribers) s.track(this.track);
    }
    this.asc = asc;
    this.transcoder?.close();
    this.transcoder = null;
    const onError = (err: Error): void => {
      if (this.creating === creating) this.stop(`transcoder failed: ${err.message}`);
    };
    const from = this.from;
    const creating: Promise<void> = (
      from === 'aac'
        ? AacToOpus.create({ asc, bitrate: this.options.bitrate, decoder: this.options.decoder, onPacket: (p) => this.onOpus(p), onError })
        : Promise.resolve(AacToOpus.g711(from, { bitrate: Math.min(this.options.bitrate, 64_000), onPacket: (p) => this.onOpus(p), onError }))
    ).then(
      (t) => {
        if (this.closed || this.creating !== creating) return t.close();
        this.transcoder = t;
        const waiting = this.waiting;
        this.waiting = [];
        for (const u of waiting) this.onAac(u);
      },
      (err: unknown) => {
        this.options.log.error('transcoder failed to start', { path: this.stream.path, reason: describeError(err) });
        // A rendition that cannot start closes: its readers ask the stream for a new one later.
        if (this.creating === creating) this.stop(`transcoder failed to start: ${describeError(err)}`);
      },
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
    const track = this.track;
    if (!track) return;
    const units = [makeUnit(track, p.pts, p.pts, true, p.data, receivedAt)];
    for (const s of this.subscribers) s.units(units);
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
    this.options.log.info('transcoder stopped', { path: this.stream.path, reason });
    const subs = [...this.subscribers];
    this.subscribers.clear();
    for (const s of subs) s.stopped(reason);
  }
}
