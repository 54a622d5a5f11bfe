/**
 * RTP timestamps → one stream timeline (90 kHz ticks) for all tracks of a publisher, so that audio
 * and video stay in sync.
 *
 * Each track's RTP clock has its own random base (RFC 3550 §5.1); only RTCP sender reports
 * (§6.4.1), which pair an RTP timestamp with the sender's NTP wall clock, tell how the tracks line
 * up. Until a track has one, its first packet is placed at its arrival on the local clock. Once
 * reports are known, every track is steered onto the sender's NTP clock:
 *
 * - the first accepted report of any track fixes NTP ↔ timeline, using that track's current
 *   mapping of the report's RTP timestamp (so that track does not move at all);
 * - each track then has a target offset from its latest report; the offset in use moves towards it
 *   by at most maxSlewPpm of the media time that passes (2 % by default: 20 ms per second), so a
 *   track's output never goes backwards and never jumps;
 * - a report asking for more than STEP_TICKS (1 s) is ignored until another report of that track
 *   asks for the same (garbage cannot move the clock by more than the slew). A confirmed large
 *   forward correction is stepped; a confirmed large backward one would make the track go back, so
 *   the whole timeline moves forward instead (the NTP ↔ timeline relation is shifted): that track
 *   keeps its time and the other tracks step forward to stay in sync with it. While no second
 *   report has agreed with the one that fixed the relation, a confirmed large correction fixes the
 *   relation again instead (the first report was the garbage one), and nothing steps.
 *
 * The origin (tick 0) is the arrival of the first packet of any track; output is never negative,
 * and per track never decreases while its RTP timestamps do not. A track that starts later, or
 * restarts (reset(), or an RTP timestamp jump of more than 1 s back or 10 s ahead of the time that
 * passed), is anchored at its arrival on the local clock moved onto the NTP timeline, and never
 * before its own last output. The timeline follows the sender's NTP clock, not the local one: over
 * hours the two may part by the clocks' drift (tens of ppm), which no reader notices.
 */
import { TIMESCALE } from '../../core/media-unit.js';

const TICKS_PER_SECOND = TIMESCALE;
const TICKS_PER_MS = TIMESCALE / 1000;
const NTP_ONE_SECOND = 2 ** 32;
/** Corrections above this are stepped (forward) or rebased (backward), once confirmed. */
const STEP_TICKS = TICKS_PER_SECOND;
/** Two reports asking for the same large correction agree within this. */
const CONFIRM_TICKS = 100 * TICKS_PER_MS;
/** Unconfirmed large corrections remembered per track. */
const MAX_CANDIDATES = 16;
/** An RTP timestamp this far behind the last one is a sender restart, not reordering. */
const MAX_BACKWARD_TICKS = TICKS_PER_SECOND;
/** An RTP timestamp this far ahead of the time that passed is a sender restart, not a pause. */
const MAX_AHEAD_TICKS = 10 * TICKS_PER_SECOND;

export interface RtpTimelineOptions {
  /** Fastest correction of a track's offset, in parts per million of media time. Default 20 000 (2 %). */
  maxSlewPpm?: number;
}

export interface RtpTrackClockStats {
  /** Sender reports given to senderReport(). */
  reports: number;
  /** Reports asking for a large correction that no second report confirmed (yet). */
  ignoredReports: number;
  /** Confirmed large corrections applied as a forward step of this track. */
  steps: number;
  /** Confirmed large backward corrections of this track, applied by moving the timeline forward. */
  rebases: number;
  /** RTP timestamp jumps taken as a sender restart (the track was re-anchored). */
  reanchors: number;
}

interface Report {
  ntp: bigint;
  /** The report's RTP timestamp, extended in the track's numbering. */
  ext: number;
}

/** State shared by the tracks of one timeline. */
class Shared {
  /** Each track's way to drop its report when the relation starts over. */
  readonly forgetters: (() => void)[] = [];
  originMs: number | null = null;
  ntpBase: bigint | null = null;
  tickBase = 0;
  /** A second report agreed with the relation: it is no longer taken for a garbage first report. */
  confirmed = false;
  /** Bumped whenever ntpToTicks changes: tracks cache their target offset against it. */
  version = 0;
  /** The latest accepted report, for placing new anchors on the timeline. */
  lastReport: { ntp: bigint; arrivalMs: number } | null = null;

