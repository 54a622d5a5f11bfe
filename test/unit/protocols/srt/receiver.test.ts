/**
 * SrtReceiver with injected time: TSBPD delivery at base + timestamp + latency, loss detection for
 * the immediate and the periodic NAK, retransmissions, too-late drop, drop requests, duplicates
 * and the window, the 32-bit timestamp wrap (~71.6 min) and the 31-bit sequence wrap.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SEQ_MAX, seqNext } from '../../../../gateway/src/protocols/srt/packet.js';
import { SrtReceiver, type ReceiverOptions } from '../../../../gateway/src/protocols/srt/receiver.js';

const ISN = 1000;
const LATENCY = 200_000;
const BASE = 5_000_000;
const TS_WRAP = 2 ** 32;

interface Delivery {
  seq: number;
  at: number;
  text: string;
}

/** A receiver and what it delivered; `poll(t)` records the delivery time of each packet. */
function setup(o: Partial<ReceiverOptions> = {}) {
  const delivered: Delivery[] = [];
  let now = 0;
  const record = (d: Delivery): void => void delivered.push(d);
  const r = new SrtReceiver({
    isn: ISN,
    latencyUs: LATENCY,
    timeBaseUs: BASE,
    handshakeTs: 0,
    windowPackets: 64,
    tooLateDrop: true,
    deliver: (payload, seq) => record({ seq, at: now, text: payload.toString() }),
    ...o,
  });
  return {
    r,
    delivered,
    seqs: () => delivered.map((d) => d.seq),
    /** Data packet `seq` stamped `ts`, arriving at local time base + ts (no network delay). */
    data(seq: number, ts: number, retransmitted = false, at = (o.timeBaseUs ?? BASE) + ts) {
      now = at;
      return r.onData(seq, ts, retransmitted, Buffer.from(`p${seq}`), at);
    },
    poll(t: number) {
      now = t;
      r.poll(t);
    },
  };
}

/** The time packet with timestamp `ts` is due. */
const due = (ts: number) => BASE + ts + LATENCY;

describe('SrtReceiver: TSBPD delivery', () => {
  test('in-order packets are delivered exactly at time base + timestamp + latency, not before', () => {
    const s = setup();
    for (let i = 0; i < 5; i++) assert.equal(s.data(ISN + i, i * 20_000), null, 'no loss');
    assert.equal(s.r.buffered, 5);
    s.poll(due(0) - 1);
    assert.equal(s.delivered.length, 0, 'nothing before its time');
    s.poll(due(0));
    assert.deepEqual(s.seqs(), [ISN]);
    s.poll(due(20_000) - 1);
    assert.deepEqual(s.seqs(), [ISN]);
    s.poll(due(20_000));
    assert.deepEqual(s.seqs(), [ISN, ISN + 1]);
    for (let t = due(20_000); t <= due(80_000); t += 1000) s.poll(t);
    assert.deepEqual(s.seqs(), [ISN, ISN + 1, ISN + 2, ISN + 3, ISN + 4]);
    assert.deepEqual(
      s.delivered.map((d) => d.at),
      [0, 1, 2, 3, 4].map((i) => due(i * 20_000)),
    );
    assert.deepEqual(
      s.delivered.map((d) => d.text),
      [0, 1, 2, 3, 4].map((i) => `p${ISN + i}`),
    );
    assert.equal(s.r.buffered, 0);
    assert.equal(s.r.ackSeq, ISN + 5);
    const { received, bytesReceived, recovered, lost, dropped, discarded } = s.r.stats;
    assert.deepEqual({ received, bytesReceived, recovered, lost, dropped, discarded }, { received: 5, bytesReceived: 25, recovered: 0, lost: 0, dropped: 0, discarded: 0 });
  });

  test('a constant arrival offset above 5 ms over 1000 packets moves the time base (drift, §4.7)', () => {
    const s = setup({ windowPackets: 2048 });
    for (let i = 0; i < 1000; i++) {
      s.data(ISN + i, i * 1000, false, BASE + i * 1000 + 10_000);
      s.poll(BASE + i * 1000 + 10_000);
    }
    assert.equal(s.r.timeBaseUs, BASE + 10_000);
    const s2 = setup({ windowPackets: 2048 });
    for (let i = 0; i < 1000; i++) s2.data(ISN + i, i * 1000, false, BASE + i * 1000 + 4_000);
    assert.equal(s2.r.timeBaseUs, BASE, 'within 5 ms: no correction');
  });
});

