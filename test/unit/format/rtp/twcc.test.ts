/**
 * Transport-wide CC feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01): golden bytes for
 * hand-computed cases, then an independent parser that round-trips random arrival patterns (loss,
 * reordering, duplicates, the 65535 → 0 wrap, long gaps), and hostile input.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TwccRecorder, parseTransportSeq } from '../../../../gateway/src/format/rtp/twcc.js';
import { rng } from '../../../helpers/random.js';

const SENDER = 0x01020304;
const MEDIA = 0x05060708;
const SSRCS = '01020304 05060708';
const hex = (b: Buffer) => b.toString('hex');
const bytes = (s: string) => s.replace(/\s+/g, '');


interface Status {
  seq: number;
  received: boolean;
  /** Reconstructed arrival (ms), from the reference time and the deltas. */
  arrivalMs?: number;
  /** Receive delta in 250 µs units, as sent. */
  delta?: number;
}

interface Feedback {
  senderSsrc: number;
  mediaSsrc: number;
  base: number;
  /** Signed 24-bit reference time, in 64 ms units. */
  reference: number;
  fbCount: number;
  statuses: Status[];
}

/**
 * Written from the draft (§3.1), not from the builder: strict about everything the draft fixes, so
 * that any slip in the builder shows.
 */
function parseFeedback(buf: Buffer): Feedback {
  assert.ok(buf.length >= 20 && buf.length % 4 === 0, `length ${buf.length}`);
  assert.equal(buf[0]! >> 6, 2, 'version');
  assert.equal(buf[0]! & 0x1f, 15, 'FMT');
  assert.equal(buf[1], 205, 'PT');
  assert.equal((buf.readUInt16BE(2) + 1) * 4, buf.length, 'length field');
  let end = buf.length;
  if (buf[0]! & 0x20) {
    const pad = buf[end - 1]!;
    assert.ok(pad >= 1 && pad <= 3, `padding count ${pad}`);
    for (let i = end - pad; i < end - 1; i++) assert.equal(buf[i], 0, 'padding octets');
    end -= pad;
  }
  const base = buf.readUInt16BE(12);
  const count = buf.readUInt16BE(14);
  assert.ok(count >= 1, 'packet status count');
  const reference = buf.readIntBE(16, 3);
  const symbols: number[] = [];
  let pos = 20;
  while (symbols.length < count) {
    assert.ok(pos + 2 <= end, 'chunks overrun');
    const chunk = buf.readUInt16BE(pos);
    pos += 2;
    if ((chunk & 0x8000) === 0) {
      // §3.1.3 run length chunk
      const symbol = (chunk >> 13) & 3;
      const run = chunk & 0x1fff;
      assert.notEqual(symbol, 3, 'reserved symbol');
      assert.ok(run >= 1 && symbols.length + run <= count, `run ${run}`);
      for (let i = 0; i < run; i++) symbols.push(symbol);
    } else {
      // §3.1.4 status vector chunk
      const twoBit = (chunk & 0x4000) !== 0;
      const n = twoBit ? 7 : 14;
      for (let k = 0; k < n; k++) {
        const symbol = twoBit ? (chunk >> (2 * (6 - k))) & 3 : (chunk >> (13 - k)) & 1;
        if (symbols.length < count) {
          assert.notEqual(symbol, 3, 'reserved symbol');
          symbols.push(symbol);
        } else assert.equal(symbol, 0, 'symbols past the count');
      }
    }
  }
  const statuses: Status[] = [];
  let ticks = reference * 256;
  for (let i = 0; i < count; i++) {
    const seq = (base + i) & 0xffff;
    if (symbols[i] === 0) {
      statuses.push({ seq, received: false });
      continue;
    }
    let delta: number;
    if (symbols[i] === 1) {
      assert.ok(pos + 1 <= end, 'deltas overrun');
      delta = buf.readUInt8(pos);
      pos += 1;
    } else {
      assert.ok(pos + 2 <= end, 'deltas overrun');
      delta = buf.readInt16BE(pos);
      pos += 2;
      assert.ok(delta < 0 || delta > 255, `large symbol for small delta ${delta}`);
    }
    ticks += delta;
    statuses.push({ seq, received: true, arrivalMs: ticks / 4, delta });
  }
  assert.equal(pos, end, 'trailing bytes');
  if (buf[0]! & 0x20) assert.notEqual(end % 4, 0, 'padding when none was needed');
  return { senderSsrc: buf.readUInt32BE(4), mediaSsrc: buf.readUInt32BE(8), base, reference, fbCount: buf[19]!, statuses };
}

