/**
 * ReadyWaiters (held HLS requests): a crowd answered a slice per event-loop turn, and a request that
 * arrives meanwhile — a player keeping up — answered as soon as what it asks for exists, not after
 * the whole crowd.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_WAITERS, ReadyWaiters } from '../../../../gateway/src/protocols/hls/ready-waiters.js';

test('a crowd is answered over several turns; a request made meanwhile is answered as soon as its part exists', async () => {
  const waiters = new ReadyWaiters();
  let part = 0;
  const order: string[] = [];
  const crowd = Array.from({ length: 5000 }, (_, i) => waiters.whenReady(() => part >= 1, 10_000).then((ok) => order.push(`crowd${i}:${ok}`)));
  part = 1;
  waiters.wake();
  assert.ok(order.length === 0 && waiters.size < 5000 && waiters.size > 0, 'one slice answered at once, the rest later');
  // A player that got part 1 asks for part 2 while the crowd is still being answered; then part 2 is cut.
  const keepingUp = waiters.whenReady(() => part >= 2, 10_000).then((ok) => order.push(`player:${ok}`));
  await new Promise((r) => setImmediate(r));
  part = 2;
  waiters.wake();
  await Promise.all([...crowd, keepingUp]);
  const at = order.indexOf('player:true');
  assert.ok(at >= 0 && at < 1000, `the player is answered early (${at} of ${order.length})`);
  assert.equal(order.filter((o) => o.endsWith(':true')).length, 5001, 'everyone answered, ready');
  assert.equal(waiters.size, 0);
});

test('past MAX_WAITERS a request is answered false at once; stop answers every waiter false', async () => {
  const waiters = new ReadyWaiters();
  const held = Array.from({ length: MAX_WAITERS }, () => waiters.whenReady(() => false, 10_000));
  assert.equal(await waiters.whenReady(() => false, 10_000), false);
  waiters.stop();
  assert.deepEqual(new Set(await Promise.all(held)), new Set([false]));
  assert.equal(await waiters.whenReady(() => true, 10), true, 'what is ready is answered even after stop');
});
