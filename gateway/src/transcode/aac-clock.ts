/**
 * The time line of one Opus → AAC transcoder. Pure: no I/O, no timers.
 *
 * The AAC encoder sees one unbroken run of 48 kHz samples and counts them; it knows nothing of the
 * publisher's clock. This class decides, for every Opus packet, how it joins that run:
 * - it follows on (jitter within `toleranceTicks` is ignored: the sample count is the better clock);
 * - it is a little off, either way (up to `reanchorTicks`: the stream clock slewing audio towards
 *   video after RTCP sender reports, by up to 2 %): the time line is re-anchored at the packet, no
 *   samples added or dropped — the AAC frames' pts follow the corrected clock, the sound is untouched;
 * - it leaves a gap shorter than `maxConcealTicks` (loss, DTX): the gap is concealed so the AAC clock
 *   stays continuous — FLV/RTMP players stall or drift on audio that jumps;
 * - it jumps further, or back (the publisher restarted its clock): a new segment starts at the
 *   packet's time. The old segment is first padded to a whole AAC frame, so that every AAC frame
 *   belongs to exactly one segment.
 * It then maps every AAC frame the encoder makes back to a 90 kHz pts.
 */
import { TIMESCALE } from '../core/media-unit.js';

export const AAC_RATE = 48_000;
/** Samples per AAC-LC frame. */
export const AAC_FRAME = 1024;
/**
 * libavcodec's AAC encoder delays its output by one frame (initial_padding = 1024): its first packet
 * decodes to priming, the second to the first input samples. mediabunny stamps packets by counting
 * frames from the first input, so a packet's audio starts this many samples before its stamp.
 */
export const ENCODER_DELAY = 1024;
const TICKS_PER_SAMPLE = TIMESCALE / AAC_RATE;

export interface AacClockOptions {
  /** Deviation from the sample clock ignored as jitter (90 kHz ticks; default 2 ms). */
  toleranceTicks?: number;
  /** Deviations up to this (either way) re-anchor the time line without touching the samples (default 6 ms). */
  reanchorTicks?: number;
  /** Gaps up to this long are concealed; longer ones start a new segment (default 1 s). */
  maxConcealTicks?: number;
}

/** What to feed the encoder before a packet's own samples. */
export interface Placement {
  /** Silence that completes the previous segment's last AAC frame (only when `restart`). */
  pad: number;
  /** Missing samples before the packet, to conceal (packet loss concealment or silence). */
  conceal: number;
  /** The packet repeats the previous one's time: skip it. */
  duplicate: boolean;
  /** The packet starts a new segment at its own time. */
  restart: boolean;
}

interface Segment {
  /** Encoder sample index of the segment's first sample. */
  index: number;
  /** Its pts, 90 kHz. */
  pts: number;
}

export class AacClock {
  private fed = 0;
  private readonly segments: Segment[] = [];
  private lastPts: number | null = null;
  private readonly tolerance: number;
  private readonly reanchor: number;
  private readonly maxConceal: number;
  /** Counters. */
  restarts = 0;
  reanchors = 0;
  concealedSamples = 0;
  duplicates = 0;

  constructor(options: AacClockOptions = {}) {
    this.tolerance = options.toleranceTicks ?? TIMESCALE / 500;
    this.reanchor = Math.max(this.tolerance, options.reanchorTicks ?? (TIMESCALE * 6) / 1000);
    this.maxConceal = options.maxConcealTicks ?? TIMESCALE;
  }

  /** Samples handed to the encoder so far (pads and concealment included). */
  get samplesFed(): number {
    return this.fed;
  }

  /** The pts (90 kHz) the next input sample has on the current segment, or null before the first packet. */
  expectedPts(): number | null {
    const s = this.segments[this.segments.length - 1];
    return s ? s.pts + (this.fed - s.index) * TICKS_PER_SAMPLE : null;
  }

  /**
   * Places a packet that starts at `pts`; `resync` forces a new segment (input was dropped before
   * it). The caller then feeds `pad`, `conceal` and the packet's samples, and calls `advance` for
   * the packet's samples (pad and conceal are already counted).
   */
  place(pts: number, resync = false): Placement {
    const expected = this.expectedPts();
    if (expected === null || resync) return this.restart(pts);
    if (pts === this.lastPts) {
      this.duplicates++;
      return { pad: 0, conceal: 0, duplicate: true, restart: false };
    }
    const delta = pts - expected;
    this.lastPts = pts;
    if (Math.abs(delta) <= this.tolerance) return { pad: 0, conceal: 0, duplicate: false, restart: false };
    if (Math.abs(delta) <= this.reanchor) {
      // The clock was corrected a little: samples run on, their time follows the packet's.
      this.segments.push({ index: this.fed, pts });
      this.reanchors++;
      return { pad: 0, conceal: 0, duplicate: false, restart: false };
    }
    if (delta > 0 && delta < this.maxConceal) {
      const conceal = Math.round(delta / TICKS_PER_SAMPLE);
      this.fed += conceal;
      this.concealedSamples += conceal;
      return { pad: 0, conceal, duplicate: false, restart: false };
    }
    return this.restart(pts);
  }

  /** The packet's own samples went to the encoder. */
  advance(samples: number): void {
    this.fed += samples;
  }

  /**
   * The pts (90 kHz) of the AAC packet the encoder stamped `stampSamples` (its frame count × 1024
   * from the first input). Packets must be asked for in order: segments behind them are forgotten.
   */
  ptsOfPacket(stampSamples: number): number {
    const first = stampSamples - ENCODER_DELAY;
    while (this.segments.length > 1 && this.segments[1]!.index <= first) this.segments.shift();
    const s = this.segments[0];
    if (!s) throw new Error('AacClock: a packet before any input');
    return Math.round(s.pts + (first - s.index) * TICKS_PER_SAMPLE);
  }

  private restart(pts: number): Placement {
    const first = this.segments.length === 0;
    const pad = this.fed % AAC_FRAME === 0 ? 0 : AAC_FRAME - (this.fed % AAC_FRAME);
    this.fed += pad;
    this.segments.push({ index: this.fed, pts });
    this.lastPts = pts;
    if (!first) this.restarts++;
    return { pad, conceal: 0, duplicate: false, restart: !first };
  }
}
