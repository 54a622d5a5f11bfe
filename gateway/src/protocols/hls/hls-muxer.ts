/**
 * The LL-HLS muxer of one stream: a per-stream output (one for all the stream's HLS clients) that
 * turns units into fMP4 parts (~200 ms, each one moof + mdat) grouped into segments that start at
 * keyframes (≥ the segment target), and keeps a window of them in memory. It is attached to the
 * stream like a reader, so it starts on the cached GOP at once: the first playlist is answered as
 * soon as one part is cut from it, not a whole segment later.
 *
 * Parts are numbered across segments (`p{n}`), so the next part's URI is known before anyone knows
 * whether it starts a new segment: the preload hint always names a part that will exist.
 */
import { randomBytes } from 'node:crypto';
import type { AudioTrack, MediaUnit, StreamMetadata, Track, VideoTrack } from '../../core/media-unit.js';
import type { ReaderSink, StreamStart } from '../../core/reader.js';
import type { Stream } from '../../core/stream.js';
import { fragment, type FragmentSample, type TrackRun } from '../../format/fmp4/fragment.js';
import { fmp4Carries, initSegment, mp4TrackId, timescaleOf } from '../../format/fmp4/init-segment.js';
import { renderMediaPlaylist, renderMultivariantPlaylist, type MediaPlaylistModel } from '../../format/hls/media-playlist.js';
import { codecStringOf } from './codec-strings.js';
import { ReadyWaiters } from './ready-waiters.js';
import { HlsTimeline } from './timeline.js';

export interface HlsMuxerOptions {
  /** Target duration of a part (ms). */
  partTargetMs: number;
  /** Least duration of a segment (ms); segments start at the first keyframe after it. */
  segmentTargetMs: number;
  /** Complete segments kept in the window. */
  segmentCount: number;
}

export interface InitVersion {
  readonly n: number;
  readonly uri: string;
  readonly data: Buffer;
  readonly video: VideoTrack | null;
  readonly audio: AudioTrack | null;
  readonly codecs: string[];
}

export interface HlsPart {
  /** Across segments, from 0. */
  readonly seq: number;
  /** Seconds. */
  readonly duration: number;
  readonly independent: boolean;
  readonly data: Buffer;
}

export interface HlsSegment {
  readonly msn: number;
  readonly parts: HlsPart[];
  readonly startDts: number;
  /** ms since the epoch. */
  readonly programDateTime: number;
  readonly init: InitVersion;
  readonly discontinuity: boolean;
  complete: boolean;
  /** Seconds (sum of its parts). */
  duration: number;
}


/**
 * A segment is cut without a keyframe past this many segment targets (a source whose keyframes stopped
 * coming): the window stays bounded; the playlist then stops claiming independent segments.
 */
const MAX_SEGMENT_TARGETS = 10;
/** Pending video units at most (timestamps going back cut no part): older ones are dropped. */
const MAX_PENDING_VIDEO = 1000;
/** Pending audio kept while video is silent (about 10 s of AAC): older units are dropped. */
const MAX_PENDING_AUDIO = 500;
const AAC_FRAME_SAMPLES = 1024;
/** A unit this far ahead of every track's newest time is a jump (hand-over silence, a clock reset): it is remapped. */
export const MAX_TIMELINE_GAP_MS = 2000;

const epochMs = (receivedAt: number): number => Date.now() - (performance.now() - receivedAt);