const received = (f: Feedback) => f.statuses.filter((s) => s.received).map((s) => s.seq);

describe('parseTransportSeq', () => {
  test('reads 16 bits big endian; the -02 variant’s extra bytes are ignored; too short is null', () => {
    assert.equal(parseTransportSeq(Buffer.from([0x12, 0x34])), 0x1234);
    assert.equal(parseTransportSeq(Buffer.from([0xff, 0xff, 0x80, 0x05])), 0xffff);
    assert.equal(parseTransportSeq(Buffer.from([0x12])), null);
    assert.equal(parseTransportSeq(Buffer.alloc(0)), null);
  });
});

describe('TwccRecorder golden bytes', () => {
  const recorder = () => new TwccRecorder({ senderSsrc: SENDER, mediaSsrc: MEDIA });

  test('three packets, small deltas: one run length chunk, padded to a word', () => {
    const r = recorder();
    r.record(100, 1000.25);
    r.record(101, 1001);
    r.record(102, 1011.5);
    const out = r.feedback();
    // reference floor(1000.25 / 64) = 15 (960 ms); deltas (1000.25-960)*4 = 161, 3, 42;
    // run length chunk "small delta" × 3 = 0x2003; 25 bytes + 3 padding (P bit, count 3) = 7 words.
    assert.deepEqual(out.map(hex), [bytes(`afcd0006 ${SSRCS} 00640003 00000f00 2003a103 2a000003`)]);
    assert.deepEqual(r.feedback(), [], 'nothing new');
  });

  test('a lost packet in between: 1-bit status vector, no padding needed', () => {
    const r = recorder();
    r.record(100, 1000.25);
    r.record(102, 1001);
    // vector 1 0 | 1 0 1 then 11 × "not received" past the count = 0xa800; 24 bytes, no P bit.
    assert.deepEqual(r.feedback().map(hex), [bytes(`8fcd0005 ${SSRCS} 00640003 00000f00 a800a103`)]);
  });

  test('a large delta: 2-bit status vector and a 2-byte delta', () => {
    const r = recorder();
    r.record(100, 1000.25);
    r.record(101, 1100.25);
    // delta 100 ms = 400 = 0x0190 > 255; vector 1 1 | 01 10 00 00 00 00 00 = 0xd800.
    assert.deepEqual(r.feedback().map(hex), [bytes(`afcd0006 ${SSRCS} 00640002 00000f00 d800a101 90000003`)]);
  });

  test('a negative delta from reordering (also before the first packet recorded)', () => {
    const r = recorder();
    r.record(101, 1005);
    r.record(100, 1010);
    // base 100 (first arrival in sequence order): reference 15, delta (1010-960)*4 = 200 = 0xc8;
    // then 101: (1005-1010)*4 = -20 = 0xffec, a large symbol.
    assert.deepEqual(r.feedback().map(hex), [bytes(`afcd0006 ${SSRCS} 00640002 00000f00 d800c8ff ec000003`)]);
  });

  test('the 65535 → 0 wrap is one run', () => {
    const r = recorder();
    for (const [i, seq] of [65534, 65535, 0, 1].entries()) r.record(seq, 10 + i);
    assert.deepEqual(r.feedback().map(hex), [bytes(`afcd0006 ${SSRCS} fffe0004 00000000 20042804 04040002`)]);
  });

  test('the reference time is 24-bit signed: a negative clock floors to -1', () => {
    const r = recorder();
    r.record(7, -10);
    // floor(-10 / 64) = -1 = 0xffffff; delta (-10 + 64) * 4 = 216; 23 bytes + 1 padding.
    assert.deepEqual(r.feedback().map(hex), [bytes(`afcd0005 ${SSRCS} 00070001 ffffff00 2001d801`)]);
  });

  test('a delta beyond 16 bits starts a new feedback packet with its own reference', () => {
    const r = recorder();
    r.record(100, 0);
    r.record(101, 9000);
    // 9 s = 36000 units > 32767: second packet base 101, reference floor(9000/64) = 140 = 0x8c,
    // delta (9000 - 8960) * 4 = 160; feedback packet count 0 then 1.
    assert.deepEqual(r.feedback().map(hex), [
      bytes(`afcd0005 ${SSRCS} 00640001 00000000 20010001`),
      bytes(`afcd0005 ${SSRCS} 00650001 00008c01 2001a001`),
    ]);
  });
});