describe('SrtReceiver: losses', () => {
  test('a gap returns the missing range for an immediate NAK; ackSeq stops at the hole', () => {
    const s = setup();
    s.data(ISN, 0);
    s.data(ISN + 1, 10_000);
    assert.equal(s.r.ackSeq, ISN + 2);
    assert.deepEqual(s.data(ISN + 5, 50_000), [{ first: ISN + 2, last: ISN + 4 }]);
    assert.equal(s.r.ackSeq, ISN + 2, 'the ACK point is the first missing packet');
    assert.equal(s.r.lossCount, 3);
    assert.equal(s.r.stats.lost, 3);
    assert.equal(s.data(ISN + 6, 60_000), null, 'no new loss');
    assert.deepEqual(s.data(ISN + 8, 80_000), [{ first: ISN + 7, last: ISN + 7 }]);
    assert.equal(s.r.ackSeq, ISN + 2);
    assert.equal(s.r.lossCount, 4);
    s.poll(due(10_000));
    assert.deepEqual(s.seqs(), [ISN, ISN + 1], 'delivery waits at the hole');
  });

  test('a retransmission fills the hole, counts as recovered, and delivery resumes in order', () => {
    const s = setup();
    s.data(ISN, 0);
    s.data(ISN + 1, 10_000);
    s.data(ISN + 5, 50_000);
    s.data(ISN + 6, 60_000);
    // The middle of the range comes back first: the range splits in two.
    assert.equal(s.data(ISN + 3, 30_000, true, BASE + 70_000), null);
    assert.equal(s.r.stats.recovered, 1);
    assert.equal(s.r.ackSeq, ISN + 2);
    assert.deepEqual(s.r.lossesToReport(BASE + 1_000_000, 0), [
      { first: ISN + 2, last: ISN + 2 },
      { first: ISN + 4, last: ISN + 4 },
    ]);
    s.data(ISN + 2, 20_000, true, BASE + 71_000);
    assert.equal(s.r.ackSeq, ISN + 4);
    s.data(ISN + 4, 40_000, true, BASE + 72_000);
    assert.equal(s.r.ackSeq, ISN + 7);
    assert.equal(s.r.lossCount, 0);
    assert.equal(s.r.stats.recovered, 3);
    assert.equal(s.r.stats.lost, 3);
    for (let t = BASE; t <= due(60_000); t += 1000) s.poll(t);
    assert.deepEqual(s.seqs(), [0, 1, 2, 3, 4, 5, 6].map((i) => ISN + i));
    assert.deepEqual(
      s.delivered.map((d) => d.at),
      [0, 1, 2, 3, 4, 5, 6].map((i) => due(i * 10_000)),
      'each at its own time: the retransmissions cost nothing',
    );
    assert.equal(s.r.stats.dropped, 0);
  });

  test('a packet that fills a hole without the R flag (reordering) is not counted as recovered', () => {
    const s = setup();
    s.data(ISN, 0);
    s.data(ISN + 2, 20_000);
    s.data(ISN + 1, 10_000, false, BASE + 20_500);
    assert.equal(s.r.lossCount, 0);
    assert.equal(s.r.stats.recovered, 0);
    assert.equal(s.r.ackSeq, ISN + 3);
  });

  test('too-late drop: a hole never filled is skipped once the next packet is due, and counted in dropped', () => {
    const s = setup();
    s.data(ISN, 0);
    s.data(ISN + 2, 40_000);
    s.data(ISN + 3, 60_000);
    s.poll(due(0));
    assert.deepEqual(s.seqs(), [ISN]);
    s.poll(due(40_000) - 1);
    assert.deepEqual(s.seqs(), [ISN], 'the hole may still be filled');
    assert.equal(s.r.stats.dropped, 0);
    s.poll(due(40_000));
    assert.deepEqual(s.seqs(), [ISN, ISN + 2]);
    assert.equal(s.delivered[1]!.at, due(40_000));
    assert.equal(s.r.stats.dropped, 1);
    assert.equal(s.r.lossCount, 0, 'no more NAKs for it');
    assert.equal(s.r.ackSeq, ISN + 4);
    assert.equal(s.data(ISN + 1, 20_000, true), null, 'a retransmission after the drop is discarded');
    assert.equal(s.r.stats.discarded, 1);
    s.poll(due(60_000));
    assert.deepEqual(s.seqs(), [ISN, ISN + 2, ISN + 3]);
  });

  test('without TLPKTDROP delivery waits for the hole', () => {
    const s = setup({ tooLateDrop: false });
    s.data(ISN, 0);
    s.data(ISN + 2, 40_000);
    s.poll(due(10_000_000));
    assert.deepEqual(s.seqs(), [ISN]);
    s.data(ISN + 1, 20_000, true, due(10_000_000));
    s.poll(due(10_000_000));
    assert.deepEqual(s.seqs(), [ISN, ISN + 1, ISN + 2]);
  });

  test('a drop request skips the hole immediately (no need to wait for a later packet)', () => {
    const s = setup({ tooLateDrop: false });
    s.data(ISN, 0);
    s.data(ISN + 3, 30_000);
    assert.equal(s.r.lossCount, 2);
    s.r.onDropRequest({ first: ISN + 1, last: ISN + 2 });
    assert.equal(s.r.lossCount, 0);
    assert.equal(s.r.ackSeq, ISN + 4);
    assert.equal(s.r.stats.dropped, 2);
    assert.deepEqual(s.r.lossesToReport(BASE + 10_000_000, 0), []);
    s.poll(due(30_000));
    assert.deepEqual(s.seqs(), [ISN, ISN + 3]);
    assert.equal(s.delivered[1]!.at, due(30_000));
    assert.equal(s.data(ISN + 1, 10_000, true), null);
    assert.equal(s.r.stats.discarded, 1, 'a late copy of a dropped packet is discarded');
  });

  test('a drop request for packets not yet seen (the sender gave up before sending) moves past them', () => {
    const s = setup();
    s.data(ISN, 0);
    s.r.onDropRequest({ first: ISN + 1, last: ISN + 3 });
    assert.equal(s.r.ackSeq, ISN + 4);
    assert.equal(s.data(ISN + 4, 40_000), null, 'no loss reported for the dropped packets');
    s.poll(due(40_000));
    assert.deepEqual(s.seqs(), [ISN, ISN + 4]);
    assert.equal(s.r.stats.dropped, 3);
    // Hostile ranges: backwards, or longer than the window, are ignored.
    s.r.onDropRequest({ first: ISN + 20, last: ISN + 10 });
    s.r.onDropRequest({ first: ISN + 5, last: ISN + 5 + 1000 });
    assert.equal(s.r.stats.dropped, 3);
    assert.equal(s.r.ackSeq, ISN + 5);
  });

  test('lossesToReport: a loss is reported again only after the interval, and marked reported', () => {
    const s = setup();
    const t0 = BASE + 50_000;
    s.data(ISN, 0);
    s.data(ISN + 3, 30_000, false, t0); // loss ISN+1..ISN+2 found at t0 (the immediate NAK)
    assert.deepEqual(s.r.lossesToReport(t0 + 19_999, 20_000), []);
    assert.deepEqual(s.r.lossesToReport(t0 + 20_000, 20_000), [{ first: ISN + 1, last: ISN + 2 }]);
    assert.deepEqual(s.r.lossesToReport(t0 + 20_001, 20_000), [], 'just reported');
    s.data(ISN + 5, 50_000, false, t0 + 30_000); // ISN+4 found at t0 + 30 ms
    assert.deepEqual(s.r.lossesToReport(t0 + 40_000, 20_000), [{ first: ISN + 1, last: ISN + 2 }]);
    assert.deepEqual(s.r.lossesToReport(t0 + 50_000, 20_000), [{ first: ISN + 4, last: ISN + 4 }]);
    s.data(ISN + 1, 10_000, true, t0 + 51_000);
    assert.deepEqual(s.r.lossesToReport(t0 + 100_000, 20_000), [
      { first: ISN + 2, last: ISN + 2 },
      { first: ISN + 4, last: ISN + 4 },
    ]);
  });

  test('duplicates, packets already delivered and packets beyond the window are discarded', () => {
    const s = setup({ windowPackets: 64 });
    assert.equal(s.r.windowPackets, 64);
    s.data(ISN, 0);
    assert.equal(s.data(ISN, 0), null);
    assert.equal(s.r.stats.discarded, 1);
    assert.equal(s.r.stats.received, 1);
    s.poll(due(0));
    s.data(ISN, 0);
    assert.equal(s.r.stats.discarded, 2, 'already delivered');
    // The window now starts at ISN+1: ISN+64 is the last sequence number that fits.
    assert.equal(s.data(ISN + 65, 1000), null);
    assert.equal(s.r.stats.discarded, 3, 'beyond the window');
    assert.equal(s.r.lossCount, 0, 'a packet beyond the window does not create losses');
    assert.deepEqual(s.data(ISN + 64, 1000), [{ first: ISN + 1, last: ISN + 63 }]);
    assert.equal(s.r.stats.discarded, 3);
    assert.equal(s.data(ISN + 64, 1000), null);
    assert.equal(s.r.stats.discarded, 4, 'duplicate of a buffered packet');
    assert.equal(s.data(ISN - 100, 0), null);
    assert.equal(s.r.stats.discarded, 5, 'long before the window');
  });

  test('the window is rounded up to a power of two', () => {
    assert.equal(setup({ windowPackets: 100 }).r.windowPackets, 128);
    assert.equal(setup({ windowPackets: 8192 }).r.windowPackets, 8192);
  });
});

