/**
 * A reader that plays its stream's audio as a rendition (see rendition.ts): attached through
 * `Stream.addReader(…, { audio: [codecs it plays] })` when the source's audio is in another codec
 * that a rendition can turn into one it plays. Its sink sees the rendition's track in place of the
 * source's audio track, never a unit of the source's audio, and the rendition's units instead:
 * - on joining, the replayed GOP is merged by dts with the rendition's kept units from the first
 *   keyframe on, so the GOP plays with its sound;
 * - live rendition units are skipped while the reader's backlog is over the stream's limit (the
 *   core's queue skips its video then too);
 * - the rendition's track is announced at once, with the configuration it will have (the maker's
 *   placeholder), so a player's probe finds both tracks; should the rendition say otherwise, its own
 *   track follows as a track update;
 * - when the rendition stops (its transcoder failed), the reader carries on without audio and asks
 *   for a new one a little later while the source still needs it.
 */
import type { AudioCodec, AudioTrack, MediaUnit, StreamMetadata, Track } from './media-unit.js';
import type { ReaderInfo, ReaderSink, StreamStart } from './reader.js';
import type { RenditionSource, RenditionSubscriber } from './rendition.js';
import type { ReaderHandle, Stream } from './stream.js';

/** The rendition a reader plays in place of source audio it cannot play. */
export interface RenditionChoice {
  /** The source codec this reader cannot play. */
  from: AudioCodec;
  /** The stream's rendition (made on first use, or the running one). */
  sourceFor(): RenditionSource;
  /** The track announced before the rendition has its own. */
  placeholder(source: AudioTrack): AudioTrack;
  /** onMetaData as this reader sees it. */
  metadata?(meta: StreamMetadata): StreamMetadata;
}

export interface RenditionReaderOptions {
  /**
   * The rendition to play in place of source audio in `codec`; null when the reader plays it as it is
   * (or nothing can turn it into what it plays). Asked again whenever the source's audio changes (a
   * new publisher took the path over with another codec).
   */
  choose(codec: AudioCodec): RenditionChoice | null;
  /** A reader with more bytes than this waiting skips rendition units (the stream's reader backlog limit). */
  maxBacklogBytes: number;
  /** After its rendition stopped, a reader asks for a new one this much later (default 2 s). */
  retryMs?: number;
}

/** After its rendition stopped, a reader asks for a new one this much later. */
const RETRY_MS = 2000;

/**
 * Attaches `sink` to `stream` like `stream.addReader`, with source audio the reader cannot play turned
 * into the rendition `options.choose` names, from attach on and after every change of the source's
 * audio (the wrapper stays, so a hand-over from AAC to Opus keeps an FLV reader's sound).
 */
export function addRenditionReader(stream: Stream, info: ReaderInfo, sink: ReaderSink, options: RenditionReaderOptions): ReaderHandle {
  return new RenditionReader(stream, sink, options).attach(info);
}

class RenditionReader implements ReaderSink {
  private feed: RenditionSource | null = null;
  /** The rendition chosen for the source's current audio (null: the audio passes as it is). */
  private choice: RenditionChoice | null = null;
  private unsubscribe: (() => void) | null = null;
  /** The stream's source audio track while its audio is in the chosen rendition's `from` codec. */
  private source: AudioTrack | null = null;
  /** Units the stream replays while `attach` runs; sent merged with the rendition's kept units after. */
  private replay: MediaUnit[] | null = null;
  /** dts of the first unit the core let through (the keyframe this reader starts on). */
  private startDts: number | null = null;
  private lastRenditionDts = -Infinity;
  private started = false;
  private closed = false;
  /** Rendition units skipped for this reader's backlog. */
  skipped = 0;
  private retry: NodeJS.Timeout | null = null;

  private readonly subscriber: RenditionSubscriber = {
    track: (track) => {
      if (this.started && !this.closed) this.sink.trackUpdate(track, this.mapTracks(this.stream.tracks));
    },
    units: (units) => this.onRendition(units),
    // The rendition stopped (it failed, or the stream is ending): the reader carries on without
    // audio, and tries a new one after a pause while the stream's audio still needs it.
    stopped: () => {
      this.feed = null;
      this.unsubscribe = null;
      if (this.closed || this.retry) return;
      this.retry = setTimeout(() => {
        this.retry = null;
        if (!this.closed && this.source && !this.stream.isEnded) this.useSource(this.source);
      }, this.options.retryMs ?? RETRY_MS);
      this.retry.unref();
    },
  };

  constructor(
    private readonly stream: Stream,
    private readonly sink: ReaderSink,
    private readonly options: RenditionReaderOptions,
  ) {}

