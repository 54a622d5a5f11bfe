/**
 * RFC 7741 VP8: payload descriptors, frame headers from a real libvpx stream, packetize ↔
 * depacketize round trips, loss and keyframe recovery, limits and garbage.
 *
 * The frame headers are the first 32 bytes of the first three frames of
 * `ffmpeg -f lavfi -i testsrc2=size=320x240:rate=25 -frames:v 3 -c:v libvpx -b:v 200k -g 25 -f ivf`
 * (Debian ffmpeg 5.1, libvpx): a 7468-byte keyframe and inter frames of 421 and 530 bytes. The rest
 * of each frame is filled with a pattern; only the header is parsed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JitterBuffer, type SequencedPacket } from '../../../../gateway/src/format/rtp/jitter-buffer.js';
import { packetizeVp8, parseVp8Descriptor, parseVp8FrameHeader, Vp8Depacketizer } from '../../../../gateway/src/format/rtp/vp8.js';
import { rng } from '../../../helpers/random.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const LIBVPX_FRAMES: [string, number][] = [
  ['706e009d012a4001f0000007088585888584880202031da50bf80fe0774a5404', 7468],
  ['d115001211700018db09a26ba0bff4f72f8ddfa0151f419ff9bcbfc1597ffff6', 421],
  ['111d001c11600018dc02343ff0573597d2584ffb2b58168aedb1b01883bec13b', 530],
];
const frame = (i: number): Buffer => {
  const [head, size] = LIBVPX_FRAMES[i]!;
  const b = Buffer.alloc(size);
  for (let j = 0; j < size; j++) b[j] = (j * 7 + i) & 0xff;
  hex(head).copy(b);
  return b;
};
const KEY = frame(0);
const INTER = frame(1);

function pushFrame(d: Vp8Depacketizer, f: Buffer, ts: number, maxPayload = 1200) {
  return packetizeVp8(f, { maxPayload }).flatMap((p) => d.push(p.payload, ts, p.marker, false));
}


describe('VP8 frame header (RFC 6386 §9.1)', () => {
  test('libvpx keyframe: P = 0, start code, 320x240', () => {
    const h = parseVp8FrameHeader(KEY)!;
    assert.deepEqual(h, { keyframe: true, version: 0, show: true, firstPartitionSize: 883, width: 320, height: 240, horizontalScale: 0, verticalScale: 0 });
  });
  test('libvpx inter frames: P = 1, no size', () => {
    assert.deepEqual(parseVp8FrameHeader(INTER), { keyframe: false, version: 0, show: true, firstPartitionSize: 174 });
    assert.equal(parseVp8FrameHeader(frame(2))!.keyframe, false);
  });
  test('broken headers', () => {
    assert.equal(parseVp8FrameHeader(hex('70 6e')), null, 'short');
    assert.equal(parseVp8FrameHeader(KEY.subarray(0, 500)), null, 'first partition runs past the frame');
    const noStart = Buffer.from(KEY);
    noStart[4] = 0x02;
    assert.equal(parseVp8FrameHeader(noStart), null, 'no start code');
    const v7 = Buffer.from(INTER);
    v7[0] = v7[0]! | 0x0e;
    assert.equal(parseVp8FrameHeader(v7), null, 'version 7');
  });
});

describe('VP8 payload descriptor (RFC 7741 §4.2)', () => {
  test('one byte, and with every extension', () => {
    assert.deepEqual(parseVp8Descriptor(hex('10 ff')), { length: 1, start: true, partition: 0, nonReference: false });
    assert.deepEqual(parseVp8Descriptor(hex('a1 e0 12 34 56 ff')), { length: 5, start: false, partition: 1, nonReference: true, pictureId: 0x12 });
    // X, I with a 15-bit picture id (M = 1), L, T/K.
    assert.deepEqual(parseVp8Descriptor(hex('90 f0 92 34 05 40 ff')), { length: 6, start: true, partition: 0, nonReference: false, pictureId: 0x1234 });
  });
  test('descriptors that run past the packet, or leave no payload', () => {
    for (const bad of ['10', '90', '90 80', '90 80 92', '90 80 92 34', '90 40 00', '90 f0 92 34 05 40']) {
      assert.equal(parseVp8Descriptor(hex(bad)), null, bad);
    }
  });
});

describe('VP8 packetizer', () => {
  test('golden: one-byte descriptors, S on the first, marker on the last, ≤ maxPayload', () => {
    const packets = packetizeVp8(KEY);
    assert.equal(packets.length, Math.ceil(7468 / 1199));
    assert.equal(packets[0]!.payload.subarray(0, 12).toString('hex'), '10' + '706e009d012a4001f00000');
    assert.ok(packets.slice(1).every((p) => p.payload[0] === 0x00));
    assert.ok(packets.every((p) => p.payload.length <= 1200));
    assert.deepEqual(packets.map((p) => p.marker), [false, false, false, false, false, false, true]);
    assert.deepEqual(packetizeVp8(Buffer.alloc(0)), []);
    assert.throws(() => packetizeVp8(KEY, { maxPayload: 8 }), RangeError);
  });
});

describe('VP8 depacketizer', () => {
  test('round trip through packetizeVp8: keyframe with its size, then an inter frame', () => {
    const d = new Vp8Depacketizer();
    assert.equal(d.needsKeyframe, true);
    const [k, ...more] = pushFrame(d, KEY, 90_000);
    assert.equal(more.length, 0);
    assert.ok(k!.data.equals(KEY));
    assert.deepEqual({ ts: k!.timestamp, key: k!.keyframe, w: k!.width, h: k!.height }, { ts: 90_000, key: true, w: 320, h: 240 });
    assert.equal(d.needsKeyframe, false);
    const [p] = pushFrame(d, INTER, 93_000);
    assert.ok(p!.data.equals(INTER));
    assert.equal(p!.keyframe, false);
    assert.equal(p!.width, undefined);
    for (const max of [16, 100, 421, 422, 1200]) {
      const again = new Vp8Depacketizer();
      assert.ok(pushFrame(again, KEY, 0, max)[0]!.data.equals(KEY), `maxPayload ${max}`);
      assert.ok(pushFrame(again, INTER, 3000, max)[0]!.data.equals(INTER), `maxPayload ${max}`);
    }
  });

  test('a frame of one packet is a view into the payload (no copy)', () => {
    const d = new Vp8Depacketizer();
    pushFrame(d, KEY, 0);
    const [payload] = packetizeVp8(INTER);
    const [f] = d.push(payload!.payload, 3000, true, false);
    assert.equal(f!.data.buffer, payload!.payload.buffer);
  });

  test('extended descriptors (picture id, TL0PICIDX, TID) as Chrome sends them', () => {
    const d = new Vp8Depacketizer();
    const body = KEY;
    const half = 4000;
    assert.deepEqual(d.push(Buffer.concat([hex('90 e0 80 07 01 20'), body.subarray(0, half)]), 0, false, false), []);
    const [f] = d.push(Buffer.concat([hex('80 e0 80 07 01 20'), body.subarray(half)]), 0, true, false);
    assert.ok(f!.data.equals(KEY));
  });

  test('before the first keyframe, inter frames are dropped', () => {
    const d = new Vp8Depacketizer();
    assert.deepEqual(pushFrame(d, INTER, 0), []);
    assert.equal(d.stats.dropped, 1);
    assert.equal(pushFrame(d, KEY, 3000).length, 1);
  });

  test('loss: the damaged frame and later inter frames are dropped until a keyframe', () => {
    const d = new Vp8Depacketizer();
    pushFrame(d, KEY, 0);
    const packets = packetizeVp8(frame(2), { maxPayload: 100 });
    const out = packets.filter((_, i) => i !== 2).flatMap((p, i) => d.push(p.payload, 3000, p.marker, i === 2));
    assert.deepEqual(out, []);
    assert.equal(d.needsKeyframe, true);
    assert.deepEqual(pushFrame(d, INTER, 6000), []);
    assert.equal(pushFrame(d, KEY, 9000).length, 1);
    assert.equal(d.needsKeyframe, false);
    assert.equal(pushFrame(d, INTER, 12000).length, 1);
    assert.deepEqual(d.stats, { frames: 3, dropped: 2, malformed: 0, oversized: 0 });
  });

  test('a frame without its first packet, or without its marker packet, is dropped', () => {
    const d = new Vp8Depacketizer();
    pushFrame(d, KEY, 0);
    const packets = packetizeVp8(INTER, { maxPayload: 100 });
    assert.deepEqual(packets.slice(1).flatMap((p) => d.push(p.payload, 3000, p.marker, false)), [], 'no S=1 PID=0');
    assert.equal(d.needsKeyframe, true);
    pushFrame(d, KEY, 6000);
    // Marker packet missing, and the next frame starts on the same timestamp: the first cannot be whole.
    packets.slice(0, -1).forEach((p) => d.push(p.payload, 9000, false, false));
    assert.deepEqual(packets.flatMap((p) => d.push(p.payload, 9000, p.marker, false)), []);
    assert.equal(d.stats.dropped, 3);
  });

  test('a new timestamp closes a frame whose marker was not set', () => {
    const d = new Vp8Depacketizer();
    packetizeVp8(KEY).forEach((p) => d.push(p.payload, 0, false, false));
    const out = d.push(packetizeVp8(INTER)[0]!.payload, 3000, true, false);
    assert.deepEqual(out.map((f) => f.timestamp), [0, 3000]);
  });

  test('oversized frames are dropped', () => {
    const d = new Vp8Depacketizer({ maxFrameBytes: 5000 });
    assert.deepEqual(pushFrame(d, KEY, 0), []);
    assert.equal(d.stats.oversized, 1);
    const few = new Vp8Depacketizer({ maxPackets: 4 });
    assert.deepEqual(pushFrame(few, KEY, 0, 1000), []);
    assert.equal(few.stats.oversized, 1);
  });

  test('malformed descriptors and frame headers are counted', () => {
    const d = new Vp8Depacketizer();
    assert.deepEqual(d.push(hex('90 80'), 0, true, false), []);
    assert.deepEqual(d.push(hex('10 70 6e'), 3000, true, false), [], 'keyframe header cut short');
    assert.equal(d.stats.malformed, 2);
    assert.equal(d.needsKeyframe, true);
  });

  test('round trip through a reordering, duplicating network and the jitter buffer, across the wrap', () => {
    const frames = Array.from({ length: 60 }, (_, i) => (i % 30 === 0 ? KEY : frame(1 + (i % 2))));
    const rand = rng(5);
    const wire: { packet: SequencedPacket; at: number }[] = [];
    let seq = 65_400;
    for (const [i, f] of frames.entries()) {
      for (const p of packetizeVp8(f, { maxPayload: 300 })) {
        const packet = { sequenceNumber: seq++ & 0xffff, timestamp: (0xffff_f000 + i * 3000) >>> 0, marker: p.marker, payload: p.payload };
        const at = wire.length === 0 ? 0 : 1 + i * 33 + rand() * 20;
        wire.push({ packet, at });
        if (rand() < 0.1) wire.push({ packet, at: at + rand() * 10 });
      }
    }
    wire.sort((a, b) => a.at - b.at);
    const jb = new JitterBuffer({ maxWaitMs: 60, maxPackets: 512 });
    const d = new Vp8Depacketizer();
    const got = [];
    for (const { packet, at } of wire) {
      for (const r of [...jb.poll(at), ...jb.push(packet, at)]) got.push(...d.push(r.packet.payload, r.packet.timestamp, r.packet.marker, r.afterLoss));
    }
    assert.equal(got.length, frames.length);
    got.forEach((f, i) => {
      assert.ok(f.data.equals(frames[i]!), `frame ${i}`);
      assert.equal(f.timestamp, (0xffff_f000 + i * 3000) >>> 0);
    });
    assert.ok(jb.stats.reordered > 20 && jb.stats.duplicates > 10, JSON.stringify(jb.stats));
  });

  test('garbage never throws: random buffers and mutated real packets', () => {
    const rand = rng(9);
    const real = [KEY, INTER, frame(2)].flatMap((f) => packetizeVp8(f, { maxPayload: 200 }).map((p) => p.payload));
    const d = new Vp8Depacketizer({ maxFrameBytes: 32 * 1024 });
    let ts = 0;
    for (let i = 0; i < 30_000; i++) {
      let p: Buffer;
      if (rand() < 0.5) {
        p = Buffer.alloc(Math.floor(rand() * 24));
        for (let j = 0; j < p.length; j++) p[j] = Math.floor(rand() * 256);
      } else {
        p = Buffer.from(real[Math.floor(rand() * real.length)]!);
        for (let k = 0; k < 2; k++) if (p.length > 0) p[Math.floor(rand() * p.length)] = Math.floor(rand() * 256);
      }
      if (rand() < 0.1) ts += 3000;
      for (const f of d.push(p, ts, rand() < 0.2, rand() < 0.05)) assert.ok(f.data.length <= 32 * 1024);
    }
    assert.ok(d.stats.malformed > 100);
  });
});

test('VP8: a keyframe right after a loss is kept; an inter frame after a loss is not', () => {
  const d = new Vp8Depacketizer();
  assert.equal(pushFrame(d, KEY, 0).length, 1);
  const lossy = packetizeVp8(INTER, { maxPayload: 100 });
  assert.ok(lossy.length > 1);
  for (const p of lossy.slice(0, -1)) assert.deepEqual(d.push(p.payload, 3000, p.marker, false), []);
  const after = (f: Buffer, ts: number) => packetizeVp8(f).flatMap((p, i) => d.push(p.payload, ts, p.marker, i === 0));
  assert.deepEqual(after(INTER, 6000), [], 'an inter frame refers to what was lost');
  const [key] = after(KEY, 9000);
  assert.ok(key?.keyframe && key.data.equals(KEY), 'the keyframe came out whole');
  assert.equal(d.needsKeyframe, false);
});