describe('SrtReceiver: wraps', () => {
  test('32-bit µs timestamp wrap: timestamps from 2^32 − 2 s across the wrap deliver evenly spaced, no drop, no stall', () => {
    const hsTs = TS_WRAP - 2_005_000; // the handshake came 5 ms before the first data packet
    const hsAt = 50_000_000;
    const timeBaseUs = hsAt - hsTs;
    const delivered: { seq: number; at: number }[] = [];
    let now = 0;
    const r = new SrtReceiver({
      isn: ISN,
      latencyUs: LATENCY,
      timeBaseUs,
      handshakeTs: hsTs,
      windowPackets: 1024,
      tooLateDrop: true,
      deliver: (_p, seq) => delivered.push({ seq, at: now }),
    });
    const N = 200; // 4 s at 50 packets/s: the wrap is crossed at packet 100
    const STEP = 20_000;
    const unwrapped = (i: number) => TS_WRAP - 2_000_000 + i * STEP;
    const arrival = (i: number) => timeBaseUs + unwrapped(i) + 3_000;
    const lostOnce = 100; // the first packet after the wrap is lost once and retransmitted 30 ms later
    const events = new Map<number, [number, boolean][]>();
    const at = (t: number, e: [number, boolean]) => events.set(t, [...(events.get(t) ?? []), e]);
    for (let i = 0; i < N; i++) if (i !== lostOnce) at(arrival(i), [i, false]);
    at(arrival(lostOnce) + 30_000, [lostOnce, true]);
    const wire = (i: number) => unwrapped(i) % TS_WRAP;
    assert.ok(wire(99) > 0xfff00000 && wire(100) < 1_000_000, 'the wire timestamps do wrap');
    const end = arrival(N - 1) + LATENCY + 10_000;
    for (let t = arrival(0); t <= end; t += 1000) {
      now = t;
      for (const [i, rexmit] of events.get(t) ?? []) r.onData(ISN + i, wire(i), rexmit, Buffer.alloc(188), t);
      r.poll(t);
    }
    assert.equal(delivered.length, N, 'every packet delivered');
    assert.deepEqual(
      delivered.map((d) => d.seq),
      Array.from({ length: N }, (_, i) => ISN + i),
    );
    for (let i = 0; i < N; i++) assert.equal(delivered[i]!.at, timeBaseUs + unwrapped(i) + LATENCY, `packet ${i} delivered at its TSBPD time`);
    for (let i = 1; i < N; i++) assert.equal(delivered[i]!.at - delivered[i - 1]!.at, STEP, `spacing at ${i}`);
    assert.equal(r.stats.dropped, 0);
    assert.equal(r.stats.recovered, 1);
    assert.equal(r.lossCount, 0);
  });

  test('31-bit sequence wrap: loss range across 2^31, retransmission, delivery in order', () => {
    const isn = SEQ_MAX - 5;
    const s = setup({ isn, windowPackets: 16 });
    const seqs = Array.from({ length: 12 }, (_, i) => seqNext(isn, i)); // …7ffffffe, 7fffffff, 0, 1 …
    assert.deepEqual(seqs.slice(4, 8), [SEQ_MAX - 1, SEQ_MAX, 0, 1]);
    for (let i = 0; i < 5; i++) assert.equal(s.data(seqs[i]!, i * 1000), null);
    assert.deepEqual(s.data(seqs[7]!, 7000), [{ first: SEQ_MAX, last: 0 }]);
    assert.equal(s.r.ackSeq, SEQ_MAX);
    assert.equal(s.r.lossCount, 2);
    s.data(SEQ_MAX, 5000, true, BASE + 8000);
    assert.equal(s.r.ackSeq, 0);
    s.data(0, 6000, true, BASE + 8500);
    assert.equal(s.r.ackSeq, 2);
    for (let i = 8; i < 12; i++) s.data(seqs[i]!, i * 1000);
    assert.equal(s.r.ackSeq, 6);
    for (let t = BASE; t <= due(11_000); t += 1000) s.poll(t);
    assert.deepEqual(s.seqs(), seqs);
    assert.equal(s.r.stats.recovered, 2);
    assert.equal(s.r.stats.dropped, 0);
    // Twice round the 16-slot ring across the wrap, still in order.
    for (let i = 12; i < 44; i++) {
      s.data(seqNext(isn, i), i * 1000);
      s.poll(due(i * 1000));
    }
    assert.deepEqual(
      s.seqs(),
      Array.from({ length: 44 }, (_, i) => seqNext(isn, i)),
    );
  });
});