describe('TwccRecorder reporting rules', () => {
  test('a late packet is reported from its place; what was reported as received is not again', () => {
    const r = new TwccRecorder({ senderSsrc: SENDER });
    r.record(10, 100);
    r.record(12, 102);
    r.record(13, 103);
    const [a] = r.feedback().map(parseFeedback);
    assert.equal(a!.base, 10);
    assert.deepEqual(a!.statuses.map((s) => s.received), [true, false, true, true]);
    r.record(11, 104);
    r.record(14, 105);
    const [b, more] = r.feedback().map(parseFeedback);
    assert.equal(more, undefined);
    assert.equal(b!.base, 11);
    assert.deepEqual(b!.statuses.map((s) => [s.seq, s.received]), [[11, true], [12, false], [13, false], [14, true]]);
    assert.equal(b!.statuses[0]!.arrivalMs, 104);
    assert.equal(b!.statuses[3]!.arrivalMs, 105);
    assert.equal(b!.fbCount, 1);
    r.record(9, 106); // older than the last feedback's base
    r.record(12, 107); // already reported
    r.record(11, 108); // already reported (late)
    assert.deepEqual(r.feedback(), []);
    assert.equal(r.stats.late, 1);
    assert.equal(r.stats.duplicates, 2);
  });

  test('missing packets at the end wait for the next feedback', () => {
    const r = new TwccRecorder({ senderSsrc: SENDER });
    r.record(20, 0);
    r.record(21, 1);
    const [a] = r.feedback().map(parseFeedback);
    assert.deepEqual(received(a!), [20, 21]);
    r.record(23, 3);
    const [b] = r.feedback().map(parseFeedback);
    assert.equal(b!.base, 22);
    assert.deepEqual(b!.statuses.map((s) => s.received), [false, true]);
    r.record(22, 4);
    const [c] = r.feedback().map(parseFeedback);
    assert.equal(c!.base, 22);
    assert.deepEqual(c!.statuses.map((s) => [s.seq, s.received]), [[22, true]]);
  });

  test('duplicates keep the first arrival', () => {
    const r = new TwccRecorder({ senderSsrc: SENDER });
    r.record(5, 10);
    r.record(5, 20);
    r.record(6, 11);
    r.record(6, 30);
    const [f] = r.feedback().map(parseFeedback);
    assert.deepEqual(f!.statuses.map((s) => s.arrivalMs), [10, 11]);
    assert.equal(r.stats.duplicates, 2);
  });

  test('maxPacketsPerFeedback splits into contiguous packets; the count field wraps at 256', () => {
    const r = new TwccRecorder({ senderSsrc: SENDER, maxPacketsPerFeedback: 20 });
    for (let i = 0; i < 50; i++) r.record(1000 + i, i);
    const out = r.feedback().map(parseFeedback);
    assert.deepEqual(out.map((f) => [f.base, f.statuses.length, f.fbCount]), [[1000, 20, 0], [1020, 20, 1], [1040, 10, 2]]);
    const counts: number[] = [];
    for (let i = 50; i < 350; i++) {
      r.record(1000 + i, i);
      counts.push(...r.feedback().map((b) => parseFeedback(b).fbCount));
    }
    assert.deepEqual(counts, Array.from({ length: 300 }, (_, i) => (i + 3) & 0xff));
  });

  test('a long loss run is one run length chunk; losses beyond the packet limit are left out', () => {
    const r = new TwccRecorder({ senderSsrc: SENDER });
    r.record(0, 0);
    r.record(600, 50);
    const out = r.feedback();
    const parsed = out.map(parseFeedback);
    assert.deepEqual(parsed.map((f) => [f.base, f.statuses.length]), [[0, 1], [101, 500]]);
    assert.equal(out[1]!.length, 28, '2 chunks + 1 delta');
    assert.deepEqual(received(parsed[1]!), [600]);
  });

  test('compact encodings: a long run, alternating loss', () => {
    const run = new TwccRecorder({ senderSsrc: SENDER });
    for (let i = 0; i < 100; i++) run.record(i, 1000 + i);
    const [a] = run.feedback();
    assert.equal(a!.length, 124, 'one chunk, 100 one-byte deltas');
    const alt = new TwccRecorder({ senderSsrc: SENDER });
    for (let i = 0; i < 140; i += 2) alt.record(i, 1000 + i);
    const [b] = alt.feedback();
    assert.equal(b!.length, 112, 'ten 1-bit vectors, 70 one-byte deltas');
    assert.equal(parseFeedback(b!).statuses.length, 139);
  });

  test('more than 1000 unreported packets: the oldest are given up', () => {
    const r = new TwccRecorder({ senderSsrc: SENDER });
    for (let i = 0; i < 5000; i++) r.record(i, i * 0.5);
    const out = r.feedback().map(parseFeedback);
    assert.deepEqual(out.map((f) => [f.base, f.statuses.length]), [[4000, 500], [4500, 500]]);
    assert.equal(r.stats.discarded, 4000);
  });

  test('state is kept for the last feedback’s whole range while 1000 more packets wait', () => {
    const r = new TwccRecorder({ senderSsrc: SENDER, maxPacketsPerFeedback: 1000 });
    for (let i = 0; i < 1000; i++) if (i !== 1) r.record(i, i);
    assert.deepEqual(r.feedback().map((b) => [parseFeedback(b).base, parseFeedback(b).statuses.length]), [[0, 1000]]);
    r.record(1000, 1000);
    r.record(1, 1000.5); // late, 999 behind, not behind the last feedback's base
    for (let i = 1001; i < 1999; i++) r.record(i, i);
    const out = r.feedback().map(parseFeedback);
    assert.deepEqual(out.map((f) => [f.base, f.statuses.length]), [[1, 1000], [1001, 998]]);
    assert.deepEqual(out[0]!.statuses[0], { seq: 1, received: true, arrivalMs: 1000.5, delta: 162 });
    assert.deepEqual(received(out[0]!), [1, 1000]);
    assert.equal(out.reduce((n, f) => n + received(f).length, 0), 1000);
    assert.deepEqual(r.stats, { recorded: 1999, duplicates: 0, late: 0, discarded: 0, restarts: 0, invalid: 0 });
  });

  test('a jump of more than 1000 ahead restarts the sequence there; a stray far behind is dropped', () => {
    const r = new TwccRecorder({ senderSsrc: SENDER });
    r.record(100, 0);
    r.record(101, 1);
    assert.deepEqual(r.feedback().map((b) => parseFeedback(b).base), [100]);
    r.record(40000, 2);
    r.record(40001, 3);
    assert.deepEqual(r.feedback().map((b) => received(parseFeedback(b))), [[40000, 40001]]);
    assert.equal(r.stats.restarts, 1);
    r.record(38000, 4); // far behind, alone: a stray
    r.record(40002, 5);
    assert.deepEqual(r.feedback().map((b) => received(parseFeedback(b))), [[40002]]);
    assert.equal(r.stats.late, 1);
    r.record(102, 6); // far behind, and a neighbour follows: the sender restarted lower
    r.record(104, 7);
    r.record(103, 8);
    assert.deepEqual(r.feedback().map((b) => received(parseFeedback(b))), [[102, 103, 104]]);
    assert.deepEqual([r.stats.restarts, r.stats.late], [2, 1]);
  });

  test('two strays far behind, more than a second apart, do not restart', () => {
    const r = new TwccRecorder({ senderSsrc: SENDER });
    r.record(5000, 0);
    r.record(100, 10);
    r.record(5001, 1500);
    r.record(101, 2000);
    assert.deepEqual(r.feedback().map((b) => received(parseFeedback(b))), [[5000, 5001]]);
    assert.deepEqual([r.stats.restarts, r.stats.late], [0, 2]);
  });

  test('a stray far ahead costs what was waiting, not the sequence after it', () => {
    const r = new TwccRecorder({ senderSsrc: SENDER });
    for (let i = 0; i < 5; i++) r.record(500 + i, i);
    r.feedback();
    r.record(30000, 5);
    r.record(505, 6); // dropped: far behind the stray
    r.record(506, 7); // confirms: back to the real sequence
    r.record(507, 8);
    assert.deepEqual(r.feedback().map((b) => received(parseFeedback(b))), [[505, 506, 507]]);
    assert.deepEqual([r.stats.restarts, r.stats.discarded, r.stats.late], [2, 1, 0]);
  });
});

