/**
 * AacClock, the Opus → AAC time line: what each input packet does to the encoder's sample run
 * (follow on, conceal a gap, start a new segment), and the pts each AAC packet gets back.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AAC_FRAME, AacClock, ENCODER_DELAY } from '../../../gateway/src/transcode/aac-clock.js';

const T0 = 900_000;
/** 20 ms of 48 kHz samples, and in 90 kHz ticks. */
const N = 960;
const TICKS = 1800;

/** Feeds `count` 20 ms packets from `pts` on, as the transcoder does; returns their placements. */
function feed(clock: AacClock, pts: number, count = 1) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const p = clock.place(pts + i * TICKS);
    if (!p.duplicate) clock.advance(N);
    out.push(p);
  }
  return out;
}

describe('AacClock', () => {
  test('packets that follow on are placed back to back; AAC packets map to the input clock minus the priming frame', () => {
    const c = new AacClock();
    const placed = feed(c, T0, 10);
    assert.ok(placed.every((p) => p.pad === 0 && p.conceal === 0 && !p.restart && !p.duplicate));
    assert.equal(c.samplesFed, 10 * N);
    // mediabunny stamps packet k at k × 1024 samples; packet 0 is the priming frame.
    assert.equal(c.ptsOfPacket(0), T0 - 1920);
    assert.equal(c.ptsOfPacket(ENCODER_DELAY), T0);
    assert.equal(c.ptsOfPacket(5 * AAC_FRAME), T0 + 4 * 1920);
  });

  const cases: { name: string; offsetTicks: number; expect: { conceal?: number; pad?: number; restart?: boolean; duplicate?: boolean } }[] = [
    { name: 'jitter of +1.9 ms is ignored', offsetTicks: 171, expect: {} },
    { name: 'jitter of −1.9 ms is ignored', offsetTicks: -171, expect: {} },
    { name: 'a lost 20 ms packet is concealed', offsetTicks: TICKS, expect: { conceal: N } },
    { name: 'a 200 ms gap is concealed', offsetTicks: 10 * TICKS, expect: { conceal: 10 * N } },
    { name: 'a 2.5 ms offset (a clock correction) re-anchors: nothing concealed', offsetTicks: 225, expect: {} },
    { name: 'a 10 ms gap is concealed', offsetTicks: 900, expect: { conceal: 480 } },
    // 3 packets fed = 2880 samples: the segment is padded to 3072 before the new one starts.
    { name: 'a 1 s gap starts a new segment', offsetTicks: 90_000, expect: { pad: 3 * AAC_FRAME - 3 * N, restart: true } },
    { name: 'a 3 s gap starts a new segment', offsetTicks: 270_000, expect: { pad: 192, restart: true } },
    { name: 'a step back of 5 ms (a clock correction) re-anchors', offsetTicks: -450, expect: {} },
    { name: 'a step back of 10 ms starts a new segment', offsetTicks: -900, expect: { pad: 192, restart: true } },
    { name: 'a step back of 10 s starts a new segment', offsetTicks: -900_000, expect: { pad: 192, restart: true } },
    { name: 'the previous packet again is a duplicate', offsetTicks: -TICKS, expect: { duplicate: true } },
  ];
  for (const k of cases) {
    test(k.name, () => {
      const c = new AacClock();
      feed(c, T0, 3);
      const p = c.place(T0 + 3 * TICKS + k.offsetTicks);
      assert.deepEqual(p, { pad: k.expect.pad ?? 0, conceal: k.expect.conceal ?? 0, restart: k.expect.restart ?? false, duplicate: k.expect.duplicate ?? false });
      assert.equal(c.restarts, k.expect.restart ? 1 : 0);
    });
  }

  test('a stream clock slewing by 2 % either way (sender-report sync) never restarts or conceals; AAC pts follow it, rising', () => {
    for (const step of [TICKS * 0.98, TICKS * 1.02]) {
      const c = new AacClock();
      for (let i = 0; i < 500; i++) {
        const p = c.place(Math.round(T0 + i * step));
        assert.ok(!p.restart && p.conceal === 0 && p.pad === 0, `packet ${i} placed back to back`);
        c.advance(N);
      }
      assert.equal(c.restarts, 0);
      assert.ok(c.reanchors > 0);
      let last = -Infinity;
      const frames = Math.floor((500 * N) / AAC_FRAME);
      for (let f = 1; f < frames; f++) {
        const pts = c.ptsOfPacket(f * AAC_FRAME);
        assert.ok(pts > last, `AAC packet ${f} after the previous one`);
        last = pts;
      }
      // The last AAC frame's time is the slewed clock's, within the tolerance.
      const expected = T0 + (((frames - 1) * AAC_FRAME - ENCODER_DELAY) / N) * step;
      assert.ok(Math.abs(last - expected) <= 180 + 540, `AAC time ${last} vs clock ${expected.toFixed(0)}`);
    }
  });

  test('after a new segment, AAC packets map to their own segment', () => {
    const c = new AacClock();
    feed(c, T0, 3); // 2880 samples; padded to 3072 at the jump
    const T1 = T0 + 10 * 90_000;
    feed(c, T1, 3);
    assert.equal(c.samplesFed, 3072 + 3 * N);
    assert.equal(c.ptsOfPacket(ENCODER_DELAY + 2048), T0 + 2 * 1920, 'the last frame of the first segment (its padding included)');
    assert.equal(c.ptsOfPacket(ENCODER_DELAY + 3072), T1, 'the first frame of the second');
    assert.equal(c.ptsOfPacket(ENCODER_DELAY + 4096), T1 + 1920);
  });

  test('a resync (input was dropped before) starts a new segment instead of concealing', () => {
    const c = new AacClock();
    feed(c, T0, 3);
    const p = c.place(T0 + 13 * TICKS, true);
    assert.equal(p.conceal, 0);
    assert.equal(p.pad, 192);
    assert.equal(c.expectedPts(), T0 + 13 * TICKS);
  });

  test('a long gap of loss after a segment start is measured from the new segment', () => {
    const c = new AacClock();
    feed(c, T0, 3);
    feed(c, T0 + 5 * 90_000, 1);
    const p = c.place(T0 + 5 * 90_000 + 3 * TICKS);
    assert.equal(p.conceal, 2 * N);
  });
});