  attach(info: ReaderInfo): ReaderHandle {
    const source = this.stream.tracks.find((t): t is AudioTrack => t.kind === 'audio');
    this.choice = source ? this.options.choose(source.codec) : null;
    // Subscribing first starts the rendition, which then converts the GOP it is replayed itself.
    if (source && this.choice) this.useSource(source);
    this.replay = [];
    let handle: ReaderHandle;
    try {
      handle = this.stream.addReader(info, this);
    } catch (err) {
      this.detachFeed();
      throw err;
    }
    const replayed = this.replay;
    this.replay = null;
    this.sendReplay(replayed);
    return {
      info: handle.info,
      audioDelayMs: () => this.feed?.delayMs ?? 0,
      close: () => {
        this.closed = true;
        this.detachFeed();
        handle.close();
      },
    };
  }

  start(info: StreamStart): void {
    this.sink.start({ ...info, tracks: this.mapTracks(info.tracks), metadata: this.mapMetadata(info.metadata) });
    this.started = true;
  }

  unit(unit: MediaUnit): void {
    this.startDts ??= unit.dts;
    if (unit.track.kind === 'audio' && unit.track.codec === this.choice?.from) return;
    if (this.replay) this.replay.push(unit);
    else this.sink.unit(unit);
  }

  trackUpdate(track: Track, tracks: readonly Track[]): void {
    if (track.kind === 'audio') {
      const choice = this.choice?.from === track.codec ? this.choice : this.options.choose(track.codec);
      if (choice !== this.choice) {
        // Audio in another codec now: the old rendition is let go of.
        this.source = null;
        this.detachFeed();
        this.choice = choice;
      }
      if (choice) {
        const announced = this.source !== null;
        this.useSource(track);
        // New source audio is announced at once; a changed source config reaches the sink as the rendition's new track.
        if (!announced) this.sink.trackUpdate(this.renditionTrackFor(track), this.mapTracks(tracks));
        return;
      }
      // The audio is in a codec the reader plays: its units pass as they are.
    }
    this.sink.trackUpdate(track, this.mapTracks(tracks));
  }

  metadata(meta: StreamMetadata): void {
    this.sink.metadata(this.mapMetadata(meta)!);
  }

  end(reason: string): void {
    this.closed = true;
    this.detachFeed();
    this.sink.end(reason);
  }

  drop(reason: string): void {
    this.closed = true;
    this.detachFeed();
    this.sink.drop(reason);
  }

  backlog(): number {
    return this.sink.backlog();
  }

  omits(track: Track): string | null {
    const mapped = track.kind === 'audio' && track.codec === this.choice?.from ? this.renditionTrackFor(track) : track;
    return this.sink.omits?.(mapped) ?? null;
  }

  beginBatch(): void {
    this.sink.beginBatch?.();
  }

  endBatch(): void {
    this.sink.endBatch?.();
  }

  private useSource(track: AudioTrack): void {
    this.source = track;
    if (this.feed || !this.choice) return;
    this.feed = this.choice.sourceFor();
    this.unsubscribe = this.feed.subscribe(this.subscriber);
  }

  private detachFeed(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    const unsubscribe = this.unsubscribe;
    this.feed = null;
    this.unsubscribe = null;
    unsubscribe?.();
  }

  private renditionTrackFor(source: AudioTrack): AudioTrack {
    return this.feed?.track ?? this.choice!.placeholder(source);
  }

  private mapTracks(tracks: readonly Track[]): Track[] {
    const from = this.choice?.from;
    return from ? tracks.map((t) => (t.kind === 'audio' && t.codec === from ? this.renditionTrackFor(t) : t)) : [...tracks];
  }

  /** onMetaData that names the source's audio codec would mislead players that get the rendition. */
  private mapMetadata(meta: StreamMetadata | null): StreamMetadata | null {
    if (!meta || !this.source || !this.choice?.metadata) return meta;
    return this.choice.metadata(meta);
  }

  /** The replayed GOP and the rendition's units for it, in dts order (video first on a tie). */
  private sendReplay(replayed: MediaUnit[]): void {
    const kept = this.feed && this.startDts !== null ? this.feed.recent(this.startDts) : [];
    if (replayed.length + kept.length === 0) return;
    const batch = replayed.length + kept.length > 1;
    if (batch) this.sink.beginBatch?.();
    let a = 0;
    for (const unit of replayed) {
      while (a < kept.length && kept[a]!.dts < unit.dts) this.sendRendition(kept[a++]!);
      this.sink.unit(unit);
    }
    while (a < kept.length) this.sendRendition(kept[a++]!);
    if (batch) this.sink.endBatch?.();
  }

  private sendRendition(unit: MediaUnit): void {
    this.sink.unit(unit);
    this.lastRenditionDts = unit.dts;
  }

  private onRendition(units: readonly MediaUnit[]): void {
    // Before the reader's first keyframe nothing plays; during attach the replay has them all.
    if (this.closed || this.replay || this.startDts === null) return;
    let batch = false;
    for (const unit of units) {
      if (unit.dts < this.startDts || unit.dts <= this.lastRenditionDts) continue;
      if (this.sink.backlog() > this.options.maxBacklogBytes) {
        this.skipped++;
        continue;
      }
      if (!batch && units.length > 1) {
        batch = true;
        this.sink.beginBatch?.();
      }
      this.sendRendition(unit);
    }
    if (batch) this.sink.endBatch?.();
  }
}