interface Scenario {
  seed: number;
  packets: number;
  firstSeq: number;
  loss: number;
  duplicates: number;
  /** Extra one-way delay, up to this many ms, on some packets: reordering. */
  jitterMs: number;
  feedbackEveryMs: [number, number];
  /** Chance of an 8-12 s pause before a packet (default 0.003). */
  pauses?: number;
  maxPacketsPerFeedback?: number;
  /** Feedback is called rarely: packets may be given up (the 1000 bound). */
  lossy?: boolean;
}

interface Coverage {
  reported: number;
  recorded: number;
  /** Received packets reported after their place had been reported as lost. */
  lateReported: number;
  /** Late packets dropped by the recorder (behind the last base). */
  lateDropped: number;
  negativeDeltas: number;
  largeDeltas: number;
  /** feedback() calls that returned more than one packet. */
  splits: number;
}

/**
 * Sends packets through a random network, calls feedback() on a random schedule, decodes every
 * feedback with the parser above, and checks the reports against what was recorded.
 */
function roundTrip(s: Scenario): Coverage {
  const random = rng(s.seed);
  // Send schedule: 0.1-5 ms apart, sometimes a pause long enough to overflow a 16-bit delta.
  const arrivals: { ext: number; at: number }[] = [];
  let sendAt = 5_000_000 + random() * 1000;
  for (let ext = 0; ext < s.packets; ext++) {
    sendAt += random() < (s.pauses ?? 0.003) ? 8000 + random() * 4000 : 0.1 + random() * 5;
    if (random() < s.loss) continue;
    const at = sendAt + 20 + (random() < 0.2 ? random() * s.jitterMs : 0);
    arrivals.push({ ext, at });
    if (random() < s.duplicates) arrivals.push({ ext, at: at + random() * 30 });
  }
  arrivals.sort((a, b) => a.at - b.at);

  const r = new TwccRecorder({ senderSsrc: SENDER, mediaSsrc: MEDIA, maxPacketsPerFeedback: s.maxPacketsPerFeedback });
  const max = s.maxPacketsPerFeedback ?? 500;
  const firstArrival = new Map<number, number>();
  /** Recorded packets that must be reported: not behind the last base when they arrived. */
  const mustReport = new Set<number>();
  const reportedAt = new Map<number, number>();
  let highest = -1;
  let lastBase = -Infinity;
  let fbCount = -1;
  let covered = -1;
  const cov = { lateReported: 0, negativeDeltas: 0, largeDeltas: 0, splits: 0 };
  const unwrap = (seq: number) => highest + ((((seq - s.firstSeq - highest) & 0xffff) + 0x8000) & 0xffff) - 0x8000;

  const collect = () => {
    const out = r.feedback();
    if (out.length > 1) cov.splits++;
    for (const buf of out) {
      assert.ok(buf.length <= 24 + 2 * Math.ceil(max / 7) + 2 * max, `size ${buf.length}`);
      const f = parseFeedback(buf);
      assert.equal(f.senderSsrc, SENDER);
      assert.equal(f.mediaSsrc, MEDIA);
      if (fbCount >= 0) assert.equal(f.fbCount, (fbCount + 1) & 0xff, 'feedback packet count');
      fbCount = f.fbCount;
      assert.ok(f.statuses.length <= max);
      assert.ok(f.statuses[f.statuses.length - 1]!.received, 'ends with a received packet');
      const firstReceived = f.statuses.find((st) => st.received)!;
      assert.ok(firstReceived.delta! >= 0, 'first delta ≥ 0');
      const base = unwrap(f.base);
      assert.ok(base >= lastBase, `base ${base} went behind ${lastBase}`);
      lastBase = base;
      for (const [i, st] of f.statuses.entries()) {
        const ext = base + i;
        if (st.received) {
          assert.ok(!reportedAt.has(ext), `${ext} reported as received twice`);
          const at = firstArrival.get(ext);
          assert.ok(at !== undefined, `${ext} reported but never recorded`);
          assert.ok(Math.abs(st.arrivalMs! - at) <= 0.125 + 1e-6, `${ext}: ${st.arrivalMs} vs ${at}`);
          reportedAt.set(ext, st.arrivalMs!);
          if (ext <= covered) cov.lateReported++;
          if (st.delta! < 0) cov.negativeDeltas++;
          else if (st.delta! > 255) cov.largeDeltas++;
        } else {
          assert.ok(!firstArrival.has(ext) || reportedAt.has(ext), `${ext} recorded, reported as lost`);
        }
      }
      covered = Math.max(covered, base + f.statuses.length - 1);
    }
  };

  let nextFeedback = arrivals[0]!.at + s.feedbackEveryMs[0];
  for (const [i, { ext, at }] of arrivals.entries()) {
    // Sometimes no feedback during a pause, so that the packets either side share one feedback().
    if (i > 0 && at - arrivals[i - 1]!.at > 8000 && random() < 0.5) nextFeedback = Math.max(nextFeedback, at + 1);
    while (at >= nextFeedback) {
      collect();
      nextFeedback += s.feedbackEveryMs[0] + random() * (s.feedbackEveryMs[1] - s.feedbackEveryMs[0]);
    }
    if (!firstArrival.has(ext)) {
      firstArrival.set(ext, at);
      if (ext >= lastBase) mustReport.add(ext);
    }
    if (ext > highest) highest = ext;
    r.record((s.firstSeq + ext) & 0xffff, at);
  }
  collect();
  assert.deepEqual(r.feedback(), []);
  if (!s.lossy) {
    for (const ext of mustReport) assert.ok(reportedAt.has(ext), `${ext} never reported`);
    assert.equal(r.stats.discarded, 0);
  }
  for (const ext of reportedAt.keys()) assert.ok(firstArrival.has(ext));
  return { reported: reportedAt.size, recorded: firstArrival.size, lateDropped: r.stats.late, ...cov };
}

