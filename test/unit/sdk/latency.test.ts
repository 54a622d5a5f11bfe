import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bitrate, bufferAheadSeconds, liveEdgeAction, liveEdgeMs, webrtcLatencyMs, type BufferedRanges } from '../../../sdk-browser/src/latency.js';

const ranges = (...r: [number, number][]): BufferedRanges => ({ length: r.length, start: (i) => r[i]![0], end: (i) => r[i]![1] });

test('buffer ahead is measured in the range that holds the playhead', () => {
  assert.equal(bufferAheadSeconds(ranges([0, 10]), 9.25), 0.75);
  assert.equal(bufferAheadSeconds(ranges([0, 4], [5, 10]), 3), 1);
  assert.equal(bufferAheadSeconds(ranges(), 3), 0);
  // Playhead in a gap (before the first range after a reconnect): the latest end counts.
  assert.equal(bufferAheadSeconds(ranges([20, 22]), 18), 4);
});

test('live edge: 1× under the target; over it faster in proportion (≤ 1.1×) until back at the edge; a seek when far behind', () => {
  const policy = { targetMs: 1000 };
  assert.equal(liveEdgeMs(policy), 250);
  assert.deepEqual(liveEdgeAction(500, policy), { kind: 'rate', playbackRate: 1, catchingUp: false }, 'under the target: left alone');
  assert.deepEqual(liveEdgeAction(1040, policy), { kind: 'rate', playbackRate: 1, catchingUp: false }, 'within the tolerance');
  assert.deepEqual(liveEdgeAction(1100, policy), { kind: 'rate', playbackRate: 1.1, catchingUp: true }, 'over: full speed');
  assert.deepEqual(liveEdgeAction(2400, policy), { kind: 'rate', playbackRate: 1.1, catchingUp: true }, 'never above maxRate');
  // Once catching up it carries on below the target, slowing down near the edge, then stops.
  assert.deepEqual(liveEdgeAction(750, policy, true), { kind: 'rate', playbackRate: 1.1, catchingUp: true });
  assert.deepEqual(liveEdgeAction(350, policy, true), { kind: 'rate', playbackRate: 1.05, catchingUp: true });
  assert.deepEqual(liveEdgeAction(305, policy, true), { kind: 'rate', playbackRate: 1.028, catchingUp: true });
  assert.deepEqual(liveEdgeAction(290, policy, true), { kind: 'rate', playbackRate: 1, catchingUp: false }, 'at the edge');
  assert.deepEqual(liveEdgeAction(2600, policy), { kind: 'seek', behindEndSeconds: 0.25 }, 'past target + 1.5 s: seek');
  assert.deepEqual(liveEdgeAction(120, { targetMs: 100 }), { kind: 'rate', playbackRate: 1, catchingUp: false });
  assert.deepEqual(liveEdgeAction(200, { targetMs: 100 }), { kind: 'rate', playbackRate: 1.05, catchingUp: true }, 'a small target is also the edge');
  assert.deepEqual(liveEdgeAction(4000, { targetMs: 3000, edgeMs: 3000 }), { kind: 'rate', playbackRate: 1.1, catchingUp: true });
  assert.deepEqual(liveEdgeAction(300, { targetMs: 100, maxRate: 1.5, seekAboveMs: 10_000 }), { kind: 'rate', playbackRate: 1.5, catchingUp: true });
  // Catching up may start well before the target (the FLV player drains a drift of 150 ms).
  assert.deepEqual(liveEdgeAction(310, { targetMs: 1000, edgeMs: 100, catchUpAboveMs: 250 }), { kind: 'rate', playbackRate: 1.1, catchingUp: true });
  assert.deepEqual(liveEdgeAction(260, { targetMs: 1000, edgeMs: 100, catchUpAboveMs: 250 }), { kind: 'rate', playbackRate: 1, catchingUp: false });
  assert.deepEqual(liveEdgeAction(300, { targetMs: 100, maxRate: 3 }), { kind: 'rate', playbackRate: 2, catchingUp: true }, 'maxRate is capped at 2');
});

test('WebRTC latency: jitter buffer delay of the frames between two samples, half the round trip, decoding', () => {
  assert.equal(webrtcLatencyMs({ jitterBufferDelay: 0, jitterBufferEmittedCount: 0 }, null), null);
  // First sample: the mean since the start.
  assert.equal(webrtcLatencyMs({ jitterBufferDelay: 6, jitterBufferEmittedCount: 100, currentRoundTripTime: 0.02 }, null), 70);
  // Then the mean over the last interval only: 30 frames held 1.5 s in all → 50 ms each.
  const before = { jitterBufferDelay: 6, jitterBufferEmittedCount: 100 };
  assert.equal(webrtcLatencyMs({ jitterBufferDelay: 7.5, jitterBufferEmittedCount: 130, currentRoundTripTime: 0.01, decodeSeconds: 0.004 }, before), 59);
});

test('bitrate from byte counters', () => {
  assert.equal(bitrate(125_000, 0, 1000), 1_000_000);
  assert.equal(bitrate(100, undefined, 1000), 0);
  assert.equal(bitrate(100, 200, 1000), 0, 'a counter that went back (a new connection) is not a negative rate');
});