describe('SrtReceiver: too-late drop over a drop-requested packet', () => {
  // BUG (gateway/src/protocols/srt/receiver.ts, poll(), the too-late branch): when a hole is given
  // up and the packets skipped include a slot marked DROPPED by an earlier drop request, the skip
  // jumps `nextDeliver` past that slot without clearing it and adds it to `dropped` a second time.
  // The stale marker then sits in the ring until the sequence number one window later maps to the
  // same slot: that packet is discarded as a "duplicate", its loss is recorded but never cleared,
  // so ackSeq is stuck there for good (the receiver stops acknowledging and NAKs it forever) and
  // the packet is silently skipped. Reachable with libsrt senders, which answer a NAK for packets
  // they no longer hold with one drop request per message: if the one for 1 is lost and the one
  // for 2 arrives, this is exactly the situation below.
  function scenario() {
    const s = setup({ isn: 0, windowPackets: 16, latencyUs: 100, timeBaseUs: 0 });
    s.data(0, 0, false, 0);
    s.data(3, 30, false, 30); // 1 and 2 lost
    s.r.onDropRequest({ first: 2, last: 2 }); // the sender's drop request for 1 was lost on the way
    s.poll(1000); // 3 is due: 1 is given up (too late)
    assert.deepEqual(s.seqs(), [0, 3]);
    return s;
  }

  test('the packet one window later is delivered and the ACK point keeps moving', () => {
    const s = scenario();
    for (let seq = 4; seq <= 40; seq++) {
      s.data(seq, seq * 10, false, seq * 10);
      s.poll(seq * 10 + 100);
    }
    assert.deepEqual(
      s.seqs(),
      [0, 3, ...Array.from({ length: 37 }, (_, i) => i + 4)],
      'BUG receiver.ts poll(): packet 18 (= 2 + window) must be delivered, not discarded because of a stale DROPPED marker left in slot 2',
    );
    assert.equal(s.r.ackSeq, 41, 'BUG receiver.ts poll(): the ACK point must not get stuck at 18');
    assert.equal(s.r.lossCount, 0);
  });

  test('each given-up packet is counted once in dropped', () => {
    const s = scenario();
    assert.equal(s.r.stats.dropped, 2, 'BUG receiver.ts poll(): two packets given up (1 too late, 2 by request), 2 must not be counted twice');
  });
});