describe('TwccRecorder round trip through an independent parser', () => {
  const clean: Scenario = {
    seed: 1,
    packets: 3000,
    firstSeq: 64000,
    loss: 0,
    duplicates: 0,
    jitterMs: 0,
    feedbackEveryMs: [50, 100],
  };

  test('in order, no loss, across the wrap', () => {
    const res = roundTrip(clean);
    assert.equal(res.reported, res.recorded);
  });

  const total: Coverage = {
    reported: 0,
    recorded: 0,
    lateReported: 0,
    lateDropped: 0,
    negativeDeltas: 0,
    largeDeltas: 0,
    splits: 0,
  };
  for (const seed of [2, 3, 4, 5, 6, 7, 8, 9]) {
    test(`loss, reordering, duplicates, wrap, long pauses (seed ${seed})`, () => {
      const res = roundTrip({
        ...clean,
        seed,
        packets: 4000,
        firstSeq: 65535 - seed * 300,
        loss: 0.05 + seed / 100,
        duplicates: 0.02,
        jitterMs: 5 + seed * 15,
      });
      assert.ok(res.reported > res.recorded * 0.8, `${res.reported} of ${res.recorded}`);
      for (const k of Object.keys(total) as (keyof Coverage)[]) total[k] += res[k];
    });
  }
  test('the random cases above reach every path', () => {
    for (const k of ['lateReported', 'lateDropped', 'negativeDeltas', 'largeDeltas', 'splits'] as const) {
      assert.ok(total[k] > 0, `${k}: ${JSON.stringify(total)}`);
    }
  });

  test('small packet limit', () => {
    const limit = { maxPacketsPerFeedback: 9, feedbackEveryMs: [50, 250] as [number, number] };
    const res = roundTrip({ ...clean, ...limit, seed: 11, loss: 0.1, duplicates: 0.01, jitterMs: 30 });
    assert.ok(res.splits > 0);
  });

  test('feedback called rarely: packets are given up but nothing is wrong', () => {
    const rare = { feedbackEveryMs: [1000, 6000] as [number, number], pauses: 0, lossy: true };
    const res = roundTrip({ ...clean, ...rare, seed: 12, packets: 8000, loss: 0.1, duplicates: 0.05, jitterMs: 50 });
    assert.ok(res.reported < res.recorded && res.reported > 1000, `${res.reported} of ${res.recorded}`);
  });
});

