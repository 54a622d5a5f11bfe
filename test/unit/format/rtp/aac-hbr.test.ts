import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AacHbrDepacketizer, packetizeAacHbr } from '../../../../gateway/src/format/rtp/aac-hbr.js';

test('two AUs in one packet (RFC 3640 §3.3.6 layout): golden bytes', () => {
  const a = Buffer.from([0x21, 0x10, 0x05]);
  const b = Buffer.from([0x21, 0x20]);
  // AU-headers-length 32 bits; headers: size 3 index 0 = 0x0018, size 2 delta 0 = 0x0010.
  const payload = Buffer.concat([Buffer.from([0x00, 0x20, 0x00, 0x18, 0x00, 0x10]), a, b]);
  const units = new AacHbrDepacketizer().push(payload, 1000, true);
  assert.deepEqual(units, [
    { data: a, timestamp: 1000 },
    { data: b, timestamp: 2024 },
  ]);
});

test('packetize then depacketize: one packet, and a large AU in fragments', () => {
  for (const size of [1, 300, 1196, 1197, 5000, 8191]) {
    const au = Buffer.from(Array.from({ length: size }, (_, i) => i & 0xff));
    const packets = packetizeAacHbr(au, 1200);
    assert.ok(packets.every((p) => p.length <= 1200));
    assert.deepEqual(packets[0]!.subarray(0, 4), Buffer.from([0, 16, size >>> 5, (size & 31) << 3]));
    const d = new AacHbrDepacketizer();
    const got = packets.flatMap((p, i) => d.push(p, 77, i === packets.length - 1));
    assert.equal(got.length, 1, `size ${size}`);
    assert.deepEqual(got[0]!.data, au);
    assert.equal(d.malformed, 0);
  }
  assert.throws(() => packetizeAacHbr(Buffer.alloc(8192)), RangeError);
});

test('a lost fragment drops that AU only; the next AU comes through', () => {
  const d = new AacHbrDepacketizer();
  const big = packetizeAacHbr(Buffer.alloc(3000, 7), 1200);
  assert.deepEqual(d.push(big[0]!, 1, false), []);
  // big[1] lost
  assert.deepEqual(d.push(big[2]!, 1, true, true), []);
  const small = Buffer.from([1, 2, 3]);
  assert.deepEqual(d.push(packetizeAacHbr(small)[0]!, 1025, true).map((u) => u.data), [small]);
});

test('malformed payloads are counted and dropped, never thrown', () => {
  const d = new AacHbrDepacketizer();
  const bad = [
    Buffer.alloc(0),
    Buffer.from([0x00]),
    Buffer.from([0x00, 0x00]), // no headers
    Buffer.from([0x00, 0x0f, 0x00]), // not a multiple of 16 bits
    Buffer.from([0xff, 0xf0, 0x00, 0x18]), // headers past the end
    Buffer.from([0x00, 0x20, 0x00, 0x18, 0x00, 0x10, 1, 2, 3]), // second AU missing
  ];
  for (const p of bad) assert.deepEqual(d.push(p, 0, true), []);
  assert.equal(d.malformed, bad.length);
});
