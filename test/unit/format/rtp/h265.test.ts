import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseH265Sps } from '../../../../gateway/src/codec/h265.js';
import { splitLengthPrefixed } from '../../../../gateway/src/codec/nal-units.js';
import { H265Depacketizer, packetizeH265 } from '../../../../gateway/src/format/rtp/h265.js';
import { parseRtp, type RtpPacket } from '../../../../gateway/src/format/rtp/rtp-packet.js';

/**
 * 32 RTP packets ffmpeg 5.1 sent for 1 s of libx265 320x240 at 25 fps, `-pkt_size 600` (one AP with
 * VPS/SPS/PPS, FU runs for the keyframe, single NAL unit packets), captured as [u16 length][packet].
 */
function captured(): RtpPacket[] {
  const b = readFileSync(new URL('../../../fixtures/h265-rtp.bin', import.meta.url));
  const out: RtpPacket[] = [];
  for (let p = 0; p < b.length; ) {
    const len = b.readUInt16BE(p);
    out.push(parseRtp(b.subarray(p + 2, p + 2 + len))!);
    p += 2 + len;
  }
  return out;
}

const nalType = (n: Buffer): number => (n[0]! >> 1) & 0x3f;

test('captured ffmpeg H265 RTP: 25 access units, the first a keyframe with VPS/SPS/PPS of a 320x240 picture', () => {
  const packets = captured();
  assert.equal(packets.length, 32);
  const d = new H265Depacketizer();
  const units = packets.flatMap((p) => d.push(p.payload, p.timestamp, p.marker, false));
  assert.equal(units.length, 25);
  assert.equal(units[0]!.keyframe, true);
  assert.ok(units.slice(1).every((u) => !u.keyframe));
  assert.deepEqual(splitLengthPrefixed(units[0]!.data).map(nalType).slice(0, 3), [32, 33, 34]);
  const sps = parseH265Sps(units[0]!.sps!);
  assert.deepEqual([sps.width, sps.height], [320, 240]);
  assert.equal(units[1]!.timestamp - units[0]!.timestamp, 3600, '25 fps at 90 kHz');
  assert.deepEqual(d.stats, { units: 25, dropped: 0, malformed: 0, oversized: 0 });
});

test('a lost FU fragment drops its picture and everything up to the next keyframe', () => {
  const packets = captured();
  const firstFu = packets.findIndex((p) => nalType(p.payload) === 49);
  const d = new H265Depacketizer();
  const units = packets.filter((_, i) => i !== firstFu + 1).flatMap((p, i) => d.push(p.payload, p.timestamp, p.marker, i === firstFu + 1));
  assert.equal(units.length, 0, 'the only keyframe was damaged: nothing until the next');
  assert.equal(d.needsKeyframe, true);
});

test('packetize then depacketize: single NAL units and FUs (golden FU headers)', () => {
  const idr = Buffer.concat([Buffer.from([0x26, 0x01]), Buffer.alloc(3000, 7)]); // IDR_W_RADL (19)
  const trail = Buffer.from([0x02, 0x01, 1, 2, 3]); // TRAIL_R (1)
  const payloads = packetizeH265([idr], 1200);
  assert.equal(payloads.length, 3);
  assert.deepEqual([...payloads[0]!.payload.subarray(0, 3)], [0x62, 0x01, 0x80 | 19], 'FU indicator type 49, S bit, type 19');
  assert.deepEqual([...payloads[2]!.payload.subarray(0, 3)], [0x62, 0x01, 0x40 | 19], 'E bit on the last');
  assert.equal(payloads[2]!.marker, true);
  const d = new H265Depacketizer();
  const out = [...payloads, ...packetizeH265([trail])].flatMap((p, i) => d.push(p.payload, i < 3 ? 1000 : 4600, p.marker, false));
  assert.equal(out.length, 2);
  assert.deepEqual(splitLengthPrefixed(out[0]!.data), [idr]);
  assert.deepEqual(splitLengthPrefixed(out[1]!.data), [trail]);
});

test('hostile payloads are counted, never thrown: truncated AP sizes, PACI, an FU end without a start', () => {
  const d = new H265Depacketizer();
  const bad = [
    Buffer.from([0x60, 0x01, 0x00, 0x40, 1, 2]), // AP whose NAL size overruns
    Buffer.from([0x64, 0x01, 0, 0, 0]), // PACI (50)
    Buffer.from([0x62, 0x01, 0x40 | 19, 9, 9]), // FU end, no start
    Buffer.from([0x62]), // too short
  ];
  for (const [i, p] of bad.entries()) assert.deepEqual(d.push(p, i * 3600, true, false), []);
  assert.equal(d.stats.malformed, 4);
});
