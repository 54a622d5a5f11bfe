/**
 * SrtSender with injected time: headers and shared payloads, ACK release, NAK-driven
 * retransmissions (first, with the R flag), too-late drop with one Message Drop Request, the
 * flow window, and LiveCC pacing after the input rate is measured.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HEADER_SIZE, SEQ_MAX, parsePacket, type DataPacket, type SeqRange } from '../../../../gateway/src/protocols/srt/packet.js';
import { SrtSender, type SenderOptions } from '../../../../gateway/src/protocols/srt/sender.js';

const ISN = 500;
const DEST = 0xabcdef01;
const T0 = 1_000_000;

interface Sent {
  header: Buffer;
  payload: Buffer;
  p: DataPacket;
}

function setup(o: Partial<SenderOptions> = {}) {
  const sent: Sent[] = [];
  const drops: { range: SeqRange; msgno: number }[] = [];
  const s = new SrtSender({
    isn: ISN,
    peerLatencyUs: 120_000,
    flowWindow: 8192,
    tooLateDrop: true,
    destId: DEST,
    send: (header, payload) => {
      const p = parsePacket(Buffer.concat([header, payload]));
      assert.equal(p.control, false);
      sent.push({ header, payload, p: p as DataPacket });
    },
    dropRequest: (range, msgno) => drops.push({ range, msgno }),
    ...o,
  });
  return { s, sent, drops, seqs: () => sent.map((x) => x.p.seq) };
}

const payload = (i: number, size = 1316) => Buffer.alloc(size, i & 0xff);

describe('SrtSender', () => {
  test('a write is sent as a 16-byte header with seq, msgno, timestamp, destination, and the same payload Buffer', () => {
    const { s, sent } = setup();
    const a = payload(1);
    const b = payload(2, 188);
    s.write(a, 1234, 0, T0);
    s.write(b, 5678, 1, T0 + 10);
    assert.equal(sent.length, 0, 'write only queues; poll sends');
    assert.equal(s.nextSequence, ISN + 2);
    s.poll(T0 + 10);
    assert.equal(sent.length, 2);
    assert.equal(sent[0]!.header.length, HEADER_SIZE);
    assert.equal(sent[0]!.payload, a, 'the payload Buffer itself is handed to send (no copy)');
    assert.equal(sent[1]!.payload, b);
    const p0 = sent[0]!.p;
    assert.equal(p0.seq, ISN);
    assert.equal(p0.msgno, 1);
    assert.equal(p0.timestamp, 1234);
    assert.equal(p0.destId, DEST);
    assert.equal(p0.position, 3, 'PP=11: one packet, one message');
    assert.equal(p0.retransmitted, false);
    assert.equal(p0.key, 0);
    const p1 = sent[1]!.p;
    assert.equal(p1.seq, ISN + 1);
    assert.equal(p1.msgno, 2);
    assert.equal(p1.timestamp, 5678);
    assert.equal(p1.key, 1);
    const { sent: n, bytesSent, retransmitted, dropped, lossReported } = s.stats;
    assert.deepEqual({ sent: n, bytesSent, retransmitted, dropped, lossReported }, { sent: 2, bytesSent: 1316 + 188, retransmitted: 0, dropped: 0, lossReported: 0 });
    assert.equal(s.inFlight, 2);
  });

  test('sequence numbers wrap at 2^31', () => {
    const { s, seqs } = setup({ isn: SEQ_MAX - 1 });
    for (let i = 0; i < 4; i++) s.write(payload(i), i, 0, T0);
    s.poll(T0);
    assert.deepEqual(seqs(), [SEQ_MAX - 1, SEQ_MAX, 0, 1]);
    s.onAck(1);
    assert.equal(s.inFlight, 1);
  });

  test('onAck releases everything before the acknowledged sequence number, never what was not sent', () => {
    const { s } = setup();
    for (let i = 0; i < 10; i++) s.write(payload(i), i * 1000, 0, T0);
    s.poll(T0);
    assert.equal(s.inFlight, 10);
    s.onAck(ISN + 5);
    assert.equal(s.inFlight, 5);
    s.onAck(ISN + 3); // an old ACK
    assert.equal(s.inFlight, 5);
    for (let i = 10; i < 13; i++) s.write(payload(i), i * 1000, 0, T0);
    assert.equal(s.queuedBytes, 3 * 1316);
    s.onAck(ISN + 100); // acknowledges past what was sent
    assert.equal(s.inFlight, 3, 'the three unsent packets stay');
    s.poll(T0 + 1000);
    assert.equal(s.queuedBytes, 0);
    s.onAck(ISN + 13);
    assert.equal(s.inFlight, 0);
  });

  test('onNak: retransmissions go out before new data, with the R flag and the original header fields and payload', () => {
    const { s, sent } = setup();
    const payloads = Array.from({ length: 12 }, (_, i) => payload(i));
    for (let i = 0; i < 10; i++) s.write(payloads[i]!, i * 1000, 1, T0);
    s.poll(T0);
    assert.equal(sent.length, 10);
    s.write(payloads[10]!, 10_000, 1, T0 + 1000);
    s.write(payloads[11]!, 11_000, 1, T0 + 1000);
    s.onNak([
      { first: ISN + 2, last: ISN + 3 },
      { first: ISN + 7, last: ISN + 7 },
    ], T0 + 1000);
    assert.equal(s.stats.lossReported, 3);
    s.poll(T0 + 1000);
    const after = sent.slice(10);
    assert.deepEqual(
      after.map((x) => [x.p.seq, x.p.retransmitted]),
      [
        [ISN + 2, true],
        [ISN + 3, true],
        [ISN + 7, true],
        [ISN + 10, false],
        [ISN + 11, false],
      ],
    );
    const r = after[0]!;
    assert.equal(r.p.msgno, 3);
    assert.equal(r.p.timestamp, 2000, 'the original source time');
    assert.equal(r.p.key, 1);
    assert.equal(r.payload, payloads[2], 'the same payload Buffer, again not copied');
    assert.equal(s.stats.retransmitted, 3);
    assert.equal(s.stats.sent, 12, 'retransmissions are not counted as sent');
  });

  test('onNak: duplicates are merged; acknowledged, unsent and unknown packets are not retransmitted', () => {
    const { s, sent } = setup();
    for (let i = 0; i < 10; i++) s.write(payload(i), i * 1000, 0, T0);
    s.poll(T0);
    s.write(payload(10), 10_000, 0, T0 + 500); // queued, never sent
    s.onAck(ISN + 4);
    s.onNak([
      { first: ISN + 1, last: ISN + 5 }, // 1..3 acknowledged already
      { first: ISN + 5, last: ISN + 5 }, // a duplicate
      { first: ISN + 10, last: ISN + 12 }, // unsent, and beyond what exists
    ], T0 + 1000);
    s.poll(T0 + 1000);
    assert.deepEqual(
      sent.slice(10).map((x) => [x.p.seq, x.p.retransmitted]),
      [
        [ISN + 4, true],
        [ISN + 5, true],
        [ISN + 10, false],
      ],
    );
  });

  test('too-late drop: after max(peerLatency + 20 ms, 1 s) one drop request with the range and msgno', () => {
    const { s, drops } = setup({ peerLatencyUs: 120_000 });
    for (let i = 0; i < 5; i++) s.write(payload(i), i, 0, T0);
    s.poll(T0);
    s.onAck(ISN + 2);
    s.poll(T0 + 1_000_000);
    assert.deepEqual(drops, [], 'not yet: the threshold is 1 s (the floor), not 140 ms');
    s.poll(T0 + 1_000_001);
    assert.deepEqual(drops, [{ range: { first: ISN + 2, last: ISN + 4 }, msgno: 3 }]);
    assert.equal(s.stats.dropped, 3);
    assert.equal(s.inFlight, 0);
    s.poll(T0 + 2_000_000);
    assert.equal(drops.length, 1, 'one drop request only');
    s.onNak([{ first: ISN + 3, last: ISN + 3 }], T0 + 2_000_000);
    const before = s.stats.retransmitted;
    s.poll(T0 + 2_000_001);
    assert.equal(s.stats.retransmitted, before, 'a dropped packet is not retransmitted');
  });

  test('too-late drop with a large peer latency: threshold peerLatency + 20 ms; queued retransmissions of dropped packets are forgotten', () => {
    const { s, sent, drops } = setup({ peerLatencyUs: 2_000_000 });
    for (let i = 0; i < 3; i++) s.write(payload(i), i, 0, T0);
    s.poll(T0);
    s.write(payload(3), 3, 0, T0 + 1_500_000);
    s.poll(T0 + 1_500_000);
    s.onNak([{ first: ISN, last: ISN + 3 }], T0 + 1_500_000);
    s.poll(T0 + 2_020_000);
    assert.deepEqual(drops, []);
    const n = sent.length;
    s.onNak([{ first: ISN, last: ISN + 3 }], T0 + 2_020_000);
    s.poll(T0 + 2_020_001);
    assert.deepEqual(drops, [{ range: { first: ISN, last: ISN + 2 }, msgno: 1 }]);
    assert.deepEqual(
      sent.slice(n).map((x) => x.p.seq),
      [ISN + 3],
      'only the packet still within its time is retransmitted',
    );
  });

  test('no too-late drop without TLPKTDROP', () => {
    const { s, drops } = setup({ tooLateDrop: false });
    s.write(payload(0), 0, 0, T0);
    s.poll(T0);
    s.poll(T0 + 60_000_000);
    assert.deepEqual(drops, []);
    assert.equal(s.inFlight, 1);
  });

  test('the flow window caps packets in flight until an ACK comes', () => {
    const { s, sent } = setup({ flowWindow: 8 });
    for (let i = 0; i < 20; i++) s.write(payload(i, 100), i, 0, T0);
    s.poll(T0);
    assert.equal(sent.length, 8);
    s.poll(T0 + 100_000);
    const firstSends = () => sent.filter((x) => !x.p.retransmitted).length;
    assert.equal(firstSends(), 8);
    assert.ok(sent.slice(8).every((x) => x.p.retransmitted && x.p.seq === ISN), 'only the unacknowledged head is sent again (NAK-less)');
    s.onAck(ISN + 5);
    s.poll(T0 + 200_000);
    assert.equal(firstSends(), 13);
  });

  test('pacing: after a 1 s warm-up at a steady input rate, a burst of 200 packets is spread out, at up to 4× the LiveCC rate', () => {
    const { s, sent } = setup({ peerLatencyUs: 120_000 });
    // Warm-up: 500 packets/s of 1316 bytes (≈ 5.3 Mb/s) for 1.2 s, written and polled as they come.
    let t = T0;
    let ts = 0;
    for (let i = 0; i < 600; i++, t += 2000, ts += 2000) {
      s.write(payload(i), ts, 0, t);
      s.poll(t);
      s.onAck(s.nextSequence);
    }
    assert.equal(sent.length, 600, 'at the input rate, everything goes out at once');
    const inputBps = (1316 * 1e6) / 2000;
    assert.ok(Math.abs(s.sendRateBps - inputBps * 1.25) < inputBps * 0.02, `LiveCC rate ${s.sendRateBps} ≈ input × 1.25`);
    // The burst: 200 packets written at the same instant.
    const before = sent.length;
    for (let i = 0; i < 200; i++) s.write(payload(i), ts, 0, t);
    s.poll(t);
    const firstPoll = sent.length - before;
    assert.ok(firstPoll > 0 && firstPoll <= 20, `${firstPoll} packets in the first poll (a small burst allowance, not 200)`);
    let polls = 1;
    while (sent.length - before < 200 && polls < 10_000) {
      t += 1000;
      s.poll(t);
      s.onAck(s.nextSequence);
      polls++;
    }
    assert.equal(sent.length - before, 200, 'the burst is sent in the end');
    // Faster than the LiveCC rate (a keyframe must not wait long), at 4 × that rate at the most.
    const atLiveCc = ((200 - firstPoll) * (1316 + 44) * 1e6) / s.sendRateBps;
    const tookUs = (polls - 1) * 1000;
    assert.ok(tookUs >= atLiveCc / 4 - 2000 && tookUs <= atLiveCc / 2, `burst drained in ${tookUs} µs; at the LiveCC rate it would take ${atLiveCc.toFixed(0)}`);
  });

  test('packets are not sent before their source time (a spread-out burst)', () => {
    const { s, sent } = setup();
    for (let i = 0; i < 10; i++) s.write(payload(i), i * 10_000, 0, T0 + i * 10_000);
    const firstSends = () => sent.filter((x) => !x.p.retransmitted).length;
    s.poll(T0);
    assert.equal(firstSends(), 1);
    s.poll(T0 + 45_000);
    assert.equal(firstSends(), 5);
    s.poll(T0 + 90_000);
    assert.equal(firstSends(), 10);
  });

  test('before the rate is measured, a long queue is paced (30 Mb/s × 4 at the most), and idle time earns no flood', () => {
    const { s, sent } = setup();
    for (let i = 0; i < 3000; i++) s.write(payload(i), 0, 0, T0);
    s.poll(T0);
    const first = sent.length;
    assert.ok(first < 30, `${first} packets in the first poll`);
    s.poll(T0 + 100_000); // credit is capped at one 5 ms period: 5 ms × 120 Mb/s = 75 kB ≈ 55 packets
    const second = sent.length - first;
    assert.ok(second <= 60, `${second} packets after an idle 100 ms`);
  });

  test('five NAK datagrams, each naming 182 huge ranges, are handled in well under 50 ms', () => {
    const { s } = setup();
    s.write(payload(0, 10), 0, 0, T0);
    s.poll(T0);
    const ranges = Array.from({ length: 182 }, (_, i) => ({ first: (i * 0x1000000) & SEQ_MAX, last: (i * 0x1000000 + 0x3ffff000) & SEQ_MAX }));
    const start = performance.now();
    for (let i = 0; i < 5; i++) s.onNak(ranges, T0);
    const ms = performance.now() - start;
    assert.ok(ms < 50, `BUG sender.ts onNak(): five hostile NAKs took ${ms.toFixed(0)} ms (the walk is not bounded by the send buffer)`);
  });
});