export class HlsMuxer implements ReaderSink {
  /** Names this muxer's files: a new muxer of the same path never serves an old one's bytes. */
  readonly id = randomBytes(4).toString('hex');
  private video: VideoTrack | null = null;
  private audio: AudioTrack | null = null;
  private init: InitVersion | null = null;
  private initDirty = false;
  private inits = 0;
  private readonly segmentList: HlsSegment[] = [];
  private current: HlsSegment | null = null;
  private pendingVideo: MediaUnit[] = [];
  private pendingAudio: MediaUnit[] = [];
  private partStart = 0;
  private frameTicks = 3000;
  /** dts every decode time is counted from (the first unit), so that tfdt starts near 0. */
  private base: number | null = null;
  private nextMsn = 0;
  private nextPartSeq = 0;
  private fragmentSeq = 1;
  private discontinuitySeq = 0;
  private targetDuration: number;
  private readonly waiters = new ReadyWaiters();
  /** The source's times as this output's (continuous whatever the source's clock does). */
  private readonly timeline = new HlsTimeline(MAX_TIMELINE_GAP_MS * 90);
  private playlistCache: { full: Buffer | null; skip: Buffer | null } = { full: null, skip: null };
  private stopped = false;
  /** Told of every part as it is cut, with its segment (a recorder writes them to disk). */
  readonly partListeners = new Set<(part: HlsPart, segment: HlsSegment) => void>();
  /** Bytes of every part in the window. */
  bytes = 0;
  /** performance.now() when the newest part was cut (the latency probe measures delivery from it). */
  lastPartAt = 0;
  partsMade = 0;

  constructor(
    private readonly stream: Stream,
    readonly options: HlsMuxerOptions,
  ) {
    this.targetDuration = Math.max(1, Math.ceil(options.segmentTargetMs / 1000));
  }

  // ---- ReaderSink ----

  start(info: StreamStart): void {
    this.selectTracks(info.tracks);
  }

  trackUpdate(_track: Track, tracks: readonly Track[]): void {
    this.selectTracks(tracks);
  }

  metadata(_meta: StreamMetadata): void {}

  unit(unit: MediaUnit): void {
    if (this.stopped) return;
    const t = unit.track;
    if (t.kind === 'video') {
      if (this.video && t.id === this.video.id && t.codec === this.video.codec) this.onVideo(this.timeline.map(unit, this.frameTicks));
    } else if (this.audio && t.id === this.audio.id && t.codec === this.audio.codec) {
      this.onAudio(this.timeline.map(unit, this.aacFrameTicks));
    }
  }

  /** Source time jumps remapped so far. */
  get timelineJumps(): number {
    return this.timeline.jumps;
  }

  private get aacFrameTicks(): number {
    return Math.round((AAC_FRAME_SAMPLES * 90_000) / (this.audio?.sampleRate ?? 48_000));
  }

  omits(track: Track): string | null {
    if (fmp4Carries(track) && (track.kind === 'video' || track.codec === 'aac')) return null;
    return track.kind === 'video'
      ? `HLS carries H264 and H265 video: ${track.codec.toUpperCase()} is not carried`
      : `HLS carries AAC audio: ${track.codec.toUpperCase()} is not carried`;
  }

  end(reason: string): void {
    this.stop(reason);
  }

  drop(reason: string): void {
    this.stop(reason);
  }

  backlog(): number {
    return 0;
  }

