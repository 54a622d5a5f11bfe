/** RTP reordering: order, duplicates, late packets, the 16-bit wrap, loss deadlines, overflow, restarts. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JitterBuffer, type Released, type SequencedPacket } from '../../../../gateway/src/format/rtp/jitter-buffer.js';
import { rng } from '../../../helpers/random.js';

const pkt = (seq: number, payload = Buffer.from([seq & 0xff])): SequencedPacket => ({
  sequenceNumber: seq & 0xffff,
  timestamp: seq * 3000,
  marker: false,
  payload,
});
const seqs = (out: Released<SequencedPacket>[]) => out.map((r) => r.packet.sequenceNumber);
const losses = (out: Released<SequencedPacket>[]) => out.map((r) => r.afterLoss);


describe('JitterBuffer', () => {
  test('in-order packets come out at once; the first packet starts the sequence', () => {
    const jb = new JitterBuffer({ maxWaitMs: 100, maxPackets: 64 });
    for (const s of [5000, 5001, 5002]) {
      const out = jb.push(pkt(s), 0);
      assert.deepEqual(seqs(out), [s]);
      assert.deepEqual(losses(out), [false]);
    }
    assert.equal(jb.nextDeadline(), null);
    assert.equal(jb.stats.received, 3);
  });

  test('reordering: a packet after a gap waits for the missing one', () => {
    const jb = new JitterBuffer({ maxWaitMs: 100, maxPackets: 64 });
    assert.deepEqual(seqs(jb.push(pkt(1), 0)), [1]);
    assert.deepEqual(seqs(jb.push(pkt(3), 1)), []);
    assert.deepEqual(seqs(jb.push(pkt(4), 2)), []);
    assert.equal(jb.nextDeadline(), 101);
    const out = jb.push(pkt(2), 5);
    assert.deepEqual(seqs(out), [2, 3, 4]);
    assert.deepEqual(losses(out), [false, false, false]);
    assert.equal(jb.stats.reordered, 1);
    assert.equal(jb.stats.lost, 0);
    assert.equal(jb.nextDeadline(), null);
  });

  test('duplicates (held or released) and late packets are dropped and counted', () => {
    const jb = new JitterBuffer({ maxWaitMs: 100, maxPackets: 64 });
    jb.push(pkt(10), 0);
    assert.deepEqual(seqs(jb.push(pkt(10), 1)), [], 'released duplicate');
    jb.push(pkt(12), 2);
    assert.deepEqual(seqs(jb.push(pkt(12), 3)), [], 'held duplicate');
    assert.equal(jb.stats.duplicates, 2);
    const out = jb.poll(102);
    assert.deepEqual(seqs(out), [12]);
    assert.deepEqual(losses(out), [true]);
    assert.equal(jb.stats.lost, 1);
    assert.deepEqual(seqs(jb.push(pkt(11), 150)), [], 'arrives after it was given up');
    assert.equal(jb.stats.late, 1);
    assert.deepEqual(seqs(jb.push(pkt(13), 151)), [13]);
  });

  test('16-bit wrap 65535 → 0, with reordering across it', () => {
    const jb = new JitterBuffer({ maxWaitMs: 100, maxPackets: 64 });
    const out = [65533, 65535, 65534, 1, 0, 2].flatMap((s, i) => jb.push(pkt(s), i));
    assert.deepEqual(seqs(out), [65533, 65534, 65535, 0, 1, 2]);
    assert.ok(losses(out).every((l) => !l));
    assert.deepEqual(seqs(jb.push(pkt(65535), 10)), [], 'old packet from before the wrap');
    assert.equal(jb.stats.duplicates, 1);
    assert.equal(jb.stats.resyncs, 0);
  });

  test('a gap is given up maxWaitMs after the first packet behind it arrived', () => {
    const jb = new JitterBuffer({ maxWaitMs: 100, maxPackets: 64 });
    jb.push(pkt(1), 0);
    jb.push(pkt(4), 10); // 2 and 3 missing since t = 10
    jb.push(pkt(3), 50); // 2 still missing
    assert.equal(jb.nextDeadline(), 110);
    assert.deepEqual(seqs(jb.poll(109)), []);
    const out = jb.poll(110);
    assert.deepEqual(seqs(out), [3, 4]);
    assert.deepEqual(losses(out), [true, false]);
    assert.equal(jb.stats.lost, 1);
  });

  test('two gaps: each is given up in turn, afterLoss on the first packet after each', () => {
    const jb = new JitterBuffer({ maxWaitMs: 100, maxPackets: 64 });
    jb.push(pkt(1), 0);
    jb.push(pkt(3), 0);
    jb.push(pkt(6), 60);
    assert.deepEqual(seqs(jb.poll(100)), [3]);
    assert.equal(jb.nextDeadline(), 160);
    jb.push(pkt(4), 120);
    const out = jb.poll(160);
    assert.deepEqual(seqs(out), [6]);
    assert.deepEqual(losses(out), [true]);
    assert.equal(jb.stats.lost, 2);
  });

  test('overflow of maxPackets gives up the oldest gap', () => {
    const jb = new JitterBuffer({ maxWaitMs: 1000, maxPackets: 3 });
    jb.push(pkt(1), 0);
    assert.deepEqual(seqs(jb.push(pkt(3), 1)), []);
    assert.deepEqual(seqs(jb.push(pkt(4), 2)), []);
    assert.deepEqual(seqs(jb.push(pkt(6), 3)), []);
    const out = jb.push(pkt(7), 4);
    assert.deepEqual(seqs(out), [3, 4]);
    assert.deepEqual(losses(out), [true, false]);
    assert.equal(jb.size, 2);
    assert.equal(jb.stats.lost, 1);
  });

  test('empty (padding) payloads occupy sequence numbers like any packet', () => {
    const jb = new JitterBuffer({ maxWaitMs: 100, maxPackets: 64 });
    jb.push(pkt(1), 0);
    jb.push(pkt(3), 0);
    const out = jb.push(pkt(2, Buffer.alloc(0)), 1);
    assert.deepEqual(seqs(out), [2, 3]);
    assert.equal(out[0]!.packet.payload.length, 0);
  });

  test('a jump far ahead resynchronises after a second packet confirms it: held packets are flushed first', () => {
    const jb = new JitterBuffer({ maxWaitMs: 100, maxPackets: 64 });
    jb.push(pkt(100), 0);
    jb.push(pkt(102), 1);
    assert.deepEqual(seqs(jb.push(pkt(30000), 2)), [], 'one far packet proves nothing');
    const out = jb.push(pkt(30001), 3);
    assert.deepEqual(seqs(out), [102, 30000, 30001]);
    assert.deepEqual(losses(out), [true, true, false]);
    assert.equal(jb.stats.resyncs, 1);
    assert.equal(jb.stats.strays, 0);
    assert.deepEqual(seqs(jb.push(pkt(30002), 4)), [30002]);
    assert.equal(jb.stats.late + jb.stats.duplicates, 0);
  });

  test('a jump far behind resynchronises too, and the restart may be reordered', () => {
    const jb = new JitterBuffer({ maxWaitMs: 100, maxPackets: 64 });
    jb.push(pkt(30000), 0);
    jb.push(pkt(30001), 1);
    jb.push(pkt(8), 2);
    const out = jb.push(pkt(7), 3);
    assert.deepEqual(seqs(out), [7, 8]);
    assert.deepEqual(losses(out), [true, false]);
    assert.deepEqual(seqs(jb.push(pkt(9), 4)), [9]);
  });

  test('lone far packets (garbage) are dropped as strays and do not disturb the sequence', () => {
    const jb = new JitterBuffer({ maxWaitMs: 100, maxPackets: 64 });
    jb.push(pkt(100), 0);
    assert.deepEqual(seqs(jb.push(pkt(40000), 1)), []);
    assert.deepEqual(seqs(jb.push(pkt(101), 2)), [101]);
    assert.deepEqual(seqs(jb.push(pkt(20000), 3)), []);
    assert.deepEqual(seqs(jb.push(pkt(102), 4)), [102]);
    assert.equal(jb.stats.strays, 2);
    assert.equal(jb.stats.resyncs, 0);
    // A neighbour of a stray long after it is no proof of a restart either.
    assert.deepEqual(seqs(jb.push(pkt(20001), 2000)), []);
    assert.equal(jb.stats.resyncs, 0);
  });

  test('reset() returns what was held, and the next packet starts a new sequence with afterLoss', () => {
    const jb = new JitterBuffer({ maxWaitMs: 100, maxPackets: 64 });
    jb.push(pkt(1), 0);
    jb.push(pkt(3), 0);
    jb.push(pkt(4), 0);
    const flushed = jb.reset();
    assert.deepEqual(seqs(flushed), [3, 4]);
    assert.deepEqual(losses(flushed), [true, false]);
    assert.equal(jb.nextDeadline(), null);
    const out = jb.push(pkt(50000), 1);
    assert.deepEqual(seqs(out), [50000]);
    assert.deepEqual(losses(out), [true]);
    assert.deepEqual(seqs(jb.push(pkt(50001), 2)), [50001]);
  });

  test('network simulation: reordering, duplicates and loss over several wraps', () => {
    const rand = rng(7);
    const jb = new JitterBuffer({ maxWaitMs: 50, maxPackets: 256 });
    const sent: { seq: number; at: number }[] = [];
    let lostOnWire = 0;
    for (let i = 0; i < 200_000; i++) {
      if (rand() < 0.01) {
        lostOnWire++;
        continue;
      }
      const at = i * 0.5 + rand() * 20; // up to 20 ms of jitter at 2000 packets/s
      sent.push({ seq: (60_000 + i) & 0xffff, at });
      if (rand() < 0.01) sent.push({ seq: (60_000 + i) & 0xffff, at: at + rand() * 30 });
    }
    sent.sort((a, b) => a.at - b.at);
    const released: number[] = [];
    for (const s of sent) {
      for (const r of jb.poll(s.at)) released.push(r.packet.sequenceNumber);
      for (const r of jb.push(pkt(s.seq), s.at)) released.push(r.packet.sequenceNumber);
      assert.ok(jb.size <= 256);
    }
    for (const r of jb.poll(Infinity)) released.push(r.packet.sequenceNumber);
    // Every released packet follows the previous one (mod 2^16), in order, no repeats.
    for (let i = 1; i < released.length; i++) {
      const d = (released[i]! - released[i - 1]! + 0x10000) & 0xffff;
      assert.ok(d >= 1 && d < 1000, `step ${d} at ${i}`);
    }
    assert.equal(released.length + jb.stats.lost, 200_000);
    assert.equal(jb.stats.lost, lostOnWire, 'jitter below maxWaitMs: only the wire losses are given up');
    assert.equal(jb.stats.resyncs, 0);
    assert.ok(jb.stats.reordered > 1000);
    assert.ok(jb.stats.duplicates > 1000);
  });

  test('random sequence numbers never throw and never break the release order', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rand = rng(seed);
      const jb = new JitterBuffer({ maxWaitMs: 20, maxPackets: 32 });
      let last: number | null = null;
      for (let i = 0; i < 5000; i++) {
        const seq: number = rand() < 0.5 ? Math.floor(rand() * 65536) : ((last ?? 0) + Math.floor(rand() * 40) - 10) & 0xffff;
        const out: Released<SequencedPacket>[] = [...jb.poll(i), ...jb.push(pkt(seq), i)];
        for (const r of out) {
          const s: number = r.packet.sequenceNumber;
          // Only a loss or a resync (both flagged) may break the +1 chain.
          if (last !== null && !r.afterLoss) assert.equal(s, (last + 1) & 0xffff);
          last = s;
        }
        assert.ok(jb.size <= 32);
      }
    }
  });
});