  constructor(readonly slew: number) {}

  ntpToTicks(ntp: bigint): number {
    return (Number(ntp - this.ntpBase!) * TICKS_PER_SECOND) / NTP_ONE_SECOND + this.tickBase;
  }

  fix(ntp: bigint, ticks: number): void {
    this.ntpBase = ntp;
    this.tickBase = ticks;
    this.confirmed = false;
    this.version++;
  }

  shift(ticks: number): void {
    this.tickBase += ticks;
    this.version++;
  }

  /** Where an arrival lands on the timeline: the local clock, moved onto NTP once reports are known. */
  estimate(arrivalMs: number): number {
    if (this.originMs === null) this.originMs = arrivalMs;
    let ticks = (arrivalMs - this.originMs) * TICKS_PER_MS;
    // Only a confirmed relation: the report that fixed it may be garbage, and map anywhere.
    const r = this.lastReport;
    if (r && this.confirmed) ticks += this.ntpToTicks(r.ntp) - (r.arrivalMs - this.originMs) * TICKS_PER_MS;
    return ticks;
  }
}

/** The shared state of each timeline, out of reach of the public API. */
const states = new WeakMap<RtpTimeline, Shared>();

/** One per publisher: every track of it maps onto the same timeline. */
export class RtpTimeline {
  constructor(options: RtpTimelineOptions = {}) {
    const ppm = options.maxSlewPpm ?? 20_000;
    if (!(ppm >= 0 && ppm <= 1_000_000)) throw new RangeError('maxSlewPpm must be within 0…1 000 000');
    states.set(this, new Shared(ppm / 1_000_000));
  }

  /** A clock for one track (one SSRC at a time) with this RTP clock rate (90 000 video, 48 000 Opus). */
  track(clockRate: number): RtpTrackClock {
    return new RtpTrackClock(this, clockRate);
  }
}

/** One track's clock on a timeline (the same as timeline.track(clockRate)). */
export class RtpTrackClock {
  readonly stats: RtpTrackClockStats = { reports: 0, ignoredReports: 0, steps: 0, rebases: 0, reanchors: 0 };
  /** Ticks per RTP timestamp unit. */
  private readonly scale: number;
  private anchored = false;
  private lastRtp = 0;
  /** lastRtp unwrapped: RTP units since the anchor. */
  private lastExt = 0;
  private lastArrival = 0;
  /** Ticks of RTP timestamp `ext`: offset + ext × scale. */
  private offset = 0;
  /** The report the offset is steered towards. */
  private report: Report | null = null;
  private target = 0;
  private targetVersion = -1;
  /** A report that came before the first packet: applied once the track is anchored. */
  private pending: { ntp: bigint; rtp: number; arrivalMs: number } | null = null;
  /**
   * Target offsets of recent reports that asked for a large correction, waiting for a second
   * report to agree (garbage in between must not stop a real one from being confirmed).
   */
  private candidates: { target: number; version: number }[] = [];
  private lastOut = -1;
  private lastStep = 0;

  private readonly shared: Shared;

  constructor(
    timeline: RtpTimeline,
    readonly clockRate: number,
  ) {
    if (!(clockRate > 0 && clockRate <= 10_000_000)) throw new RangeError(`RTP clock rate ${clockRate}`);
    this.shared = states.get(timeline)!;
    this.scale = TICKS_PER_SECOND / clockRate;
    this.shared.forgetters.push(() => this.forgetReport());
  }

  /** Stream time (90 kHz ticks) of this RTP timestamp; arrivalMs = performance.now() when the packet arrived. */
  toTicks(rtpTimestamp: number, arrivalMs: number): number {
    const rtp = rtpTimestamp >>> 0;
    if (!this.anchored) this.anchor(rtp, arrivalMs);
    else {
      const delta = (rtp - this.lastRtp) | 0; // signed 32-bit distance: the wrap is unwrapped here
      const media = delta * this.scale;
      const passed = Math.max(0, (arrivalMs - this.lastArrival) * TICKS_PER_MS);
      if (media < -MAX_BACKWARD_TICKS || media > passed + MAX_AHEAD_TICKS) {
        this.stats.reanchors++;
        this.forget();
        this.anchor(rtp, arrivalMs);
      } else {
        if (media > 0) this.steer(media);
        this.lastRtp = rtp;
        this.lastExt += delta;
        this.lastArrival = arrivalMs;
      }
    }
    let out = Math.round(this.offset + this.lastExt * this.scale);
    if (out < 0) out = 0;
    if (out > this.lastOut) {
      if (this.lastOut >= 0) this.lastStep = out - this.lastOut;
      this.lastOut = out;
    }
    return out;
  }

