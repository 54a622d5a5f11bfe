import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bitrate, bufferAheadSeconds, liveEdgeAction, webrtcLatencyMs, type BufferedRanges } from '../../../sdk-browser/src/latency.js';

const ranges = (...r: [number, number][]): BufferedRanges => ({ length: r.length, start: (i) => r[i]![0], end: (i) => r[i]![1] });

test('buffer ahead is measured in the range that holds the playhead', () => {
  assert.equal(bufferAheadSeconds(ranges([0, 10]), 9.25), 0.75);
  assert.equal(bufferAheadSeconds(ranges([0, 4], [5, 10]), 3), 1);
  assert.equal(bufferAheadSeconds(ranges(), 3), 0);
  // Playhead in a gap (before the first range after a reconnect): the latest end counts.
  assert.equal(bufferAheadSeconds(ranges([20, 22]), 18), 4);
});

test('live edge: 1× at or under the target, faster in proportion above it (≤ 1.1×), a seek when far behind', () => {
  const policy = { targetMs: 1000 };
  assert.deepEqual(liveEdgeAction(500, policy), { kind: 'rate', playbackRate: 1 });
  assert.deepEqual(liveEdgeAction(1040, policy), { kind: 'rate', playbackRate: 1 }, 'within the tolerance');
  assert.deepEqual(liveEdgeAction(1500, policy), { kind: 'rate', playbackRate: 1.05 });
  assert.deepEqual(liveEdgeAction(2000, policy), { kind: 'rate', playbackRate: 1.1 });
  assert.deepEqual(liveEdgeAction(2900, policy), { kind: 'rate', playbackRate: 1.1 }, 'never above maxRate');
  assert.deepEqual(liveEdgeAction(3100, policy), { kind: 'seek', behindEndSeconds: 1 });
  // A small target seeks at target + 2 s, not at 3 × target.
  assert.deepEqual(liveEdgeAction(2200, { targetMs: 100 }), { kind: 'seek', behindEndSeconds: 0.1 });
  assert.deepEqual(liveEdgeAction(2100, { targetMs: 100 }), { kind: 'rate', playbackRate: 1.1 });
  assert.deepEqual(liveEdgeAction(300, { targetMs: 100, maxRate: 1.5 }), { kind: 'rate', playbackRate: 1.1 });
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
