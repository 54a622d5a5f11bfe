import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../../sdk-browser/src/backoff.js';

test('delays double from 0.5 s to the 10 s cap, without end by default', () => {
  const b = new Backoff({ jitter: 0 });
  const delays = Array.from({ length: 8 }, () => b.next());
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  assert.equal(b.exhausted, false);
  for (let i = 0; i < 1000; i++) assert.equal(b.next(), 10_000);
});

test('reset starts over; a Retry-After raises the delay', () => {
  const b = new Backoff({ jitter: 0 });
  b.next();
  b.next();
  b.reset();
  assert.equal(b.next(), 500);
  assert.equal(b.next(5000), 5000);
  assert.equal(b.attempt, 2);
});

test('maxAttempts ends the retries with null', () => {
  const b = new Backoff({ maxAttempts: 2, jitter: 0 });
  assert.equal(b.next(), 500);
  assert.equal(b.next(), 1000);
  assert.equal(b.exhausted, true);
  assert.equal(b.next(), null);
});

test('jitter spreads each delay within ±20 % and never past the cap', () => {
  const low = new Backoff({}, () => 0);
  const high = new Backoff({}, () => 0.999999);
  assert.equal(low.next(), 400);
  assert.equal(high.next(), 600);
  const capped = new Backoff({ initialDelayMs: 10_000 }, () => 0.999999);
  assert.equal(capped.next(), 10_000);
});

test('custom bounds', () => {
  const b = new Backoff({ initialDelayMs: 100, maxDelayMs: 300, factor: 3, jitter: 0 });
  assert.deepEqual([b.next(), b.next(), b.next()], [100, 300, 300]);
});