  /** An RTCP SR for this track: NTP time (seconds since 1900 << 32 | fraction) and RTP timestamp. */
  senderReport(ntp: bigint, rtpTimestamp: number, arrivalMs: number): void {
    this.stats.reports++;
    const n = BigInt.asUintN(64, ntp);
    const rtp = rtpTimestamp >>> 0;
    if (this.anchored) this.apply(n, rtp, arrivalMs);
    else this.pending = { ntp: n, rtp, arrivalMs };
  }

  /** SSRC change / sender restart: the next packet re-anchors; time keeps running forward. */
  reset(): void {
    this.forget();
    this.anchored = false;
  }

  private apply(n: bigint, rtp: number, arrivalMs: number): void {
    const s = this.shared;
    const ext = this.lastExt + ((rtp - this.lastRtp) | 0);
    if (s.ntpBase === null) {
      s.fix(n, this.offset + ext * this.scale);
      this.accept(n, ext, arrivalMs);
      return;
    }
    const target = s.ntpToTicks(n) - ext * this.scale;
    const correction = target - this.offset;
    if (Math.abs(correction) <= STEP_TICKS) {
      s.confirmed = true;
      this.accept(n, ext, arrivalMs);
      return;
    }
    if (!this.candidates.some((c) => c.version === s.version && Math.abs(target - c.target) <= CONFIRM_TICKS)) {
      if (this.candidates.push({ target, version: s.version }) > MAX_CANDIDATES) this.candidates.shift();
      this.stats.ignoredReports++;
      return;
    }
    // A second report asks for the same large correction: it is real.
    if (!s.confirmed) {
      // Nothing ever agreed with the report that fixed the relation: start it over from this one.
      s.fix(n, this.offset + ext * this.scale);
      for (const forget of s.forgetters) forget();
    } else if (correction > 0) {
      this.offset = target;
      this.stats.steps++;
    } else {
      // Going back would break monotonic output: move everyone else forward instead.
      s.shift(-correction);
      this.stats.rebases++;
    }
    this.accept(n, ext, arrivalMs);
  }

  private anchor(rtp: number, arrivalMs: number): void {
    this.anchored = true;
    this.lastRtp = rtp;
    this.lastExt = 0;
    this.lastArrival = arrivalMs;
    let at = this.shared.estimate(arrivalMs);
    // After a restart, continue after the last output (one unit's spacing later), never before it.
    if (this.lastOut >= 0) at = Math.max(at, this.lastOut + Math.max(1, this.lastStep));
    this.offset = Math.max(0, at);
    const p = this.pending;
    this.pending = null;
    if (p) this.apply(p.ntp, p.rtp, p.arrivalMs);
  }

  private accept(ntp: bigint, ext: number, arrivalMs: number): void {
    this.report = { ntp, ext };
    this.targetVersion = -1;
    this.candidates = [];
    this.shared.lastReport = { ntp, arrivalMs };
  }

  /** Moves the offset towards the report's target by at most the slew allowed for `media` ticks. */
  private steer(media: number): void {
    const r = this.report;
    if (!r) return;
    const s = this.shared;
    if (this.targetVersion !== s.version) {
      this.target = s.ntpToTicks(r.ntp) - r.ext * this.scale;
      this.targetVersion = s.version;
    }
    const diff = this.target - this.offset;
    if (diff > STEP_TICKS) {
      // Only after another track moved the timeline forward (see senderReport).
      this.offset = this.target;
      this.stats.steps++;
      return;
    }
    const max = media * s.slew;
    this.offset += diff > max ? max : diff < -max ? -max : diff;
  }

  private forget(): void {
    this.forgetReport();
    this.pending = null;
  }

  private forgetReport(): void {
    this.report = null;
    this.candidates = [];
  }
}
