import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyframeRequests } from '../../../../gateway/src/protocols/webrtc/keyframe-requests.js';
import { sleep } from '../../../helpers/wait.js';

test('keyframe requests: one per interval; one inside the interval is sent when it ends, not dropped', async () => {
  const sent: [string, number][] = [];
  const t0 = performance.now();
  const k = new KeyframeRequests(100, (why) => (sent.push([why, performance.now() - t0]), true));
  k.request('connected');
  k.request('new reader');
  assert.deepEqual(sent.map(([w]) => w), ['connected']);
  await sleep(40);
  k.request('packets lost');
  k.request('packets lost');
  await sleep(120);
  assert.deepEqual(sent.map(([w]) => w), ['connected', 'new reader']);
  assert.ok(sent[1]![1] >= 95, `the second went out when the interval ended (${sent[1]![1].toFixed(0)} ms)`);
  // Nothing more was asked: nothing more goes out.
  await sleep(150);
  assert.equal(sent.length, 2);
  assert.equal(k.sent, 2);
  k.request('again');
  k.close();
  assert.equal(sent.length, 3);
  k.request('after close');
  await sleep(120);
  assert.equal(sent.length, 3);
});

test('keyframe requests: nothing to send to yet (no video SSRC) does not start the interval', () => {
  let ready = false;
  let sent = 0;
  const k = new KeyframeRequests(1000, () => (ready ? (sent++, true) : false));
  k.request('connected');
  ready = true;
  k.request('first packet');
  assert.equal(sent, 1);
  k.close();
});
