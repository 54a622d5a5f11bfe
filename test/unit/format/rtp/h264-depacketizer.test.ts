/**
 * RFC 6184 depacketization: hand-built STAP-A / FU-A payloads, loss and keyframe recovery, limits,
 * garbage, and real x264 access units (fixtures/h264-320x240-aud.h264) through packetizeH264 and a
 * reordering, duplicating network with the jitter buffer in front.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { joinLengthPrefixed, splitAnnexB } from '../../../../gateway/src/codec/nal-units.js';
import { H264Depacketizer } from '../../../../gateway/src/format/rtp/h264-depacketizer.js';
import { packetizeH264 } from '../../../../gateway/src/format/rtp/h264.js';
import { JitterBuffer, type SequencedPacket } from '../../../../gateway/src/format/rtp/jitter-buffer.js';
import { rng } from '../../../helpers/random.js';

// x264 baseline 320x240 parameter sets (see test/unit/codec/h264.test.ts).
const SPS = Buffer.from('6742c00dd90141fb011000000300100000030320f142a480', 'hex');
const PPS = Buffer.from('68cb83cb20', 'hex');
const idr = (size: number) => Buffer.concat([Buffer.from([0x65]), Buffer.alloc(size - 1, 0xab)]);
const slice = (size: number) => Buffer.concat([Buffer.from([0x41]), Buffer.alloc(size - 1, 0xcd)]);
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Pushes one access unit's payloads (from packetizeH264) and returns what came out. */
function pushAu(d: H264Depacketizer, nals: Buffer[], ts: number, afterLoss = false) {
  const packets = packetizeH264(nals);
  return packets.flatMap((p, i) => d.push(p.payload, ts, p.marker, afterLoss && i === 0));
}


