/** WebRTC session limits: a total, a per-address count of sessions still negotiating, places given back. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientIp, WebrtcSessionLimits, type SessionSlot } from '../../../../gateway/src/protocols/webrtc/session-limits.js';

test('per address: negotiating sessions are capped, connected ones free their place; the total caps everyone', () => {
  const limits = new WebrtcSessionLimits({ maxSessions: 5, maxNegotiatingPerIp: 2 });
  const take = (ip: string): SessionSlot => {
    const a = limits.admit(ip);
    assert.ok(a.ok, `${ip} admitted`);
    return a.slot;
  };
  const a1 = take('10.0.0.1');
  take('10.0.0.1');
  const refused = limits.admit('10.0.0.1');
  assert.ok(!refused.ok && refused.retryAfterSeconds === 2 && /not completed ICE/.test(refused.reason));
  a1.connected();
  assert.equal(limits.negotiatingFrom('10.0.0.1'), 1);
  take('10.0.0.1');
  take('10.0.0.2');
  take('10.0.0.3');
  assert.equal(limits.total, 5);
  const full = limits.admit('10.0.0.4');
  assert.ok(!full.ok && full.retryAfterSeconds === 5 && /5 WebRTC sessions already/.test(full.reason));
  a1.release();
  a1.release(); // idempotent
  assert.equal(limits.total, 4);
  assert.ok(limits.admit('10.0.0.4').ok);
});

test('a place nobody held is given back by whoever admitted it; a held one is released by its session', () => {
  const limits = new WebrtcSessionLimits({ maxSessions: 10, maxNegotiatingPerIp: 10 });
  const a = limits.admit('x');
  assert.ok(a.ok);
  assert.equal(a.slot.held, false);
  const held = a.slot.hold();
  assert.equal(held.held, true);
  held.release();
  assert.equal(limits.total, 0);
  assert.equal(limits.negotiatingFrom('x'), 0);
  assert.equal(clientIp('::ffff:127.0.0.2'), '127.0.0.2');
});
