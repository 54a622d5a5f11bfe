/**
 * FLV header, tags and tag bodies. Golden bytes: the first 720 bytes of an FLV file ffmpeg 5.1 wrote
 * (`-f lavfi testsrc2=320x240 + sine 44.1 kHz, libx264 baseline + aac stereo, -fflags +bitexact
 * -f flv`): header, onMetaData, AVC and AAC sequence headers, first AAC frame.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { LimitError, ParseError } from '../../../gateway/src/core/errors.js';
import { decodeAmf0 } from '../../../gateway/src/format/amf0.js';
import {
  FlvDemuxer,
  buildAudioBody,
  buildFlvHeader,
  buildFlvTag,
  buildVideoBody,
  parseAudioBody,
  parseVideoBody,
} from '../../../gateway/src/format/flv/index.js';

const FILE = readFileSync(new URL('../../fixtures/ffmpeg-head.flv', import.meta.url));

describe('FLV demux of real ffmpeg output', () => {
  test('tags, in any chunking, and their bodies', () => {
    for (const step of [FILE.length, 1, 7, 100]) {
      const d = new FlvDemuxer();
      const tags = [];
      for (let i = 0; i < FILE.length; i += step) tags.push(...d.push(FILE.subarray(i, i + step)));
      assert.deepEqual(d.header, { version: 1, audio: true, video: true, headerSize: 9 });
      assert.deepEqual(tags.map((t) => [t.type, t.timestamp, t.body.length]), [
        [18, 0, 268],
        [9, 0, 45],
        [8, 0, 7],
        [8, 0, 327],
      ]);
      const meta = decodeAmf0(tags[0]!.body);
      assert.equal(meta[0], 'onMetaData');
      assert.equal((meta[1] as Record<string, unknown>).width, 320);
      const avc = parseVideoBody(tags[1]!.body);
      assert.deepEqual([avc.codec, avc.frameType, avc.packetType, avc.enhanced], ['h264', 1, 'sequence-start', false]);
      assert.equal(avc.data.toString('hex'), '0142c00dffe100186742c00dd90141fb011000000300100000030320f142a48001000568cb83cb20');
      const asc = parseAudioBody(tags[2]!.body);
      assert.deepEqual([asc.codec, asc.packetType, asc.data.toString('hex')], ['aac', 'sequence-start', '121056e500']);
      assert.equal(parseAudioBody(tags[3]!.body).packetType, 'coded-frames');
    }
  });

  test('mux: header and tags rebuild the same bytes', () => {
    const d = new FlvDemuxer();
    const tags = d.push(FILE);
    const rebuilt = Buffer.concat([buildFlvHeader({ audio: true, video: true }), ...tags.map((t) => buildFlvTag(t.type, t.timestamp, t.body))]);
    assert.ok(rebuilt.equals(FILE));
    // Bodies rebuilt from their parsed fields are byte-identical too.
    assert.ok(buildVideoBody({ codec: 'h264', packetType: 'sequence-start', keyframe: true, compositionTimeMs: 0, data: parseVideoBody(tags[1]!.body).data }).equals(tags[1]!.body));
    assert.ok(buildAudioBody({ codec: 'aac', packetType: 'sequence-start', data: parseAudioBody(tags[2]!.body).data, sampleRate: 44100, channels: 2 }).equals(tags[2]!.body));
    assert.ok(buildAudioBody({ codec: 'aac', packetType: 'coded-frames', data: parseAudioBody(tags[3]!.body).data, sampleRate: 44100, channels: 2 }).equals(tags[3]!.body));
  });

  test('extended timestamps (above 2^24 ms) survive mux and demux', () => {
    const tag = buildFlvTag(9, 0x12345678, Buffer.from('2701000000', 'hex'));
    assert.equal(tag.subarray(4, 8).toString('hex'), '34567812');
    const d = new FlvDemuxer();
    const [t] = d.push(Buffer.concat([buildFlvHeader({ audio: false, video: true }), tag]));
    assert.equal(t!.timestamp, 0x12345678);
  });

  test('limits and malformed input', () => {
    assert.throws(() => new FlvDemuxer().push(Buffer.from('464c5801050000000900000000', 'hex')), ParseError, 'bad signature');
    const big = Buffer.concat([buildFlvHeader({ audio: true, video: true }), Buffer.from('09ffffff00000000000000', 'hex')]);
    assert.throws(() => new FlvDemuxer({ maxTagSize: 1024 }).push(big), LimitError);
    const bad = Buffer.concat([buildFlvHeader({ audio: true, video: true }), Buffer.from('0900000100000000000000aa00000099', 'hex')]);
    assert.throws(() => new FlvDemuxer().push(bad), ParseError, 'PreviousTagSize mismatch');
  });
});

describe('Enhanced RTMP video bodies', () => {
  const hvcC = Buffer.from('01016000000090000000000078f000fcfdf8f800000f', 'hex');
  const ROWS = [
    // [name, bytes, codec, frameType, packetType, cts, data]
    ['hvc1 SequenceStart', '9068766331' + hvcC.toString('hex'), 'h265', 1, 'sequence-start', 0, hvcC.toString('hex')],
    ['hvc1 CodedFrames with CTS 40', '91687663310000280000000126', 'h265', 1, 'coded-frames', 40, '0000000126'],
    ['hvc1 CodedFramesX inter', 'a3687663310000000102', 'h265', 2, 'coded-frames', 0, '0000000102'],
    ['hvc1 negative CTS', '9168766331ffffd8aa', 'h265', 1, 'coded-frames', -40, 'aa'],
    ['av01 CodedFrames (no CTS)', '9161763031' + '0a0b', 'av1', 1, 'coded-frames', 0, '0a0b'],
    ['vp09 SequenceStart', '9076703039' + '01', 'vp9', 1, 'sequence-start', 0, '01'],
    ['avc1 via ExHeader', 'a1617663310000000000000141', 'h264', 2, 'coded-frames', 0, '0000000141'],
    ['legacy HEVC id 12', '1c01000000' + '00000001', 'h265', 1, 'coded-frames', 0, '00000001'],
  ] as const;
  for (const [name, hex, codec, frameType, packetType, cts, data] of ROWS) {
    test(name, () => {
      const v = parseVideoBody(Buffer.from(hex, 'hex'));
      assert.deepEqual([v.codec, v.frameType, v.packetType, v.compositionTimeMs, v.data.toString('hex')], [codec, frameType, packetType, cts, data]);
    });
  }
  test('build chooses CodedFramesX for HEVC with CTS 0 and CodedFrames otherwise', () => {
    const data = Buffer.from('0000000126', 'hex');
    assert.equal(buildVideoBody({ codec: 'h265', packetType: 'coded-frames', keyframe: false, compositionTimeMs: 0, data }).toString('hex'), 'a368766331' + '0000000126');
    assert.equal(buildVideoBody({ codec: 'h265', packetType: 'coded-frames', keyframe: true, compositionTimeMs: 40, data }).toString('hex'), '9168766331000028' + '0000000126');
    assert.equal(buildVideoBody({ codec: 'h265', packetType: 'sequence-start', keyframe: true, compositionTimeMs: 0, data: hvcC }).toString('hex'), '9068766331' + hvcC.toString('hex'));
  });
  test('ModEx prefix is skipped; command frames and multitrack do not crash', () => {
    // ModEx (packet type 7): size-1 = 0, one byte of data, then [modExType|packetType=3].
    const modex = parseVideoBody(Buffer.from('97' + '00' + 'ff' + '03' + '68766331' + 'aa', 'hex'));
    assert.deepEqual([modex.codec, modex.packetType, modex.data.toString('hex')], ['h265', 'coded-frames', 'aa']);
    assert.equal(parseVideoBody(Buffer.from('96', 'hex')).packetType, 'multitrack');
    assert.equal(parseVideoBody(Buffer.from('5701', 'hex')).command, 1);
  });
  test('truncated bodies throw ParseError', () => {
    for (const hex of ['', '17', '170000', '91', '916876', '9168766331', '97']) {
      assert.throws(() => parseVideoBody(Buffer.from(hex, 'hex')), ParseError, hex);
    }
  });
});

describe('Enhanced RTMP audio bodies', () => {
  test('Opus sequence start and frames round trip', () => {
    const head = Buffer.from('4f707573486561640102380180bb0000000000', 'hex');
    const seq = buildAudioBody({ codec: 'opus', packetType: 'sequence-start', data: head, sampleRate: 48000, channels: 2 });
    assert.equal(seq.toString('hex'), '904f707573' + head.toString('hex'));
    const a = parseAudioBody(seq);
    assert.deepEqual([a.codec, a.packetType, a.enhanced, a.data.equals(head)], ['opus', 'sequence-start', true, true]);
    const f = parseAudioBody(buildAudioBody({ codec: 'opus', packetType: 'coded-frames', data: Buffer.from('fc', 'hex'), sampleRate: 48000, channels: 2 }));
    assert.deepEqual([f.codec, f.packetType, f.data.toString('hex')], ['opus', 'coded-frames', 'fc']);
  });
  test('other FourCCs pass as known codecs; MP3 legacy', () => {
    assert.equal(parseAudioBody(Buffer.from('91664c614300', 'hex')).codec, 'flac');
    assert.equal(parseAudioBody(Buffer.from('9165632d3300', 'hex')).codec, 'eac3');
    const mp3 = parseAudioBody(Buffer.from('2fff', 'hex'));
    assert.deepEqual([mp3.codec, mp3.soundRate, mp3.stereo], ['mp3', 3, true]);
    assert.throws(() => parseAudioBody(Buffer.from('90', 'hex')), ParseError);
    assert.throws(() => parseAudioBody(Buffer.from('af', 'hex')), ParseError);
  });
});
