/**
 * Classic HLS with MPEG-TS segments (`hls.variant: mpegts`), for old players and set-top boxes: the
 * stream muxed once into TS by the same UnitsToTs the SRT readers use (PAT/PMT before every keyframe,
 * so each segment starts decodable), cut into segments at keyframes once `segmentTargetMs` has passed,
 * a window of `segmentCount`. No parts: the playlist is plain HLS (version 3).
 *
 * As with the fMP4 muxer: times run on through source clock jumps (HlsTimeline), a source that makes
 * keyframes only when asked is asked when a segment is due, a segment is cut without a keyframe past
 * ten targets (so the window stays bounded), and a change of tracks (codec or configuration, e.g. a
 * new publisher) starts a segment marked EXT-X-DISCONTINUITY.
 */
import { randomBytes } from 'node:crypto';
import type { MediaUnit, StreamMetadata, Track } from '../../core/media-unit.js';
import type { ReaderSink, StreamStart } from '../../core/reader.js';
import { UnitsToTs } from '../../format/mpegts/ts-media.js';
import { renderMultivariantPlaylist } from '../../format/hls/media-playlist.js';
import type { Stream } from '../../core/stream.js';
import { codecStringOf } from './codec-strings.js';
import { ReadyWaiters } from './ready-waiters.js';
import { HlsTimeline } from './timeline.js';
import { MAX_TIMELINE_GAP_MS } from './hls-muxer.js';

export interface HlsTsMuxerOptions {
  segmentTargetMs: number;
  segmentCount: number;
}

export interface TsSegment {
  readonly msn: number;
  readonly chunks: Buffer[];
  readonly startDts: number;
  readonly programDateTime: number;
  complete: boolean;
  /** Its tracks differ from the previous segment's (EXT-X-DISCONTINUITY). */
  readonly discontinuity: boolean;
  /** Seconds, once complete. */
  duration: number;
  bytes: number;
}


const epochMs = (receivedAt: number): number => Date.now() - (performance.now() - receivedAt);
/** A segment is cut without a keyframe past this many segment targets (keyframes stopped coming). */
const MAX_SEGMENT_TARGETS = 10;
const FRAME_TICKS = 3000;

/** What a change of tracks is measured by: codecs and configurations, in order. */
const layoutOf = (tracks: readonly Track[]): string =>
  tracks.map((t) => `${t.kind}:${t.codec}:${t.config?.toString('hex') ?? ''}`).join('|');

export class HlsTsMuxer implements ReaderSink {
  readonly id = randomBytes(4).toString('hex');
  private readonly ts = new UnitsToTs();
  private tracks: readonly Track[] = [];
  private layout = '';
  /** The tracks changed since the current segment started: the next one is a discontinuity. */
  private layoutChanged = false;
  private discontinuitySeq = 0;
  private keyframeAskedAt = -Infinity;
  private readonly timeline = new HlsTimeline(MAX_TIMELINE_GAP_MS * 90);
  private readonly list: TsSegment[] = [];
  private current: TsSegment | null = null;
  private nextMsn = 0;
  private targetDuration: number;
  private readonly waiters = new ReadyWaiters();
  private stopped = false;
  bytes = 0;

  constructor(
    private readonly stream: Stream,
    private readonly options: HlsTsMuxerOptions,
  ) {
    this.targetDuration = Math.max(1, Math.ceil(options.segmentTargetMs / 1000));
  }

  start(info: StreamStart): void {
    this.setTracks(info.tracks);
  }

  trackUpdate(_track: Track, tracks: readonly Track[]): void {
    this.setTracks(tracks);
  }

  private setTracks(tracks: readonly Track[]): void {
    this.tracks = tracks;
    this.ts.setTracks(tracks);
    const layout = layoutOf(tracks.filter((t) => this.omits(t) === null));
    if (layout !== this.layout && this.current) this.layoutChanged = true;
    this.layout = layout;
  }

  metadata(_meta: StreamMetadata): void {}

  omits(track: Track): string | null {
    if (track.kind === 'video') return track.codec === 'h264' || track.codec === 'h265' ? null : `HLS (MPEG-TS) carries H264 and H265 video: ${track.codec.toUpperCase()} is not carried`;
    return track.codec === 'aac' || track.codec === 'mp3' ? null : `HLS (MPEG-TS) carries AAC and MP3 audio: ${track.codec.toUpperCase()} is not carried`;
  }

