/**
 * HLS playlists as text (RFC 8216bis, with Low-Latency HLS): the media playlist of a live window of
 * fMP4 segments and their partial segments, its delta update (`_HLS_skip=YES`), and the multivariant
 * playlist naming the one rendition. Pure: the model in, the text out.
 */

export interface PlaylistPart {
  /** Seconds. */
  duration: number;
  uri: string;
  /** Starts with a keyframe (or is audio only). */
  independent: boolean;
}

export interface PlaylistSegment {
  msn: number;
  /** Seconds (of a complete segment: the sum of its parts). */
  duration: number;
  uri: string;
  parts: readonly PlaylistPart[];
  /** Wall-clock time of its first sample, ms since the epoch. */
  programDateTime: number;
  /** The init segment its samples need. */
  mapUri: string;
  /** Its init segment or its timeline differs from the previous segment's. */
  discontinuity: boolean;
  /** False for the segment being written (only its parts so far). */
  complete: boolean;
}

export interface MediaPlaylistModel {
  /** Seconds, an integer: no segment's duration rounds above it. */
  targetDuration: number;
  /** Seconds. */
  partTarget: number;
  /** Discontinuities that left the window before its first segment. */
  discontinuitySequence: number;
  /** Oldest first; the last one may be incomplete. */
  segments: readonly PlaylistSegment[];
  /** The next part's URI (EXT-X-PRELOAD-HINT). */
  preloadHint: string | null;
  /** Every segment starts with a keyframe (EXT-X-INDEPENDENT-SEGMENTS); true unless said otherwise. */
  independentSegments?: boolean;
}

/** Parts are listed for the segments that end within this many target durations of the live edge (and the one being written). */
const PART_WINDOW_TARGETS = 3;

/** Seconds as a decimal with at most 5 places ("0.2", "2.002"). */
const seconds = (s: number): string => String(Number(s.toFixed(5)));

/** CAN-SKIP-UNTIL: six target durations, as the spec recommends. */
export const skipUntil = (m: Pick<MediaPlaylistModel, 'targetDuration'>): number => 6 * m.targetDuration;
/** PART-HOLD-BACK: three part targets (the spec's least is two). */
export const partHoldBack = (m: Pick<MediaPlaylistModel, 'partTarget'>): number => 3 * m.partTarget;

/**
 * How many of the oldest segments a delta update leaves out: those that end more than CAN-SKIP-UNTIL
 * before the end of the playlist (complete ones only, and never the whole playlist).
 */
export function skippableSegments(m: MediaPlaylistModel): number {
  const end = m.segments.reduce((t, s) => t + (s.complete ? s.duration : s.parts.reduce((p, x) => p + x.duration, 0)), 0);
  let skipped = 0;
  let t = 0;
  for (const s of m.segments) {
    if (!s.complete) break;
    t += s.duration;
    if (end - t < skipUntil(m)) break;
    skipped++;
  }
  return skipped;
}

export function renderMediaPlaylist(m: MediaPlaylistModel, options: { skip?: boolean } = {}): string {
  const first = m.segments[0];
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:9',
    `#EXT-X-TARGETDURATION:${m.targetDuration}`,
    `#EXT-X-MEDIA-SEQUENCE:${first?.msn ?? 0}`,
    ...(m.discontinuitySequence > 0 ? [`#EXT-X-DISCONTINUITY-SEQUENCE:${m.discontinuitySequence}`] : []),
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${seconds(partHoldBack(m))},CAN-SKIP-UNTIL=${seconds(skipUntil(m))}`,
    `#EXT-X-PART-INF:PART-TARGET=${seconds(m.partTarget)}`,
    ...(m.independentSegments === false ? [] : ['#EXT-X-INDEPENDENT-SEGMENTS']),
  ];
  const skipped = options.skip ? skippableSegments(m) : 0;
  if (skipped > 0) lines.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${skipped}`);
  // Where parts start being listed: segments ending within PART_WINDOW_TARGETS target durations of the end.
  const ends: number[] = [];
  let t = 0;
  for (const s of m.segments) ends.push((t += s.complete ? s.duration : s.parts.reduce((p, x) => p + x.duration, 0)));
  const partsFrom = t - PART_WINDOW_TARGETS * m.targetDuration;
  let map: string | null = null;
  m.segments.forEach((s, i) => {
    if (i < skipped) {
      map = s.mapUri;
      return;
    }
    // Kept while its segment is listed (also first): DISCONTINUITY-SEQUENCE grows when it leaves.
    if (s.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    if (s.mapUri !== map) {
      lines.push(`#EXT-X-MAP:URI="${s.mapUri}"`);
      map = s.mapUri;
    } else if (i === skipped && skipped > 0) {
      // A delta update names the map of its first listed segment again.
      lines.push(`#EXT-X-MAP:URI="${s.mapUri}"`);
    }
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(s.programDateTime).toISOString()}`);
    if (!s.complete || ends[i]! > partsFrom) {
      for (const p of s.parts) lines.push(`#EXT-X-PART:DURATION=${seconds(p.duration)},URI="${p.uri}"${p.independent ? ',INDEPENDENT=YES' : ''}`);
    }
    if (s.complete) lines.push(`#EXTINF:${seconds(s.duration)},`, s.uri);
  });
  if (m.preloadHint) lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${m.preloadHint}"`);
  return lines.join('\n') + '\n';
}

export interface VariantModel {
  /** Peak bits per second. */
  bandwidth: number;
  averageBandwidth?: number;
  /** RFC 6381 codec strings, e.g. ["avc1.64001f", "mp4a.40.2"]. */
  codecs: readonly string[];
  resolution?: { width: number; height: number };
  frameRate?: number;
  uri: string;
}

/** The multivariant playlist of one rendition (CODECS let a player check what it can decode first). */
export function renderMultivariantPlaylist(v: VariantModel): string {
  const attrs = [`BANDWIDTH=${Math.max(1, Math.round(v.bandwidth))}`];
  if (v.averageBandwidth) attrs.push(`AVERAGE-BANDWIDTH=${Math.round(v.averageBandwidth)}`);
  if (v.codecs.length > 0) attrs.push(`CODECS="${v.codecs.join(',')}"`);
  if (v.resolution && v.resolution.width > 0 && v.resolution.height > 0) attrs.push(`RESOLUTION=${v.resolution.width}x${v.resolution.height}`);
  if (v.frameRate) attrs.push(`FRAME-RATE=${v.frameRate.toFixed(3)}`);
  return ['#EXTM3U', '#EXT-X-VERSION:9', '#EXT-X-INDEPENDENT-SEGMENTS', `#EXT-X-STREAM-INF:${attrs.join(',')}`, v.uri].join('\n') + '\n';
}
