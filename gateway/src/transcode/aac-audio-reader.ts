/**
 * FLV and RTMP players expect AAC: a reader attached through `addReaderWithAacAudio` sees a stream
 * whose Opus track is replaced by the stream's shared AAC transcode (AacFeed). Its sink gets the
 * AAC track instead of the Opus track, never an Opus unit, and the feed's AAC units instead:
 * - on joining, the replayed GOP is merged by dts with the feed's kept AAC units from the first
 *   keyframe on, so the GOP plays with its sound;
 * - live AAC units are skipped while the reader's backlog is over the stream's limit (the core's
 *   queue skips its video then too);
 * - the AAC track is announced at once, with the configuration the encoder will give (known in
 *   advance: `expectedAudioSpecificConfig`), so its sequence header goes out before the first video
 *   frame and a player's probe finds both tracks; should the encoder say otherwise, the new config
 *   follows as a track update.
 * Streams whose audio is not Opus attach as usual, with no wrapper.
 */
import type { AudioTrack, MediaUnit, StreamMetadata, Track } from '../core/media-unit.js';
import type { ReaderInfo, ReaderSink, StreamStart } from '../core/reader.js';
import type { ReaderHandle, Stream } from '../core/stream.js';
import { AAC_RATE } from './aac-clock.js';
import { expectedAudioSpecificConfig } from './opus-to-aac.js';
import type { AacFeedSubscriber } from './aac-feed.js';

/** What a reader needs of its stream's AAC feed (an AacFeed). */
export interface AacSource {
  /** The AAC track, once the encoder has said its configuration. */
  readonly track: AudioTrack | null;
  /** Kept AAC units with dts ≥ `fromDts`, oldest first. */
  recent(fromDts: number): MediaUnit[];
  /** Starts the feed on first use; returns the unsubscribe function. */
  subscribe(sub: AacFeedSubscriber): () => void;
}

export interface AacAudioOptions {
  /** The stream's shared Opus → AAC feed (created on first use). */
  feedFor(stream: Stream): AacSource;
  /** A reader with more bytes than this waiting skips AAC units (the stream's reader backlog limit). */
  maxBacklogBytes: number;
  /** After its transcoder stopped (failed), a reader asks for a new one this much later (default 2 s). */
  retryMs?: number;
}

/** After its transcoder stopped, a reader asks for a new one this much later. */
const RETRY_MS = 2000;

/** FLV's SoundFormat for AAC (E.4.2.1), for rewriting onMetaData. */
const FLV_AAC = 10;

/** Attaches `sink` to `stream` like `stream.addReader`, with Opus audio turned into AAC. */
export function addReaderWithAacAudio(stream: Stream, info: ReaderInfo, sink: ReaderSink, options: AacAudioOptions): ReaderHandle {
  const audio = stream.tracks.find((t) => t.kind === 'audio');
  // Known non-Opus audio needs nothing; no audio yet may still turn out to be Opus.
  if (audio && audio.codec !== 'opus') return stream.addReader(info, sink);
  return new AacAudioReader(stream, sink, options).attach(info);
}

const placeholders = new WeakMap<AudioTrack, AudioTrack>();
const rewrittenMetadata = new WeakMap<StreamMetadata, StreamMetadata>();

/** The AAC track announced for an Opus track when its stream has no running transcoder (with the config it will have). */
function placeholderFor(opus: AudioTrack): AudioTrack {
  let t = placeholders.get(opus);
  if (!t) {
    const channels = opus.channels === 1 ? 1 : 2;
    t = { kind: 'audio', id: opus.id, codec: 'aac', config: expectedAudioSpecificConfig(channels), sampleRate: AAC_RATE, channels, codecString: 'mp4a.40.2' };
    placeholders.set(opus, t);
  }
  return t;
}

class AacAudioReader implements ReaderSink {
  private feed: AacSource | null = null;
  private unsubscribe: (() => void) | null = null;
  /** The stream's Opus track while its audio is Opus. */
  private opus: AudioTrack | null = null;
  /** Units the stream replays while `attach` runs; sent merged with the kept AAC units after. */
  private replay: MediaUnit[] | null = null;
  /** dts of the first unit the core let through (the keyframe this reader starts on). */
  private startDts: number | null = null;
  private lastAacDts = -Infinity;
  private started = false;
  private closed = false;
  /** AAC units skipped for this reader's backlog. */
  aacSkipped = 0;
  private retry: NodeJS.Timeout | null = null;

