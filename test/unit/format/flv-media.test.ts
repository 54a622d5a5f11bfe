/**
 * FlvToUnits: what an RTMP publisher's tags become, and what is dropped instead of ending the session.
 * The sequence headers are ffmpeg's own (test/fixtures/ffmpeg-head.flv); the empty AudioSpecificConfig
 * is what ffmpeg 5.1 sends first when it relays MPEG-TS or ADTS input with `-c copy`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import type { MediaUnit, Track } from '../../../gateway/src/core/media-unit.js';
import { FlvDemuxer, buildAudioBody, buildVideoBody } from '../../../gateway/src/format/flv/index.js';
import { FlvToUnits, flvOmits, type IgnoredKind } from '../../../gateway/src/format/flv-media.js';
import { buildOpusHead } from '../../../gateway/src/codec/opus.js';

const TAGS = new FlvDemuxer().push(readFileSync(new URL('../../fixtures/ffmpeg-head.flv', import.meta.url)));
const AVC_SEQ = TAGS[1]!.body;
const AAC_SEQ = TAGS[2]!.body;
const AAC_FRAME = TAGS[3]!.body;

function harness() {
  const out = { tracks: [] as Track[], units: [] as MediaUnit[], ignored: [] as [string, IgnoredKind][], usable: [] as IgnoredKind[] };
  const flv = new FlvToUnits({
    track: (t) => out.tracks.push(t),
    unit: (u) => out.units.push(u),
    ignored: (reason, kind) => out.ignored.push([reason, kind]),
    usable: (kind) => out.usable.push(kind),
  });
  return { flv, out };
}

const aacSeq = (asc: Buffer) => buildAudioBody({ codec: 'aac', packetType: 'sequence-start', data: asc, sampleRate: 44100, channels: 2 });
const keyframe = buildVideoBody({ codec: 'h264', packetType: 'coded-frames', keyframe: true, compositionTimeMs: 0, data: Buffer.from('0000000265880000', 'hex') });

describe('FlvToUnits', () => {
  test('an empty AudioSpecificConfig (ffmpeg relaying TS/ADTS with -c copy) is dropped; the real one that follows makes the track', () => {
    const { flv, out } = harness();
    flv.pushVideo(0, AVC_SEQ, 0);
    flv.pushAudio(0, aacSeq(Buffer.alloc(0)), 0);
    flv.pushAudio(0, AAC_FRAME, 0);
    assert.deepEqual(out.tracks.map((t) => t.codec), ['h264'], 'no audio track from an empty config');
    assert.deepEqual(out.ignored.map(([, k]) => k), ['audio-config', 'audio-config'], 'the header and the frame before a usable one');
    assert.match(out.ignored[0]![0], /shorter than 2 bytes/);
    flv.pushAudio(23, AAC_SEQ, 0);
    flv.pushAudio(23, AAC_FRAME, 0);
    assert.deepEqual(out.tracks.map((t) => t.codec), ['h264', 'aac']);
    assert.equal(out.tracks[1]!.kind === 'audio' && out.tracks[1]!.sampleRate, 44100);
    assert.deepEqual(out.usable, ['audio-config']);
    assert.equal(out.units.length, 1);
  });

  test('a usable config is kept when a broken one follows', () => {
    const { flv, out } = harness();
    flv.pushAudio(0, AAC_SEQ, 0);
    flv.pushAudio(10, aacSeq(Buffer.from([0x17])), 0);
    flv.pushAudio(20, AAC_FRAME, 0);
    assert.equal(out.tracks.length, 1);
    assert.equal(out.units.length, 1, 'frames keep flowing on the usable config');
    assert.deepEqual(out.ignored.map(([, k]) => k), ['audio-config']);
  });

  test('a malformed or empty avcC is dropped; frames wait for a usable one', () => {
    const { flv, out } = harness();
    flv.pushVideo(0, buildVideoBody({ codec: 'h264', packetType: 'sequence-start', keyframe: true, compositionTimeMs: 0, data: Buffer.from([1, 0x42]) }), 0);
    flv.pushVideo(0, buildVideoBody({ codec: 'h264', packetType: 'sequence-start', keyframe: true, compositionTimeMs: 0, data: Buffer.alloc(0) }), 0);
    flv.pushVideo(0, keyframe, 0);
    assert.equal(out.tracks.length, 0);
    assert.deepEqual(out.ignored.map(([, k]) => k), ['video-config', 'video-config', 'video-config']);
    flv.pushVideo(33, AVC_SEQ, 0);
    flv.pushVideo(33, keyframe, 0);
    assert.deepEqual(out.usable, ['video-config']);
    assert.equal(out.units.length, 1);
  });

  test('an Opus sequence header that is not an OpusHead is dropped; a real one gives 48 kHz and its channels', () => {
    const { flv, out } = harness();
    const opusSeq = (head: Buffer) => buildAudioBody({ codec: 'opus', packetType: 'sequence-start', data: head, sampleRate: 48000, channels: 2 });
    flv.pushAudio(0, opusSeq(Buffer.from('OpusHea')), 0);
    assert.equal(out.tracks.length, 0);
    flv.pushAudio(0, opusSeq(buildOpusHead(2)), 0);
    assert.deepEqual(out.tracks.map((t) => t.kind === 'audio' && [t.codec, t.sampleRate, t.channels]), [['opus', 48000, 2]]);
  });

  test('MP3: the track takes rate and channels from the frame header, not from FLV\'s 2-bit rate', () => {
    const { flv, out } = harness();
    const frame = Buffer.concat([Buffer.from('fffb54c4', 'hex'), Buffer.alloc(188)]); // MPEG-1 L3 64 kbit/s 48 kHz mono
    flv.pushAudio(0, buildAudioBody({ codec: 'mp3', packetType: 'coded-frames', data: frame, sampleRate: 44100, channels: 2 }), 0);
    assert.deepEqual(out.tracks.map((t) => t.kind === 'audio' && [t.codec, t.sampleRate, t.channels]), [['mp3', 48000, 1]]);
    assert.equal(out.units.length, 1);
  });

  test('random tag bodies never throw: each is dropped under a kind', () => {
    const { flv, out } = harness();
    flv.pushVideo(0, AVC_SEQ, 0);
    flv.pushAudio(0, AAC_SEQ, 0);
    flv.pushVideo(0, Buffer.alloc(0), 0);
    flv.pushAudio(0, Buffer.alloc(0), 0);
    for (let i = 0; i < 2000; i++) {
      const body = randomBytes(1 + (i % 40));
      if (i % 2) flv.pushVideo(i, body, 0);
      else flv.pushAudio(i, body, 0);
    }
    const kinds = new Set(out.ignored.map(([, k]) => k));
    assert.ok(kinds.has('video-tag') && kinds.has('audio-tag'), [...kinds].join());
  });

  test('flvOmits names what FLV and RTMP cannot carry', () => {
    assert.match(flvOmits({ kind: 'video', id: 0, codec: 'vp8', config: null }) ?? '', /VP8/);
    assert.equal(flvOmits({ kind: 'video', id: 0, codec: 'h265', config: null }), null);
    assert.equal(flvOmits({ kind: 'audio', id: 1, codec: 'mp3', config: null, sampleRate: 44100, channels: 2 }), null);
  });
});
