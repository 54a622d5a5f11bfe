/**
 * Decode times for video received over RTP, which carries presentation times only. With B-frames
 * (presentation order ≠ decode order) the frames arrive in decode order with PTS out of order; FLV,
 * MPEG-TS and fMP4 need a DTS that rises, never above the PTS. With a reorder depth R (the SPS says
 * it, or it is learnt), the DTS of frame i is the (i − R)-th smallest PTS seen so far: rising, and not
 * above frame i's PTS as long as no frame is shown more than R places before its decode position.
 * The first R frames get DTS just below the first PTS (`startTicks` apart), so the caller keeps that
 * much room at the start of its timeline. Without reordering (R = 0) DTS = PTS. Pure.
 */

const MAX_REORDER = 16;

export class DecodeTimes {
  /** PTS seen and not yet given out as a DTS, ascending. */
  private readonly waiting: number[] = [];
  /** The last PTS in decode order, to learn the depth. */
  private readonly recent: number[] = [];
  private seen = 0;
  private first: number | null = null;
  private lastDts = -Infinity;
  /** Frames that came out of order by more than the depth known then (the depth grew). */
  relearned = 0;

  constructor(
    private reorder = 0,
    /** Spacing of the first R decode times below the first PTS (ticks). */
    private readonly startTicks = 1500,
  ) {
    this.reorder = Math.min(MAX_REORDER, Math.max(0, reorder));
  }

  get depth(): number {
    return this.reorder;
  }

  /** The SPS said the depth (a new SPS may say another; it only ever grows here). */
  setDepth(reorder: number): void {
    if (reorder > this.reorder) this.reorder = Math.min(MAX_REORDER, reorder);
  }

  /** The DTS of the next frame in decode order, given its PTS. */
  next(pts: number): number {
    if (this.first === null) this.first = pts;
    // How many frames already seen are shown after this one: the depth needed.
    let later = 0;
    for (const p of this.recent) if (p > pts) later++;
    this.recent.push(pts);
    if (this.recent.length > MAX_REORDER + 1) this.recent.shift();
    if (later > this.reorder && this.reorder < MAX_REORDER) {
      this.relearned++;
      this.reorder = Math.min(MAX_REORDER, later);
    }
    insertSorted(this.waiting, pts);
    const i = this.seen++;
    let dts: number;
    if (this.reorder === 0) {
      dts = this.waiting.shift()!;
    } else if (this.waiting.length > this.reorder) {
      dts = this.waiting.shift()!;
    } else {
      dts = this.first - (this.reorder - Math.min(i, this.reorder - 1)) * this.startTicks;
    }
    // Rising, whatever the input (a depth learnt late costs one out-of-place frame at most).
    if (dts <= this.lastDts) dts = this.lastDts + 1;
    this.lastDts = dts;
    return dts;
  }

  /** A new sequence (source restart): the next frame starts over. */
  reset(): void {
    this.waiting.length = 0;
    this.recent.length = 0;
    this.seen = 0;
    this.first = null;
    this.lastDts = -Infinity;
  }
}

function insertSorted(list: number[], v: number): void {
  let i = list.length;
  while (i > 0 && list[i - 1]! > v) i--;
  list.splice(i, 0, v);
}
