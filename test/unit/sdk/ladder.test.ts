import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LivegateError, type LivegateErrorCode } from '../../../sdk-browser/src/errors.js';
import { DEFAULT_LADDER, failsRung, Ladder } from '../../../sdk-browser/src/ladder.js';

const err = (code: LivegateErrorCode) => new LivegateError(code, code);

test('the default ladder is WebRTC, then FLV, then HLS', () => {
  assert.deepEqual(DEFAULT_LADDER, ['webrtc', 'flv', 'hls']);
  assert.equal(new Ladder(DEFAULT_LADDER).current(), 'webrtc');
});

test('a failed rung is remembered and the next one is tried; null when none is left; reset starts over', () => {
  const l = new Ladder(['webrtc', 'flv', 'hls']);
  assert.equal(l.fail('webrtc', err('timeout')), 'flv');
  assert.equal(l.current(), 'flv', 'remembered: a reconnect starts at FLV');
  assert.equal(l.failure('webrtc')?.code, 'timeout');
  assert.equal(l.fail('hls', err('unsupported')), 'flv', 'failing a lower rung keeps the current one');
  assert.equal(l.fail('flv', err('unsupported-codec')), null);
  l.reset();
  assert.equal(l.current(), 'webrtc');
  assert.equal(l.failure('webrtc'), undefined);
});

test('duplicates are dropped; an empty ladder is refused', () => {
  assert.deepEqual(new Ladder(['flv', 'flv', 'webrtc']).protocols, ['flv', 'webrtc']);
  assert.throws(() => new Ladder([]), TypeError);
});

test('waiting conditions do not fail a rung; what this rung cannot do does', () => {
  for (const code of ['not-live', 'network', 'unavailable', 'unauthorized', 'forbidden'] as const) assert.equal(failsRung(err(code)), false, code);
  for (const code of ['timeout', 'unsupported', 'unsupported-codec', 'no-webrtc', 'bad-request', 'server'] as const) assert.equal(failsRung(err(code)), true, code);
});