describe('H264 RTP depacketizer', () => {
  test('golden: STAP-A (SPS+PPS) then a single-NAL IDR with the marker', () => {
    const d = new H264Depacketizer();
    assert.equal(d.needsKeyframe, true);
    const stap = hex('78 0018' + SPS.toString('hex') + '0005' + PPS.toString('hex'));
    assert.deepEqual(d.push(stap, 1000, false, false), []);
    const [au, ...rest] = d.push(hex('65 88 84 21'), 1000, true, false);
    assert.equal(rest.length, 0);
    assert.equal(au!.data.toString('hex'), '00000018' + SPS.toString('hex') + '00000005' + PPS.toString('hex') + '00000004' + '65888421');
    assert.equal(au!.timestamp, 1000);
    assert.equal(au!.keyframe, true);
    assert.equal(au!.sps!.toString('hex'), SPS.toString('hex'));
    assert.equal(au!.pps!.toString('hex'), PPS.toString('hex'));
    assert.equal(au!.sps!.buffer, au!.data.buffer, 'SPS is a view into the unit');
    assert.equal(d.needsKeyframe, false);
    assert.deepEqual(d.stats, { units: 1, dropped: 0, malformed: 0, oversized: 0 });
  });

  test('golden: FU-A start / middle / end rebuild the NAL header from indicator and FU header', () => {
    const d = new H264Depacketizer();
    assert.deepEqual(d.push(hex('7c 85 0102'), 9, false, false), []);
    assert.deepEqual(d.push(hex('7c 05 0304'), 9, false, false), []);
    const [au] = d.push(hex('7c 45 05'), 9, true, false);
    // F=0, NRI=3 from 0x7c; type 5 from 0x85 → header 0x65.
    assert.equal(au!.data.toString('hex'), '00000006' + '650102030405');
    assert.equal(au!.keyframe, true);
  });

  test('AUD (9) and filler (12) NAL units are removed', () => {
    const d = new H264Depacketizer();
    d.push(hex('09 f0'), 5, false, false);
    d.push(hex('65 aa'), 5, false, false);
    const [au] = d.push(hex('0c ffff ff80'), 5, true, false);
    assert.equal(au!.data.toString('hex'), '00000002' + '65aa');
  });

  test('a timestamp change closes the open unit when the marker was not sent', () => {
    const d = new H264Depacketizer();
    assert.deepEqual(d.push(hex('65 01'), 100, false, false), []);
    const out = d.push(hex('41 02'), 200, false, false);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.timestamp, 100);
    const [p] = d.push(hex('41 03'), 200, true, false);
    assert.equal(p!.data.toString('hex'), '00000002410200000002' + '4103');
    assert.equal(p!.keyframe, false);
  });

  test('before the first keyframe, inter frames are dropped', () => {
    const d = new H264Depacketizer();
    assert.deepEqual(pushAu(d, [slice(500)], 0), []);
    assert.deepEqual(pushAu(d, [slice(3000)], 3000), []);
    assert.equal(d.needsKeyframe, true);
    assert.equal(d.stats.dropped, 2);
    assert.equal(pushAu(d, [SPS, PPS, idr(4000)], 6000).length, 1);
    assert.equal(d.needsKeyframe, false);
    assert.equal(pushAu(d, [slice(500)], 9000).length, 1);
  });

  test('loss: the damaged unit and later inter frames are dropped until a keyframe', () => {
    const d = new H264Depacketizer();
    pushAu(d, [SPS, PPS, idr(4000)], 0);
    assert.equal(pushAu(d, [slice(500)], 3000).length, 1);
    // The first packets of this unit never arrived: the jitter buffer flags the next one.
    const frags = packetizeH264([slice(5000)]);
    const out = frags.slice(2).flatMap((p, i) => d.push(p.payload, 6000, p.marker, i === 0));
    assert.deepEqual(out, []);
    assert.equal(d.needsKeyframe, true);
    assert.deepEqual(pushAu(d, [slice(500)], 9000), [], 'refers to the lost picture');
    const [key] = pushAu(d, [idr(3000)], 12000);
    assert.equal(key!.keyframe, true);
    assert.equal(d.needsKeyframe, false);
    assert.equal(pushAu(d, [slice(500)], 15000).length, 1);
    assert.equal(d.stats.dropped, 2);
    assert.equal(d.stats.units, 4);
  });

  test('loss flagged on the next unit also drops the open one (its tail may be what was lost)', () => {
    const d = new H264Depacketizer();
    pushAu(d, [SPS, PPS, idr(100)], 0);
    d.push(hex('41 01'), 3000, false, false); // marker packet of this unit lost
    assert.deepEqual(d.push(hex('65 02'), 6000, true, true), [], 'a keyframe may have lost its start too');
    assert.equal(d.stats.dropped, 2);
    assert.equal(d.needsKeyframe, true);
  });

  test('a loss before a padding packet applies to the next packet with media', () => {
    const d = new H264Depacketizer();
    pushAu(d, [idr(100)], 0);
    assert.deepEqual(d.push(Buffer.alloc(0), 0, false, true), []);
    assert.deepEqual(d.push(hex('41 01'), 3000, true, false), []);
    assert.equal(d.needsKeyframe, true);
  });

  test('FU-A without its start, or without its end, drops the unit', () => {
    const d = new H264Depacketizer();
    pushAu(d, [idr(100)], 0);
    assert.deepEqual(d.push(hex('7c 05 0102'), 3000, false, false), []);
    assert.deepEqual(d.push(hex('7c 45 0304'), 3000, true, false), []);
    assert.equal(d.stats.malformed, 1);
    assert.equal(d.needsKeyframe, true);
    pushAu(d, [idr(100)], 6000);
    d.push(hex('7c 85 0102'), 9000, false, false);
    // The next unit closes the broken one; being a complete keyframe itself, it is kept.
    assert.equal(d.push(hex('65 01'), 12000, true, false).length, 1);
    assert.equal(d.stats.malformed, 2);
    assert.equal(d.stats.units, 3);
    // A FU-A start while another is open, and a single NAL inside a FU-A run, are broken runs too.
    d.push(hex('7c 85 01'), 15000, false, false);
    d.push(hex('7c 85 02'), 15000, true, false);
    d.push(hex('7c 85 01'), 18000, false, false);
    d.push(hex('65 02'), 18000, true, false);
    assert.equal(d.stats.malformed, 4);
    assert.equal(d.stats.units, 3);
  });

  test('truncated STAP-A sizes, zero sizes, nested aggregation and mode-2 types are malformed', () => {
    for (const bad of [
      '78 0018 6742c0', // size overruns the packet
      '78 0002 6742 00', // a lone byte where a size should be
      '78 0000 6742', // zero size
      '78', // nothing aggregated
      '78 0002 7801', // STAP-A inside STAP-A
      '79 0000 0002 6501', // STAP-B (25)
      '7a 0000 00 0002 00 6501', // MTAP16 (26)
      '7b 0000 00 0002 000000 6501', // MTAP24 (27)
      '7d 85 0000 01', // FU-B (29)
      '7c 80 01', // FU-A of type 0
      '7c 85', // FU-A with no fragment
      '00 01', // NAL type 0
      '1e 01', // NAL type 30
    ]) {
      const d = new H264Depacketizer();
      assert.deepEqual(d.push(hex(bad), 0, true, false), [], bad);
      assert.equal(d.stats.malformed, 1, bad);
      assert.equal(d.stats.dropped, 1, bad);
    }
  });

  test('oversized units are dropped without keeping their data', () => {
    const d = new H264Depacketizer({ maxUnitBytes: 10_000 });
    pushAu(d, [idr(100)], 0);
    assert.deepEqual(pushAu(d, [idr(20_000)], 3000), []);
    assert.equal(d.stats.oversized, 1);
    assert.equal(d.needsKeyframe, true);
    assert.equal(pushAu(d, [idr(9000)], 6000).length, 1);
    const few = new H264Depacketizer({ maxNalUnits: 4 });
    assert.deepEqual(pushAu(few, [idr(10), idr(10), idr(10), idr(10), idr(10)], 0), []);
    assert.equal(few.stats.oversized, 1);
    assert.equal(pushAu(few, [idr(10), idr(10), idr(10), idr(10)], 3000).length, 1);
  });

  test('parameter sets sent as a unit of their own are carried into the next keyframe', () => {
    const d = new H264Depacketizer();
    assert.deepEqual(d.push(SPS, 0, false, false), []);
    assert.deepEqual(d.push(PPS, 0, true, false), []);
    const [au] = d.push(idr(50), 3000, true, false);
    assert.equal(au!.data.toString('hex'), joinLengthPrefixed([SPS, PPS, idr(50)]).toString('hex'));
    assert.equal(au!.sps!.toString('hex'), SPS.toString('hex'));
  });

  test('empty payloads are ignored', () => {
    const d = new H264Depacketizer();
    d.push(hex('65 01'), 0, false, false);
    assert.deepEqual(d.push(Buffer.alloc(0), 0, true, false), []);
    assert.equal(d.push(hex('65 02'), 0, true, false).length, 1);
  });

  test('round trip: real x264 access units → packetizeH264 → lossy, reordering network → jitter buffer → same units', () => {
    const aus = fixtureAccessUnits();
    const rand = rng(3);
    const wire: { packet: SequencedPacket; at: number }[] = [];
    let seq = 65_500; // wraps within the first keyframe
    for (const [i, au] of aus.entries()) {
      for (const p of packetizeH264(au.nals, { maxPayload: 100 })) {
        const packet = { sequenceNumber: seq++ & 0xffff, timestamp: (1234 + i * 3600) >>> 0, marker: p.marker, payload: p.payload };
        // The first packet starts the sequence, so it must come first; the rest are jittered.
        const at = wire.length === 0 ? 0 : 1 + i * 40 + rand() * 15;
        wire.push({ packet, at });
        if (rand() < 0.1) wire.push({ packet, at: at + rand() * 10 });
      }
    }
    wire.sort((a, b) => a.at - b.at);
    const jb = new JitterBuffer({ maxWaitMs: 50, maxPackets: 512 });
    const d = new H264Depacketizer();
    const got = [];
    for (const { packet, at } of wire) {
      for (const r of [...jb.poll(at), ...jb.push(packet, at)]) got.push(...d.push(r.packet.payload, r.packet.timestamp, r.packet.marker, r.afterLoss));
    }
    assert.equal(got.length, aus.length);
    assert.ok(jb.stats.reordered > 50 && jb.stats.duplicates > 10, JSON.stringify(jb.stats));
    for (const [i, au] of got.entries()) {
      assert.equal(au.data.toString('hex'), joinLengthPrefixed(aus[i]!.nals).toString('hex'), `unit ${i}`);
      assert.equal(au.keyframe, aus[i]!.keyframe);
      assert.equal(au.timestamp, 1234 + i * 3600);
    }
    const fixtureSps = aus[0]!.nals.find((n) => (n[0]! & 0x1f) === 7)!;
    assert.equal(got[0]!.sps!.toString('hex'), fixtureSps.toString('hex'));
    assert.ok(got[25]!.keyframe && got[25]!.sps, 'second keyframe, with its own SPS');
    assert.deepEqual(d.stats, { units: 50, dropped: 0, malformed: 0, oversized: 0 });
  });

  test('garbage never throws: random buffers and random mutations of real packets', () => {
    const rand = rng(11);
    const real = fixtureAccessUnits().flatMap((au) => packetizeH264(au.nals, { maxPayload: 100 }).map((p) => p.payload));
    const d = new H264Depacketizer({ maxUnitBytes: 64 * 1024 });
    let ts = 0;
    for (let i = 0; i < 30_000; i++) {
      let p: Buffer;
      if (rand() < 0.5) {
        p = Buffer.alloc(Math.floor(rand() * 40));
        for (let j = 0; j < p.length; j++) p[j] = Math.floor(rand() * 256);
      } else {
        p = Buffer.from(real[Math.floor(rand() * real.length)]!);
        for (let k = 0; k < 3; k++) if (p.length > 0) p[Math.floor(rand() * p.length)] = Math.floor(rand() * 256);
      }
      if (rand() < 0.1) ts += 3000;
      for (const au of d.push(p, ts, rand() < 0.2, rand() < 0.05)) {
        assert.ok(au.data.length <= 64 * 1024);
        let pos = 0;
        while (pos < au.data.length) pos += 4 + au.data.readUInt32BE(pos);
        assert.equal(pos, au.data.length, 'well-formed length prefixes');
      }
    }
    assert.ok(d.stats.malformed > 1000);
  });

  test('a keyframe right after a loss is kept; a delta frame after it is not, until a keyframe', () => {
    const d = new H264Depacketizer();
    assert.equal(pushAu(d, [SPS, PPS, idr(3000)], 0).length, 1);
    // The next unit loses its last packet: nothing of it comes out.
    const lossy = packetizeH264([slice(3000)]);
    assert.ok(lossy.length > 1);
    for (const p of lossy.slice(0, -1)) assert.deepEqual(d.push(p.payload, 3000, p.marker, false), []);
    // A delta frame that starts cleanly after the loss still refers to the lost one: dropped.
    assert.deepEqual(pushAu(d, [slice(500)], 6000, true), []);
    assert.equal(d.needsKeyframe, true);
    // The keyframe asked for, first packet flagged "after loss": kept, whole.
    const [key] = pushAu(d, [SPS, PPS, idr(3000)], 9000, true);
    assert.ok(key?.keyframe, 'the keyframe came out');
    assert.ok(key!.data.equals(joinLengthPrefixed([SPS, PPS, idr(3000)])));
    assert.equal(d.needsKeyframe, false);
    // A keyframe whose first packets were lost (it starts mid-slice) is not.
    const parts = packetizeH264([idr(5000)]);
    const tail = parts.slice(2);
    assert.deepEqual(tail.flatMap((p, i) => d.push(p.payload, 12000, p.marker, i === 0)), []);
  });
});

/** The 50 access units of fixtures/h264-320x240-aud.h264 (x264, AUD on), AUDs removed. */
function fixtureAccessUnits(): { nals: Buffer[]; keyframe: boolean }[] {
  const file = readFileSync(new URL('../../../fixtures/h264-320x240-aud.h264', import.meta.url));
  const aus: { nals: Buffer[]; keyframe: boolean }[] = [];
  for (const nal of splitAnnexB(file)) {
    const type = nal[0]! & 0x1f;
    if (type === 9) aus.push({ nals: [], keyframe: false });
    else {
      aus[aus.length - 1]!.nals.push(nal);
      if (type === 5) aus[aus.length - 1]!.keyframe = true;
    }
  }
  return aus;
}