/** Takes the feedback and checks each packet parses and the whole stays within the memory bound. */
function drain(r: TwccRecorder, max: number): void {
  let statuses = 0;
  for (const buf of r.feedback()) {
    const f = parseFeedback(buf);
    assert.ok(f.statuses.length <= max);
    statuses += f.statuses.length;
  }
  assert.ok(statuses <= 2000, `${statuses} statuses in one call`);
}

describe('TwccRecorder hostile input', () => {
  test('random garbage never throws, and every output is a valid feedback packet', () => {
    const random = rng(99);
    const weird = [NaN, Infinity, -Infinity, -1, 1e20, -1e20, 0.5, 65536, 2 ** 32 + 3, -65537];
    for (let round = 0; round < 20; round++) {
      const max = 1 + Math.floor(random() * 600);
      const r = new TwccRecorder({ senderSsrc: 0xffffffff, mediaSsrc: -1, maxPacketsPerFeedback: max });
      let seq = Math.floor(random() * 65536);
      let t = (random() - 0.5) * 1e9;
      for (let i = 0; i < 3000; i++) {
        const p = random();
        if (p < 0.05) seq = Math.floor(random() * 65536);
        else if (p < 0.1) seq += Math.floor(random() * 2500) - 1250;
        else if (p < 0.2) seq -= Math.floor(random() * 40);
        else if (p < 0.9) seq += 1;
        const q = random();
        if (q < 0.02) t = (random() - 0.5) * 1e12;
        else if (q < 0.1) t -= random() * 20_000;
        else t += random() * 20_000 * (q < 0.15 ? 1 : 0.001);
        const s = random() < 0.01 ? weird[Math.floor(random() * weird.length)]! : seq;
        const a = random() < 0.01 ? weird[Math.floor(random() * weird.length)]! : t;
        r.record(s, a);
        if (random() < 0.05) drain(r, max);
      }
      drain(r, max);
      // Still sound afterwards: a clean run far from everything is reported exactly.
      const from = (seq + 20_000) & 0xffff;
      for (let i = 0; i < 10; i++) r.record(from + i, 5000 + i);
      const statuses = r.feedback().flatMap((b) => parseFeedback(b).statuses.filter((st) => st.received));
      const expected = Array.from({ length: 10 }, (_, i) => [(from + i) & 0xffff, 5000 + i]);
      assert.deepEqual(statuses.map((st) => [st.seq, st.arrivalMs]), expected);
    }
  });

  test('constructor rejects a packet limit below 1', () => {
    assert.throws(() => new TwccRecorder({ senderSsrc: 1, maxPacketsPerFeedback: 0 }), RangeError);
    assert.throws(() => new TwccRecorder({ senderSsrc: 1, maxPacketsPerFeedback: NaN }), RangeError);
  });
});
