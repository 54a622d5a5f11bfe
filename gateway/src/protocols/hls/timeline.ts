/**
 * The timeline of an HLS output. A playlist's media time must run on: a player schedules segments by
 * their decode times, and a segment's duration is the span of its samples. Sources break that — an
 * encoder that restarts its clock, a timestamp wrap, the silence a new publisher's hand-over leaves
 * (the stream shifts it forward by the wall time it lasted, which is right for an FLV or RTMP player
 * and wrong here: the silence would become one sample seconds long, and the target duration with it).
 *
 * So each unit's times are mapped through one shift shared by all the tracks (lip sync is kept):
 * when a track's time goes back, or jumps ahead of every track by more than `maxGapTicks`, the shift
 * changes so that the unit lands one frame after the latest mapped time. A track whose units merely
 * pause (video of a static screen, audio continuing) is no jump: it is measured against the newest
 * time of any track.
 */
import type { MediaUnit } from '../../core/media-unit.js';

/** Time going back by less than this within a track is jitter (the muxers' durations absorb it). */
const BACK_TOLERANCE_TICKS = 90 * 500;

export class HlsTimeline {
  private shift = 0;
  /** Newest mapped dts of any track. */
  private newest: number | null = null;
  /** Newest mapped dts per track id. */
  private readonly lastByTrack = new Map<number, number>();
  /** Jumps remapped so far (for the API and logs). */
  jumps = 0;

  constructor(private readonly maxGapTicks: number) {}

  /**
   * `u` on the output's timeline (the same object when nothing is shifted). `frameTicks`: how far
   * after the newest time a unit that jumped lands. `onJump` is told how far the source jumped.
   */
  map(u: MediaUnit, frameTicks: number, onJump?: (byTicks: number) => void): MediaUnit {
    let dts = u.dts + this.shift;
    const id = u.track.id;
    const last = this.lastByTrack.get(id);
    const newest = this.newest;
    const back = last !== undefined && dts < last - BACK_TOLERANCE_TICKS;
    const ahead = newest !== null && dts > Math.max(newest, last ?? newest) + this.maxGapTicks;
    if (back || ahead) {
      const to = newest! + frameTicks;
      onJump?.(dts - to);
      this.shift += to - dts;
      dts = to;
      this.jumps++;
    }
    if (last === undefined || dts > last) this.lastByTrack.set(id, dts);
    if (newest === null || dts > newest) this.newest = dts;
    if (this.shift === 0) return u;
    // The memo is shared: what the HLS muxers memoise on a unit (TS elementary streams) does not depend on time.
    return { track: u.track, dts, pts: u.pts + this.shift, keyframe: u.keyframe, data: u.data, receivedAt: u.receivedAt, memo: u.memo };
  }
}
