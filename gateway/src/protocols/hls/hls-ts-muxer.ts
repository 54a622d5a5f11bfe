/**
 * Classic HLS with MPEG-TS segments (`hls.variant: mpegts`), for old players and set-top boxes: the
 * stream muxed once into TS by the same UnitsToTs the SRT readers use (PAT/PMT before every keyframe,
 * so each segment starts decodable), cut into segments at keyframes once `segmentTargetMs` has passed,
 * a window of `segmentCount`. No parts: the playlist is plain HLS (version 3).
 */
import { randomBytes } from 'node:crypto';
import type { MediaUnit, StreamMetadata, Track } from '../../core/media-unit.js';
import type { ReaderSink, StreamStart } from '../../core/reader.js';
import { UnitsToTs } from '../../format/mpegts/ts-media.js';
import { renderMultivariantPlaylist } from '../../format/hls/media-playlist.js';
import type { Stream } from '../../core/stream.js';
import { codecStringOf } from './codec-strings.js';
import { ReadyWaiters } from './ready-waiters.js';

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
  /** Seconds, once complete. */
  duration: number;
  bytes: number;
}


const epochMs = (receivedAt: number): number => Date.now() - (performance.now() - receivedAt);

export class HlsTsMuxer implements ReaderSink {
  readonly id = randomBytes(4).toString('hex');
  private readonly ts = new UnitsToTs();
  private tracks: readonly Track[] = [];
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
    this.tracks = info.tracks;
    this.ts.setTracks(info.tracks);
  }

  trackUpdate(_track: Track, tracks: readonly Track[]): void {
    this.tracks = tracks;
    this.ts.setTracks(tracks);
  }

  metadata(_meta: StreamMetadata): void {}

  omits(track: Track): string | null {
    if (track.kind === 'video') return track.codec === 'h264' || track.codec === 'h265' ? null : `HLS (MPEG-TS) carries H264 and H265 video: ${track.codec.toUpperCase()} is not carried`;
    return track.codec === 'aac' || track.codec === 'mp3' ? null : `HLS (MPEG-TS) carries AAC and MP3 audio: ${track.codec.toUpperCase()} is not carried`;
  }

  unit(u: MediaUnit): void {
    if (this.stopped) return;
    const hasVideo = this.ts.streams.some((s) => s.codec === 'h264' || s.codec === 'h265');
    const isVideo = u.track.kind === 'video';
    const cur = this.current;
    if (!cur) {
      // Segments start decodable: at a keyframe (with PAT/PMT in front), or at any audio unit without video.
      if (hasVideo ? !(isVideo && u.keyframe) : isVideo) return;
      this.begin(u);
    } else if (hasVideo ? isVideo && u.keyframe && u.dts - cur.startDts >= this.options.segmentTargetMs * 90 : u.dts - cur.startDts >= this.options.segmentTargetMs * 90) {
      this.complete(u.dts);
      this.begin(u);
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
    for (const s of complete) {
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
    const s: TsSegment = { msn: this.nextMsn++, chunks: [], startDts: u.dts, programDateTime: epochMs(u.receivedAt), complete: false, duration: 0, bytes: 0 };
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
      this.bytes -= this.list.shift()!.bytes;
      complete--;
    }
    this.waiters.wake();
  }
}