  /** The output stopped (the stream ended, or no request came for the idle time): blocked requests are answered. */
  stop(_reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.waiters.stop();
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  // ---- what the HTTP side reads ----

  /** Segments in the window, oldest first; the last may be incomplete. */
  get segments(): readonly HlsSegment[] {
    return this.segmentList;
  }

  get initVersion(): InitVersion | null {
    return this.init;
  }

  /** An init segment still referenced by the window. */
  initByNumber(n: number): Buffer | null {
    if (this.init?.n === n) return this.init.data;
    return this.segmentList.find((s) => s.init.n === n)?.init.data ?? null;
  }

  part(seq: number): HlsPart | undefined {
    for (const s of this.segmentList) {
      const first = s.parts[0];
      if (first && seq >= first.seq && seq < first.seq + s.parts.length) return s.parts[seq - first.seq];
    }
    return undefined;
  }

  segment(msn: number): HlsSegment | undefined {
    const first = this.segmentList[0];
    return first ? this.segmentList[msn - first.msn] : undefined;
  }

  /** At least one complete segment in the window (what a player without LL-HLS needs). */
  get hasSegment(): boolean {
    return this.segmentList.some((s) => s.complete);
  }

  get hasPart(): boolean {
    return this.nextPartSeq > 0 && this.segmentList.some((s) => s.parts.length > 0);
  }

  get nextPart(): number {
    return this.nextPartSeq;
  }

  get lastMsn(): number {
    return this.current?.msn ?? -1;
  }

  get stats(): { segments: number; parts: number; bytes: number; timelineJumps: number } {
    return { segments: this.segmentList.length, parts: this.segmentList.reduce((n, s) => n + s.parts.length, 0), bytes: this.bytes, timelineJumps: this.timeline.jumps };
  }

  /** The media playlist (rendered once per new part, its bytes shared by every client). */
  playlist(skip: boolean): Buffer {
    const key = skip ? 'skip' : 'full';
    return (this.playlistCache[key] ??= Buffer.from(renderMediaPlaylist(this.model(), { skip })));
  }

  /** The multivariant playlist naming the media playlist, with CODECS and RESOLUTION. */
  multivariant(mediaUri: string): string | null {
    const init = this.init;
    if (!init) return null;
    const bitsPerSecond = this.stream.bitrate * 8;
    return renderMultivariantPlaylist({
      bandwidth: Math.max(200_000, Math.round(bitsPerSecond * 1.25)),
      ...(bitsPerSecond > 0 ? { averageBandwidth: bitsPerSecond } : {}),
      codecs: init.codecs,
      ...(init.video?.width && init.video.height ? { resolution: { width: init.video.width, height: init.video.height } } : {}),
      uri: mediaUri,
    });
  }

  /** Resolves true once `check()` holds, false after `timeoutMs` or when the muxer stops (see ReadyWaiters). */
  whenReady(check: () => boolean, timeoutMs: number): Promise<boolean> {
    return this.waiters.whenReady(check, timeoutMs);
  }

  get waiting(): number {
    return this.waiters.size;
  }

  private wake(): void {
    this.playlistCache = { full: null, skip: null };
    this.waiters.wake();
  }

  // ---- muxing ----

  private selectTracks(tracks: readonly Track[]): void {
    const video = tracks.find((t): t is VideoTrack => t.kind === 'video' && fmp4Carries(t) && t.config !== null) ?? null;
    const audio = tracks.find((t): t is AudioTrack => t.kind === 'audio' && t.codec === 'aac' && t.config !== null) ?? null;
    const same = (a: Track | null, b: Track | null): boolean =>
      a === b || (a !== null && b !== null && a.codec === b.codec && a.id === b.id && !!a.config && !!b.config && a.config.equals(b.config));
    if (same(video, this.video) && same(audio, this.audio)) {
      this.video = video;
      this.audio = audio;
      return;
    }
    this.video = video;
    this.audio = audio;
    // A new init segment from the next segment on (which starts at the next keyframe).
    this.initDirty = true;
  }

  private onVideo(u: MediaUnit): void {
    const cur = this.current;
    if (!cur || cur.init.video === null) {
      // Video starts a segment of its own at a keyframe (an audio-only start gives way to it).
      if (!u.keyframe) return;
      if (cur) this.cut(u.dts, true);
      else this.pendingAudio = this.pendingAudio.filter((a) => a.dts >= u.dts);
      this.startSegment(u);
      this.pendingVideo = [u];
      return;
    }
    const last = this.pendingVideo[this.pendingVideo.length - 1];
    if (last && u.dts > last.dts) this.frameTicks = u.dts - last.dts;
    const elapsed = u.dts - cur.startDts;
    const overlong = elapsed >= this.options.segmentTargetMs * 90 * MAX_SEGMENT_TARGETS;
    if (overlong && !u.keyframe) this.independentSegments = false;
    const newSegment = (u.keyframe && (elapsed >= this.options.segmentTargetMs * 90 || this.initDirty)) || overlong;
    const partFull = u.dts - this.partStart + this.frameTicks > this.options.partTargetMs * 90;
    if (newSegment) {
      this.cut(u.dts, true);
      this.startSegment(u);
    } else if (partFull && this.pendingVideo.length > 0) {
      this.cut(u.dts, false);
    }
    this.pendingVideo.push(u);
    // Timestamps that go back cut nothing: the pending units stay bounded whatever the source sends.
    if (this.pendingVideo.length > MAX_PENDING_VIDEO) this.pendingVideo.shift();
    // A source that makes keyframes only when asked (a browser over WHIP) is asked when a segment is due.
    if (!u.keyframe && u.dts - cur.startDts >= this.options.segmentTargetMs * 90 && u.dts - this.keyframeAskedAt >= this.options.segmentTargetMs * 90) {
      this.keyframeAskedAt = u.dts;
      this.stream.publisher.requestKeyframe?.('HLS segment due');
    }
  }

  private keyframeAskedAt = -Infinity;
  /** False once a segment had to start without a keyframe. */
  private independentSegments = true;

  private onAudio(u: MediaUnit): void {
    if (this.video) {
      // With video, audio rides in the video's parts.
      if (!this.current) return;
      this.pendingAudio.push(u);
      if (this.pendingAudio.length > MAX_PENDING_AUDIO) this.pendingAudio.shift();
      return;
    }
    const cur = this.current;
    if (!cur || cur.init.video !== null || this.initDirty) {
      if (cur) this.cut(u.dts, true);
      this.startSegment(u);
      this.pendingAudio = [u];
      return;
    }
    this.frameTicks = this.aacFrameTicks;
    if (u.dts - cur.startDts >= this.options.segmentTargetMs * 90) {
      this.cut(u.dts, true);
      this.startSegment(u);
    } else if (u.dts - this.partStart + this.frameTicks > this.options.partTargetMs * 90 && this.pendingAudio.length > 0) {
      this.cut(u.dts, false);
    }
    this.pendingAudio.push(u);
    if (this.pendingAudio.length > MAX_PENDING_AUDIO) this.pendingAudio.shift();
  }

  private startSegment(u: MediaUnit): void {
    let discontinuity = false;
    if (!this.init || this.initDirty) {
      discontinuity = this.init !== null;
      this.init = this.makeInit();
      this.initDirty = false;
    }
    this.base ??= u.dts;
    this.partStart = u.dts;
    const segment: HlsSegment = { msn: this.nextMsn++, parts: [], startDts: u.dts, programDateTime: epochMs(u.receivedAt), init: this.init, discontinuity, complete: false, duration: 0 };
    this.current = segment;
    this.segmentList.push(segment);
  }

  private makeInit(): InitVersion {
    const tracks: Track[] = [];
    if (this.video) tracks.push(this.video);
    if (this.audio) tracks.push(this.audio);
    const n = this.inits++;
    return {
      n,
      uri: `${this.id}-init${n}.mp4`,
      data: initSegment(tracks),
      video: this.video,
      audio: this.audio,
      codecs: tracks.map(codecStringOf).filter((c): c is string => c !== null),
    };
  }

  /** Ends the pending part at `cutDts` (and, with `endSegment`, the current segment). */
  private cut(cutDts: number, endSegment: boolean): void {
    const cur = this.current;
    if (!cur) return;
    const video = this.pendingVideo;
    const audioIn = this.pendingAudio.filter((a) => a.dts < cutDts);
    const audioLeft = this.pendingAudio.filter((a) => a.dts >= cutDts);
    if (video.length > 0 || audioIn.length > 0) {
      const runs: TrackRun[] = [];
      const init = cur.init;
      if (init.video && video.length > 0) runs.push(this.videoRun(init.video, video, cutDts));
      if (init.audio && audioIn.length > 0) runs.push(this.audioRun(init.audio, audioIn, audioLeft[0]));
      const data = fragment(this.fragmentSeq++, runs);
      const duration = Math.max(0, cutDts - this.partStart) / 90_000;
      const independent = init.video ? video[0]?.keyframe === true : true;
      const part: HlsPart = { seq: this.nextPartSeq++, duration, independent, data };
      cur.parts.push(part);
      for (const l of this.partListeners) l(part, cur);
      cur.duration += duration;
      this.bytes += data.length;
      this.lastPartAt = performance.now();
      this.partsMade++;
    }
    this.pendingVideo = [];
    this.pendingAudio = audioLeft;
    this.partStart = cutDts;
    if (endSegment) this.completeSegment();
    this.wake();
  }

  private videoRun(track: VideoTrack, units: MediaUnit[], cutDts: number): TrackRun {
    const base = this.base!;
    const samples: FragmentSample[] = units.map((u, i) => ({
      duration: Math.max(1, (i + 1 < units.length ? units[i + 1]!.dts : cutDts) - u.dts),
      compositionOffset: u.pts - u.dts,
      sync: u.keyframe,
      data: u.data,
    }));
    return { trackId: mp4TrackId(track), baseDecodeTime: Math.max(0, units[0]!.dts - base), samples };
  }

  private audioRun(track: AudioTrack, units: MediaUnit[], next: MediaUnit | undefined): TrackRun {
    const base = this.base!;
    const scale = timescaleOf(track) / 90_000;
    const at = (u: MediaUnit): number => Math.max(0, Math.round((u.dts - base) * scale));
    const samples: FragmentSample[] = units.map((u, i) => {
      const following = i + 1 < units.length ? units[i + 1] : next;
      return { duration: following ? Math.max(1, at(following) - at(u)) : AAC_FRAME_SAMPLES, compositionOffset: 0, sync: true, data: u.data };
    });
    return { trackId: mp4TrackId(track), baseDecodeTime: at(units[0]!), samples };
  }

  private completeSegment(): void {
    const cur = this.current;
    if (!cur) return;
    cur.complete = true;
    this.targetDuration = Math.max(this.targetDuration, Math.round(cur.duration));
    this.current = null;
    // An empty segment (nothing was cut into it) leaves the window at once, and its number is reused.
    if (cur.parts.length === 0) {
      this.segmentList.splice(this.segmentList.indexOf(cur), 1);
      if (cur.msn === this.nextMsn - 1) this.nextMsn--;
    }
    let complete = this.segmentList.filter((s) => s.complete).length;
    while (complete > this.options.segmentCount) {
      const old = this.segmentList.shift()!;
      if (old.discontinuity) this.discontinuitySeq++;
      for (const p of old.parts) this.bytes -= p.data.length;
      complete--;
    }
  }

  private model(): MediaPlaylistModel {
    const cur = this.current;
    // A segment being written that already runs longer than the target (a long GOP) raises it now.
    if (cur) this.targetDuration = Math.max(this.targetDuration, Math.round(cur.duration));
    return {
      targetDuration: this.targetDuration,
      partTarget: this.options.partTargetMs / 1000,
      discontinuitySequence: this.discontinuitySeq,
      // A segment just started has no part yet: it appears with its first one.
      segments: this.segmentList.filter((s) => s.parts.length > 0).map((s) => ({
        msn: s.msn,
        duration: s.duration,
        uri: `${this.id}-s${s.msn}.m4s`,
        parts: s.parts.map((p) => ({ duration: p.duration, uri: `${this.id}-p${p.seq}.m4s`, independent: p.independent })),
        programDateTime: s.programDateTime,
        mapUri: s.init.uri,
        discontinuity: s.discontinuity,
        complete: s.complete,
      })),
      preloadHint: cur ? `${this.id}-p${this.nextPartSeq}.m4s` : null,
      independentSegments: this.independentSegments,
    };
  }
}