  unit(unit: MediaUnit): void {
    if (this.stopped || this.omits(unit.track) !== null) return;
    const hasVideo = this.ts.streams.some((s) => s.codec === 'h264' || s.codec === 'h265');
    const isVideo = unit.track.kind === 'video';
    const u = this.timeline.map(unit, isVideo ? FRAME_TICKS : 1920);
    const cur = this.current;
    const target = this.options.segmentTargetMs * 90;
    const elapsed = cur ? u.dts - cur.startDts : 0;
    if (!cur) {
      // Segments start decodable: at a keyframe (with PAT/PMT in front), or at any audio unit without video.
      if (hasVideo ? !(isVideo && u.keyframe) : isVideo) return;
      this.begin(u);
    } else if (
      hasVideo
        ? isVideo && ((u.keyframe && (elapsed >= target || this.layoutChanged)) || elapsed >= target * MAX_SEGMENT_TARGETS)
        : elapsed >= target || this.layoutChanged
    ) {
      this.complete(u.dts);
      this.begin(u);
    } else if (hasVideo && isVideo && elapsed >= target && u.dts - this.keyframeAskedAt >= target) {
      // A source that makes keyframes only when asked (a browser over WHIP) is asked when a segment is due.
      this.keyframeAskedAt = u.dts;
      this.stream.publisher.requestKeyframe?.('HLS segment due');
    }
    const bytes = this.ts.mux(u);
    if (bytes.length === 0) return;
    this.current!.chunks.push(bytes);
    this.current!.bytes += bytes.length;
    this.bytes += bytes.length;
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

  stop(_reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.waiters.stop();
  }

  get hasSegment(): boolean {
    return this.list.some((s) => s.complete);
  }

  segment(msn: number): TsSegment | undefined {
    const first = this.list[0];
    return first ? this.list[msn - first.msn] : undefined;
  }

  get stats(): { segments: number; bytes: number } {
    return { segments: this.list.length, bytes: this.bytes };
  }

  get waiting(): number {
    return this.waiters.size;
  }

  whenReady(check: () => boolean, timeoutMs: number): Promise<boolean> {
    return this.waiters.whenReady(check, timeoutMs);
  }

  /** The media playlist: complete segments only, as plain HLS players expect. */
  playlist(): string {
    const complete = this.list.filter((s) => s.complete);
    const lines = ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${this.targetDuration}`, `#EXT-X-MEDIA-SEQUENCE:${complete[0]?.msn ?? 0}`];
    if (this.discontinuitySeq > 0) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${this.discontinuitySeq}`);
    for (const s of complete) {
      if (s.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(s.programDateTime).toISOString()}`, `#EXTINF:${Number(s.duration.toFixed(5))},`, `${this.id}-t${s.msn}.ts`);
    }
    return lines.join('\n') + '\n';
  }

  multivariant(mediaUri: string): string {
    const video = this.tracks.find((t) => t.kind === 'video' && (t.codec === 'h264' || t.codec === 'h265'));
    const audio = this.tracks.find((t) => t.kind === 'audio' && (t.codec === 'aac' || t.codec === 'mp3'));
    const codecs = [video, audio].filter((t): t is Track => t !== undefined).map(codecStringOf).filter((c): c is string => c !== null);
    const bits = this.stream.bitrate * 8;
    return renderMultivariantPlaylist({
      bandwidth: Math.max(200_000, Math.round(bits * 1.25)),
      codecs,
      ...(video?.kind === 'video' && video.width && video.height ? { resolution: { width: video.width, height: video.height } } : {}),
      uri: mediaUri,
    });
  }

  private begin(u: MediaUnit): void {
    const s: TsSegment = { msn: this.nextMsn++, chunks: [], startDts: u.dts, programDateTime: epochMs(u.receivedAt), complete: false, discontinuity: this.layoutChanged, duration: 0, bytes: 0 };
    this.layoutChanged = false;
    this.current = s;
    this.list.push(s);
  }

  private complete(endDts: number): void {
    const cur = this.current!;
    cur.complete = true;
    cur.duration = Math.max(0, endDts - cur.startDts) / 90_000;
    this.targetDuration = Math.max(this.targetDuration, Math.round(cur.duration));
    this.current = null;
    let complete = this.list.filter((s) => s.complete).length;
    while (complete > this.options.segmentCount) {
      const old = this.list.shift()!;
      this.bytes -= old.bytes;
      // The discontinuity tag leaves with its segment: the count in the playlist keeps its number.
      if (old.discontinuity) this.discontinuitySeq++;
      complete--;
    }
    this.waiters.wake();
  }
}