  private readonly subscriber: AacFeedSubscriber = {
    track: (track) => {
      if (this.started && !this.closed) this.sink.trackUpdate(track, this.mapTracks(this.stream.tracks));
    },
    units: (units) => this.onAac(units),
    // The transcoder stopped (it failed, or the stream is ending): the reader carries on without
    // audio, and tries a new transcoder after a pause while the stream still has Opus.
    stopped: () => {
      this.feed = null;
      this.unsubscribe = null;
      if (this.closed || this.retry) return;
      this.retry = setTimeout(() => {
        this.retry = null;
        if (!this.closed && this.opus && !this.stream.isEnded) this.useOpus(this.opus);
      }, this.options.retryMs ?? RETRY_MS);
      this.retry.unref();
    },
  };

  constructor(
    private readonly stream: Stream,
    private readonly sink: ReaderSink,
    private readonly options: AacAudioOptions,
  ) {}

  attach(info: ReaderInfo): ReaderHandle {
    const opus = this.stream.tracks.find((t): t is AudioTrack => t.kind === 'audio' && t.codec === 'opus');
    // Subscribing first starts the feed, which then transcodes the GOP it is replayed itself.
    if (opus) this.useOpus(opus);
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
    if (unit.track.kind === 'audio' && unit.track.codec === 'opus') return;
    if (this.replay) this.replay.push(unit);
    else this.sink.unit(unit);
  }

  trackUpdate(track: Track, tracks: readonly Track[]): void {
    if (track.kind === 'audio' && track.codec === 'opus') {
      const announced = this.opus !== null;
      this.useOpus(track);
      // New Opus audio is announced at once; a changed Opus config reaches the sink as the feed's new AAC track.
      if (!announced) this.sink.trackUpdate(this.aacTrackFor(track), this.mapTracks(tracks));
      return;
    }
    if (track.kind === 'audio') {
      // The audio is no longer Opus: its units pass as they are.
      this.opus = null;
      this.detachFeed();
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
    const mapped = track.kind === 'audio' && track.codec === 'opus' ? this.aacTrackFor(track) : track;
    return this.sink.omits?.(mapped) ?? null;
  }

  beginBatch(): void {
    this.sink.beginBatch?.();
  }

  endBatch(): void {
    this.sink.endBatch?.();
  }

  private useOpus(track: AudioTrack): void {
    this.opus = track;
    if (this.feed) return;
    this.feed = this.options.feedFor(this.stream);
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

  private aacTrackFor(opus: AudioTrack): AudioTrack {
    return this.feed?.track ?? placeholderFor(opus);
  }

  private mapTracks(tracks: readonly Track[]): Track[] {
    return tracks.map((t) => (t.kind === 'audio' && t.codec === 'opus' ? this.aacTrackFor(t) : t));
  }

  /** onMetaData that names Opus audio would mislead players that get AAC: it names AAC instead. */
  private mapMetadata(meta: StreamMetadata | null): StreamMetadata | null {
    if (!meta || !this.opus || meta.audiocodecid === undefined) return meta;
    let out = rewrittenMetadata.get(meta);
    if (!out) {
      out = { ...meta, audiocodecid: FLV_AAC, audiosamplerate: AAC_RATE };
      rewrittenMetadata.set(meta, out);
    }
    return out;
  }

  /** The replayed GOP and the feed's AAC for it, in dts order (video first on a tie). */
  private sendReplay(replayed: MediaUnit[]): void {
    const aac = this.feed && this.startDts !== null ? this.feed.recent(this.startDts) : [];
    if (replayed.length + aac.length === 0) return;
    const batch = replayed.length + aac.length > 1;
    if (batch) this.sink.beginBatch?.();
    let a = 0;
    for (const unit of replayed) {
      while (a < aac.length && aac[a]!.dts < unit.dts) this.sendAac(aac[a++]!);
      this.sink.unit(unit);
    }
    while (a < aac.length) this.sendAac(aac[a++]!);
    if (batch) this.sink.endBatch?.();
  }

  private sendAac(unit: MediaUnit): void {
    this.sink.unit(unit);
    this.lastAacDts = unit.dts;
  }

  private onAac(units: readonly MediaUnit[]): void {
    // Before the reader's first keyframe nothing plays; during attach the replay has them all.
    if (this.closed || this.replay || this.startDts === null) return;
    let batch = false;
    for (const unit of units) {
      if (unit.dts < this.startDts || unit.dts <= this.lastAacDts) continue;
      if (this.sink.backlog() > this.options.maxBacklogBytes) {
        this.aacSkipped++;
        continue;
      }
      if (!batch && units.length > 1) {
        batch = true;
        this.sink.beginBatch?.();
      }
      this.sendAac(unit);
    }
    if (batch) this.sink.endBatch?.();
  }
}
