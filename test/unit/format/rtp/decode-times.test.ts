/**
 * Decode times for RTP video (which carries presentation times only): rising, never above the PTS,
 * with the depth the SPS gives (x264's VUI max_num_reorder_frames) or learnt from the frames.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSps } from '../../../../gateway/src/codec/h264.js';
import { DecodeTimes } from '../../../../gateway/src/format/rtp/decode-times.js';

const F = 3000;
/** x264's default GOP with 3 B-frames and a B-pyramid, in decode order (frame numbers). */
const PYRAMID = [0, 4, 2, 1, 3, 8, 6, 5, 7, 12, 10, 9, 11];
const IBBP = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8];

function check(dts: number[], pts: number[], what: string): void {
  for (let i = 0; i < dts.length; i++) {
    if (i > 0) assert.ok(dts[i]! > dts[i - 1]!, `${what}: DTS rises at ${i}`);
    assert.ok(dts[i]! <= pts[i]!, `${what}: DTS ${dts[i]} ≤ PTS ${pts[i]} at ${i}`);
  }
}

test('x264 SPS: VUI max_num_reorder_frames is 2 with B-pyramid, 0 without B-frames', () => {
  assert.equal(parseSps(Buffer.from('6764000dacd94141fb011000000300100000030320f1429960', 'hex')).maxReorderFrames, 2);
  assert.equal(parseSps(Buffer.from('6764000dacb20283f60220000003002000000641e28549', 'hex')).maxReorderFrames, 0);
});

test('with the depth known: every DTS rises and stays at or below its PTS, the first ones just before the first PTS', () => {
  for (const [order, depth] of [[PYRAMID, 2], [IBBP, 1], [IBBP, 2]] as const) {
    const d = new DecodeTimes(depth);
    const pts = order.map((n) => 100_000 + n * F);
    const dts = pts.map((p) => d.next(p));
    check(dts, pts, `depth ${depth}`);
    assert.ok(dts[0]! >= 100_000 - depth * 1500, 'no further back than the depth × 1500 ticks');
    assert.equal(d.relearned, 0);
  }
});

test('no B-frames: DTS = PTS', () => {
  const d = new DecodeTimes(0);
  const pts = [0, 1, 2, 3, 4].map((n) => n * F);
  assert.deepEqual(pts.map((p) => d.next(p)), pts);
});

test('depth not known: learnt from the first B-frame; after a frame or two out of place, DTS ≤ PTS again', () => {
  const d = new DecodeTimes(0);
  const pts = PYRAMID.map((n) => n * F);
  const dts = pts.map((p) => d.next(p));
  assert.ok(d.depth >= 2, `learnt depth ${d.depth}`);
  check(dts.slice(5), pts.slice(5), 'after learning');
  for (let i = 1; i < dts.length; i++) assert.ok(dts[i]! > dts[i - 1]!, 'rising throughout');
});
