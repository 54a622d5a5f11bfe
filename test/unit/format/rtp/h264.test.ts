/** RFC 6184 packetization: golden headers, size limits and a round trip on real x264 NAL units. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ParseError } from '../../../../gateway/src/core/errors.js';
import { depacketizeH264, packetizeH264 } from '../../../../gateway/src/format/rtp/h264.js';

// x264 baseline 320x240 parameter sets (see test/unit/codec/h264.test.ts).
const SPS = Buffer.from('6742c00dd90141fb011000000300100000030320f142a480', 'hex');
const PPS = Buffer.from('68cb83cb20', 'hex');
const idr = (size: number) => Buffer.concat([Buffer.from([0x65]), Buffer.alloc(size - 1, 0xab)]);
const slice = (size: number) => Buffer.concat([Buffer.from([0x41]), Buffer.alloc(size - 1, 0xcd)]);

describe('H264 RTP packetizer', () => {
  test('keyframe: STAP-A with SPS+PPS, then FU-A fragments ≤ 1200 bytes, marker on the last', () => {
    const packets = packetizeH264([Buffer.from('0910', 'hex'), idr(3000)], { sps: SPS, pps: PPS });
    const stap = packets[0]!.payload;
    assert.equal(stap.toString('hex'), '78' + '0018' + SPS.toString('hex') + '0005' + PPS.toString('hex'));
    const fus = packets.slice(1);
    assert.equal(fus.length, Math.ceil(2999 / 1198));
    assert.deepEqual(fus.map((p) => p.payload.subarray(0, 2).toString('hex')), ['7c85', '7c05', '7c45']);
    assert.ok(packets.every((p) => p.payload.length <= 1200));
    assert.deepEqual(packets.map((p) => p.marker), [false, false, false, true]);
  });
  test('inter frame that fits: one single-NAL packet with the marker', () => {
    const packets = packetizeH264([slice(800)]);
    assert.equal(packets.length, 1);
    assert.equal(packets[0]!.payload[0], 0x41);
    assert.equal(packets[0]!.marker, true);
  });
  test('parameter sets in the access unit are used as they are', () => {
    const packets = packetizeH264([SPS, PPS, idr(100)], { sps: Buffer.from('67ff', 'hex'), pps: PPS });
    assert.equal(packets.length, 2);
    assert.equal(packets[0]!.payload.readUInt16BE(1), SPS.length);
  });
  test('round trip: packetize → depacketize gives the same NAL units', () => {
    for (const size of [1, 2, 1199, 1200, 1201, 2396, 2397, 50_000]) {
      const nals = [SPS, PPS, idr(size + 1)];
      const back = depacketizeH264(packetizeH264(nals).map((p) => p.payload));
      assert.deepEqual(back.map((n) => n.toString('hex')), nals.map((n) => n.toString('hex')), `size ${size}`);
    }
  });
  test('broken input throws ParseError', () => {
    const frags = packetizeH264([idr(5000)]).map((p) => p.payload);
    assert.throws(() => depacketizeH264(frags.slice(1)), ParseError, 'no start');
    assert.throws(() => depacketizeH264(frags.slice(0, -1)), ParseError, 'no end');
    assert.throws(() => depacketizeH264([Buffer.from('78ffff67', 'hex')]), ParseError, 'STAP-A overrun');
    assert.throws(() => depacketizeH264([Buffer.from('7d00', 'hex')]), ParseError, 'FU-B');
    assert.throws(() => depacketizeH264([Buffer.alloc(0)]), ParseError);
  });
});
