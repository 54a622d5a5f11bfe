/**
 * Live-edge maths for the MSE players (FLV, HLS): how far playback is behind what is buffered, and
 * what to do about it. Pure functions over numbers.
 */

/** A media element's buffered ranges, as `TimeRanges` gives them. */
export interface BufferedRanges {
  readonly length: number;
  start(index: number): number;
  end(index: number): number;
}

/** Seconds buffered ahead of `currentTime` in the range that holds it (0 when none does). */
export function bufferAheadSeconds(buffered: BufferedRanges, currentTime: number): number {
  for (let i = 0; i < buffered.length; i++) {
    if (currentTime >= buffered.start(i) - 0.05 && currentTime <= buffered.end(i)) return Math.max(0, buffered.end(i) - currentTime);
  }
  // Playback sits in a gap (e.g. before the first range after a reconnect): the latest end counts.
  return buffered.length > 0 ? Math.max(0, buffered.end(buffered.length - 1) - currentTime) : 0;
}

export interface LiveEdgePolicy {
  /** Latency (ms) above which the player corrects: it then plays faster until back at the edge. */
  targetMs: number;
  /** How far behind the buffer end playback sits when caught up (ms), at most the target; default min(250, target). */
  edgeMs?: number;
  /** Fastest playback rate used to catch up (≤ 1.1 keeps pitch changes unnoticeable). Default 1.1. */
  maxRate?: number;
  /** Latency above which catching up starts (ms), at most the target; default the target. */
  catchUpAboveMs?: number;
  /** Latency above which the player seeks to the edge instead of speeding up (ms). Default target + 1500. */
  seekAboveMs?: number;
  /** No correction within this much of the edge (ms). Default 50. */
  toleranceMs?: number;
}

export type LiveEdgeAction =
  | { kind: 'rate'; playbackRate: number; /** Still catching up: pass it back in next time. */ catchingUp: boolean }
  | { kind: 'seek'; /** Seconds behind the buffer end to land at. */ behindEndSeconds: number };

/** Where playback sits when caught up (ms). */
export function liveEdgeMs(policy: LiveEdgePolicy): number {
  return Math.max(0, Math.min(policy.edgeMs ?? 250, policy.targetMs));
}

/**
 * What to do at buffer latency `latencyMs`. Under the target: play at 1×. Over it: play faster in
 * proportion to the excess (up to maxRate) and keep doing so (`catchingUp`) until back at the edge,
 * so the player does not hover at the target. Far over it (a stall, a backlog): seek to the edge.
 */
export function liveEdgeAction(latencyMs: number, policy: LiveEdgePolicy, catchingUp = false): LiveEdgeAction {
  // catchingUp: set by the caller too, after it joined at the edge (the join overshoots by the seek time).
  const target = Math.max(0, policy.targetMs);
  const edge = liveEdgeMs(policy);
  const maxRate = Math.min(2, Math.max(1, policy.maxRate ?? 1.1));
  const seekAbove = policy.seekAboveMs ?? target + 1500;
  const tolerance = policy.toleranceMs ?? 50;
  const catchUpAbove = Math.min(target, policy.catchUpAboveMs ?? target);
  if (latencyMs > seekAbove) return { kind: 'seek', behindEndSeconds: edge / 1000 };
  const excess = latencyMs - edge;
  if ((latencyMs > catchUpAbove + tolerance || catchingUp) && excess > tolerance) {
    // Full speed-up from 200 ms over the edge (10 % faster drains 1 s of excess in 10 s); less
    // below, so that the last tens of milliseconds are drained gently.
    const rate = 1 + (maxRate - 1) * Math.min(1, excess / 200);
    return { kind: 'rate', playbackRate: Math.round(Math.max(1.01, rate) * 1000) / 1000, catchingUp: true };
  }
  return { kind: 'rate', playbackRate: 1, catchingUp: false };
}

/** The WebRTC counters latency is estimated from (inbound-rtp video, and the selected candidate pair). */
export interface WebrtcLatencyInputs {
  /** inbound-rtp `jitterBufferDelay` (s, cumulative). */
  jitterBufferDelay?: number;
  /** inbound-rtp `jitterBufferEmittedCount` (cumulative). */
  jitterBufferEmittedCount?: number;
  /** candidate-pair `currentRoundTripTime` (s). */
  currentRoundTripTime?: number;
  /** Mean decode time per frame (s): `totalDecodeTime / framesDecoded`. */
  decodeSeconds?: number;
}

/**
 * WebRTC latency (ms) from one sample and the one before: the mean jitter-buffer delay of the frames
 * emitted between the two, plus half the round trip (the way there), plus decoding.
 */
export function webrtcLatencyMs(now: WebrtcLatencyInputs, before: WebrtcLatencyInputs | null): number | null {
  const delay = now.jitterBufferDelay;
  const count = now.jitterBufferEmittedCount;
  if (delay === undefined || count === undefined || count === 0) return null;
  let jitterBuffer = delay / count;
  const d0 = before?.jitterBufferDelay;
  const c0 = before?.jitterBufferEmittedCount;
  if (d0 !== undefined && c0 !== undefined && count > c0) jitterBuffer = (delay - d0) / (count - c0);
  const oneWay = (now.currentRoundTripTime ?? 0) / 2;
  return Math.round((jitterBuffer + oneWay + (now.decodeSeconds ?? 0)) * 1000);
}

/** Bits per second between two byte counters `ms` apart (0 when unknown or reset). */
export function bitrate(bytesNow: number, bytesBefore: number | undefined, ms: number): number {
  if (bytesBefore === undefined || ms <= 0 || bytesNow < bytesBefore) return 0;
  return Math.round(((bytesNow - bytesBefore) * 8 * 1000) / ms);
}
