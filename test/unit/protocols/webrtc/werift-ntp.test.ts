/** The NTP time livegate gives werift's sender reports (RFC 3550 §4): seconds since 1900 . fraction/2^32. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ntpTime } from '../../../../gateway/src/protocols/webrtc/werift.js';

test('NTP timestamps: era-0 seconds and a binary fraction', () => {
  // 2026-01-01T00:00:00.250Z: 0.25 s is 0x40000000 in the fraction (werift 0.25 wrote 25 there).
  const ms = Date.UTC(2026, 0, 1, 0, 0, 0, 250);
  const ntp = ntpTime(ms);
  assert.equal(ntp >> 32n, BigInt(Math.floor(ms / 1000) + 2_208_988_800));
  assert.equal(ntp & 0xffffffffn, 0x40000000n);
  assert.equal(ntpTime(Date.UTC(2026, 0, 1, 0, 0, 0, 500)) & 0xffffffffn, 0x80000000n);
  // Monotonic across a second boundary.
  assert.ok(ntpTime(Date.UTC(2026, 0, 1, 0, 0, 0, 999)) < ntpTime(Date.UTC(2026, 0, 1, 0, 0, 1, 0)));
});
