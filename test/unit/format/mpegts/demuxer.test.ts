/**
 * MPEG-TS demux of real ffmpeg 5.1 output (see test/fixtures/README.md): H264 + AAC, and Opus with
 * its registration descriptor; any chunking; garbage and a lost packet cost only what they touch.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { splitAdts } from '../../../../gateway/src/codec/aac.js';
import { splitAnnexB } from '../../../../gateway/src/codec/nal-units.js';
import { TS_PACKET_SIZE, TsDemuxer, type TsAccessUnit, type TsTrackInfo } from '../../../../gateway/src/format/mpegts/demuxer.js';

const H264_AAC = readFileSync(new URL('../../../fixtures/h264-aac.m2t', import.meta.url));
const OPUS = readFileSync(new URL('../../../fixtures/opus.m2t', import.meta.url));

function demux(data: Buffer, step = data.length) {
  const units: TsAccessUnit[] = [];
  const warnings: string[] = [];
  let tracks: TsTrackInfo[] = [];
  const d = new TsDemuxer({ tracks: (t) => (tracks = t), unit: (u) => units.push(u), warning: (w) => warnings.push(w) });
  for (let i = 0; i < data.length; i += step) d.push(data.subarray(i, i + step));
  d.flush();
  return { units, warnings, tracks };
}

describe('MPEG-TS demuxer', () => {
  test('H264 + AAC: tracks, 50 video access units with keyframes at 0 and 25, PTS every 40 ms, ADTS audio', () => {
    const { units, warnings, tracks } = demux(H264_AAC);
    assert.deepEqual(warnings, []);
    assert.deepEqual(tracks.map((t) => t.codec).sort(), ['aac', 'h264']);
    const video = units.filter((u) => u.codec === 'h264');
    assert.equal(video.length, 50);
    const keys = video.map((u, i) => (splitAnnexB(u.data).some((n) => (n[0]! & 0x1f) === 5) ? i : -1)).filter((i) => i >= 0);
    assert.deepEqual(keys, [0, 25]);
    assert.ok(video[0]!.randomAccess);
    for (let i = 1; i < video.length; i++) assert.equal(video[i]!.pts! - video[i - 1]!.pts!, 3600, `video PTS step at ${i}`);
    const audio = units.filter((u) => u.codec === 'aac');
    const frames = audio.flatMap((u) => splitAdts(u.data));
    assert.ok(frames.length >= 90 && frames.length <= 96, `${frames.length} AAC frames in 2 s`);
    assert.equal(frames[0]!.header.sampleRate, 48000);
  });

  test('the same units whatever the chunking', () => {
    const whole = demux(H264_AAC).units.map((u) => `${u.pid}:${u.pts}:${u.data.length}`);
    for (const step of [1, 7, 188, 1000]) assert.deepEqual(demux(H264_AAC, step).units.map((u) => `${u.pid}:${u.pts}:${u.data.length}`), whole, `step ${step}`);
  });

  test('Opus in TS is recognised by its registration descriptor', () => {
    const { units, tracks } = demux(OPUS);
    assert.deepEqual(tracks.map((t) => [t.streamType, t.codec]), [[6, 'opus']]);
    assert.ok(units.length > 0 && units.every((u) => u.codec === 'opus'));
  });

  test('garbage between packets: resync, nothing else lost', () => {
    const cut = TS_PACKET_SIZE * 40;
    const noisy = Buffer.concat([H264_AAC.subarray(0, cut), Buffer.from('deadbeef47474747', 'hex'), H264_AAC.subarray(cut)]);
    const { units, warnings } = demux(noisy, 1000);
    assert.ok(warnings.some((w) => /sync/.test(w)));
    assert.equal(units.length, demux(H264_AAC).units.length);
  });

  test('a lost packet drops only the PES it belonged to, flagged as a discontinuity after it', () => {
    const all = demux(H264_AAC).units;
    // Drop one packet from the middle of a video PES (PID 256/257, not a PES start).
    let idx = 100;
    const pidOf = (i: number) => ((H264_AAC[i * TS_PACKET_SIZE + 1]! & 0x1f) << 8) | H264_AAC[i * TS_PACKET_SIZE + 2]!;
    const pusiOf = (i: number) => (H264_AAC[i * TS_PACKET_SIZE + 1]! & 0x40) !== 0;
    while (pidOf(idx) !== 256 || pusiOf(idx)) idx++;
    const lost = Buffer.concat([H264_AAC.subarray(0, TS_PACKET_SIZE * idx), H264_AAC.subarray(TS_PACKET_SIZE * (idx + 1))]);
    const { units, warnings } = demux(lost);
    assert.ok(warnings.some((w) => /continuity/.test(w)), warnings.join('; '));
    assert.ok(units.length >= all.length - 2 && units.length < all.length, `${units.length} of ${all.length}`);
    assert.ok(units.some((u) => u.discontinuity));
  });

  test('random bytes never throw', () => {
    let seed = 3;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 50; i++) {
      const junk = Buffer.from(Array.from({ length: 188 * 20 }, rand));
      for (let j = 0; j < junk.length; j += 188) junk[j] = 0x47; // aligned, plausible-looking packets
      demux(junk);
    }
  });
});
