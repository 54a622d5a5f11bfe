/**
 * SPS parsing and avcC round trips on real x264 output (ffmpeg 5.1 / libx264, see
 * test/fixtures/README.md): `-profile:v {baseline,high}`, one frame, `-f h264`; the 720x576 one with
 * `-x264-params interlaced=1` (field coding: frame_mbs_only_flag = 0).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ParseError } from '../../../gateway/src/core/errors.js';
import { buildAvcC, codecString, isKeyframe, parseAvcC, parseSps } from '../../../gateway/src/codec/h264.js';
import { annexBToLengthPrefixed, convertLengthSize, lengthPrefixedToAnnexB, splitAnnexB, splitLengthPrefixed } from '../../../gateway/src/codec/nal-units.js';

const CASES = [
  { name: 'baseline 320x240', sps: '6742c00dd90141fb011000000300100000030320f142a480', pps: '68cb83cb20', width: 320, height: 240, profile: 66, level: 13, frameMbsOnly: true, codec: 'avc1.42c00d' },
  // 1080 = 68 macroblock rows (1088) cropped by 8 lines.
  { name: 'high 1920x1080 (cropped)', sps: '67640028acd940780227e5c044000003000400000300c83c60c658', pps: '68ebe3cb22c0', width: 1920, height: 1080, profile: 100, level: 40, frameMbsOnly: true, codec: 'avc1.640028' },
  { name: 'high 720x576 interlaced', sps: '6764001eacd940b424d8088000000300800000190f8a14cb', pps: '68fba3cb22c0', width: 720, height: 576, profile: 100, level: 30, frameMbsOnly: false, codec: 'avc1.64001e' },
];

describe('H264 SPS', () => {
  for (const c of CASES) {
    test(c.name, () => {
      const info = parseSps(Buffer.from(c.sps, 'hex'));
      assert.equal(info.width, c.width);
      assert.equal(info.height, c.height);
      assert.equal(info.profileIdc, c.profile);
      assert.equal(info.levelIdc, c.level);
      assert.equal(info.frameMbsOnly, c.frameMbsOnly);
      assert.equal(codecString(info), c.codec);
    });
  }
  test('truncated and garbage SPS throw ParseError', () => {
    const sps = Buffer.from(CASES[1]!.sps, 'hex');
    for (let n = 0; n < 8; n++) assert.throws(() => parseSps(sps.subarray(0, n)), ParseError, `length ${n}`);
    assert.throws(() => parseSps(Buffer.from('68cb83cb20', 'hex')), ParseError, 'a PPS is not an SPS');
    assert.throws(() => parseSps(Buffer.from('6700000000000000', 'hex')), ParseError, 'all-zero Exp-Golomb runs');
  });
});

describe('avcC', () => {
  // The AVC sequence header ffmpeg's FLV muxer wrote for the baseline clip (tag body minus 5 bytes).
  const ffmpegAvcC = Buffer.from('0142c00dffe100186742c00dd90141fb011000000300100000030320f142a48001000568cb83cb20', 'hex');
  test('parses the record ffmpeg writes', () => {
    const c = parseAvcC(ffmpegAvcC);
    assert.equal(c.profile, 66);
    assert.equal(c.level, 13);
    assert.equal(c.lengthSize, 4);
    assert.equal(c.sps[0]!.toString('hex'), CASES[0]!.sps);
    assert.equal(c.pps[0]!.toString('hex'), CASES[0]!.pps);
  });
  test('build → same bytes as ffmpeg (baseline)', () => {
    assert.equal(buildAvcC({ sps: [Buffer.from(CASES[0]!.sps, 'hex')], pps: [Buffer.from(CASES[0]!.pps, 'hex')] }).toString('hex'), ffmpegAvcC.toString('hex'));
  });
  for (const c of CASES) {
    test(`build → parse round trip: ${c.name}`, () => {
      const rec = buildAvcC({ sps: [Buffer.from(c.sps, 'hex')], pps: [Buffer.from(c.pps, 'hex')] });
      const back = parseAvcC(rec);
      assert.equal(back.sps[0]!.toString('hex'), c.sps);
      assert.equal(back.pps[0]!.toString('hex'), c.pps);
      if (c.profile === 100) assert.equal(back.chromaFormat, 1);
    });
  }
  test('truncated records throw ParseError', () => {
    for (let n = 0; n < ffmpegAvcC.length - 1; n++) assert.throws(() => parseAvcC(ffmpegAvcC.subarray(0, n)), ParseError, `length ${n}`);
  });
});

describe('NAL unit framing', () => {
  const annexB = Buffer.from('00000001' + '6742c00d' + '000001' + '68cb83cb20' + '00000001' + '6588840021', 'hex');
  test('Annex B (3- and 4-byte start codes) → length-prefixed → Annex B', () => {
    const nals = splitAnnexB(annexB);
    assert.deepEqual(nals.map((n) => n.toString('hex')), ['6742c00d', '68cb83cb20', '6588840021']);
    const lp = annexBToLengthPrefixed(annexB);
    assert.equal(lp.toString('hex'), '000000046742c00d0000000568cb83cb20000000056588840021');
    assert.equal(lengthPrefixedToAnnexB(lp).toString('hex'), '000000016742c00d0000000168cb83cb20000000016588840021');
    assert.ok(isKeyframe(lp));
    assert.ok(!isKeyframe(Buffer.from('000000024188', 'hex')));
  });
  test('2-byte lengths convert to 4-byte lengths', () => {
    assert.equal(convertLengthSize(Buffer.from('00026742000168', 'hex'), 2).toString('hex'), '000000026742' + '0000000168');
  });
  test('a length running past the end throws ParseError', () => {
    assert.throws(() => splitLengthPrefixed(Buffer.from('000000ff6742', 'hex')), ParseError);
    assert.throws(() => splitLengthPrefixed(Buffer.from('0000', 'hex')), ParseError);
  });
});
