/**
 * The fMP4 writer: a fragment's exact bytes (golden, worked out by hand from ISO/IEC 14496-12), and a
 * whole LL-HLS window (init segment + every part the HLS muxer cut from real x264 output and AAC)
 * read back by mediabunny, an MP4 reader nobody here wrote: codecs, sizes, every sample, its times.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ALL_FORMATS, BufferSource, EncodedPacketSink, Input } from 'mediabunny';
import { adtsToAudioSpecificConfig, splitAdts } from '../../../gateway/src/codec/aac.js';
import { buildAvcC } from '../../../gateway/src/codec/h264.js';
import { joinLengthPrefixed } from '../../../gateway/src/codec/nal-units.js';
import { silentLogger } from '../../../gateway/src/core/log.js';
import { makeUnit, type AudioTrack, type VideoTrack } from '../../../gateway/src/core/media-unit.js';
import { StreamRegistry } from '../../../gateway/src/core/stream-registry.js';
import { fragment } from '../../../gateway/src/format/fmp4/fragment.js';
import { initSegment } from '../../../gateway/src/format/fmp4/init-segment.js';
import { HlsMuxer } from '../../../gateway/src/protocols/hls/hls-muxer.js';
import { knownVideo } from '../../helpers/h264-source.js';

test('a fragment, byte for byte: moof(mfhd, traf(tfhd, tfdt v1, trun v1)) + mdat', () => {
  const out = fragment(1, [{ trackId: 1, baseDecodeTime: 0, samples: [{ duration: 3000, compositionOffset: 0, sync: true, data: Buffer.from('abcd') }] }]);
  const expected = [
    '00000068 6d6f6f66', // moof, 104 bytes
    '00000010 6d666864 00000000 00000001', // mfhd, sequence 1
    '00000050 74726166', // traf, 80 bytes
    '00000010 74666864 00020000 00000001', // tfhd: default-base-is-moof, track 1
    '00000014 74666474 01000000 00000000 00000000', // tfdt v1: 0
    '00000024 7472756e 01000f01 00000001 00000070', // trun v1: offset, duration, size, flags, cto; 1 sample; data at 112
    '00000bb8 00000004 02000000 00000000', // 3000 ticks, 4 bytes, sync, cto 0
    '0000000c 6d646174 61626364', // mdat 'abcd'
  ].join('').replace(/ /g, '');
  assert.equal(out.toString('hex'), expected);
});

test('negative composition offsets and non-sync samples', () => {
  const out = fragment(7, [{ trackId: 2, baseDecodeTime: 2 ** 33, samples: [{ duration: 1, compositionOffset: -3000, sync: false, data: Buffer.alloc(0) }] }]);
  const trun = out.subarray(out.indexOf('trun') - 4);
  assert.equal(trun.readUInt32BE(28), 0x01010000, 'depends on others, not a sync sample');
  assert.equal(trun.readInt32BE(32), -3000);
  const tfdt = out.subarray(out.indexOf('tfdt') - 4);
  assert.equal(tfdt.readBigUInt64BE(12), 2n ** 33n, '64-bit decode time');
});

test('the HLS muxer\'s init segment and parts, read back by mediabunny: H264 320x240 and AAC, every sample in order', async () => {
  const { aus, sps, pps } = knownVideo();
  const adts = splitAdts(readFileSync(new URL('../../fixtures/sine1k-48000-mono.aac', import.meta.url)));
  const video: VideoTrack = { kind: 'video', id: 0, codec: 'h264', config: buildAvcC({ sps: [sps], pps: [pps] }), width: 320, height: 240, codecString: 'avc1.42c00d' };
  const audio: AudioTrack = { kind: 'audio', id: 1, codec: 'aac', config: adtsToAudioSpecificConfig(adts[0]!.header), sampleRate: 48000, channels: 1, codecString: 'mp4a.40.2' };
  const registry = new StreamRegistry({ allowTakeover: false, publisherIdleTimeoutMs: 60_000, maxBacklogBytes: 1 << 24, stuckTimeoutMs: 5000, gop: { maxBytes: 1 << 24, maxUnits: 4000 } }, silentLogger);
  const stream = registry.publish('live/mp4', { id: 'p', protocol: 'test', remoteAddress: '', close: () => {} });
  stream.setTrack(video);
  stream.setTrack(audio);
  const muxer = new HlsMuxer(stream, { partTargetMs: 200, segmentTargetMs: 1000, segmentCount: 10 });
  stream.addReader({ id: 'hls', protocol: 'hls', remoteAddress: '' }, muxer);
  // Two passes of the 50-frame clip at 25 fps (keyframes every 25) with 48 kHz AAC frames between.
  let a = 0;
  const videoSent: { dts: number; size: number; key: boolean }[] = [];
  for (let i = 0; i < 2 * aus.length; i++) {
    const au = aus[i % aus.length]!;
    const dts = i * 3600;
    while (a * 1920 <= dts) {
      stream.push(makeUnit(audio, a * 1920, a * 1920, true, adts[a % adts.length]!.frame));
      a++;
    }
    const data = joinLengthPrefixed(au.nals.filter((n) => ![7, 8].includes(n[0]! & 0x1f)));
    stream.push(makeUnit(video, dts, dts, au.keyframe, data));
    videoSent.push({ dts, size: data.length, key: au.keyframe });
  }
  const complete = muxer.segments.filter((s) => s.complete);
  assert.equal(complete.length, 3, 'segments of 1 s at each keyframe (the last one still being written)');
  for (const s of complete) {
    for (const p of s.parts) assert.ok(p.duration <= 0.2 + 1e-9, `part of ${p.duration} s`);
    assert.ok(s.parts[0]!.independent && !s.parts[1]!.independent);
  }
  const file = Buffer.concat([muxer.initVersion!.data, ...complete.flatMap((s) => s.parts.map((p) => p.data))]);

  const input = new Input({ source: new BufferSource(file), formats: ALL_FORMATS });
  const v = (await input.getPrimaryVideoTrack())!;
  const au = (await input.getPrimaryAudioTrack())!;
  assert.equal(v.codec, 'avc');
  assert.equal(v.displayWidth, 320);
  assert.equal(v.displayHeight, 240);
  assert.equal(au.codec, 'aac');
  assert.equal(au.sampleRate, 48000);
  assert.equal(au.numberOfChannels, 1);
  const packets: { timestamp: number; size: number; key: boolean }[] = [];
  for await (const p of new EncodedPacketSink(v).packets()) packets.push({ timestamp: p.timestamp, size: p.data.length, key: p.type === 'key' });
  const expected = videoSent.slice(0, 75);
  assert.equal(packets.length, expected.length, 'every video sample of the complete segments');
  packets.forEach((p, i) => {
    assert.equal(p.size, expected[i]!.size, `sample ${i} size`);
    assert.equal(p.key, expected[i]!.key, `sample ${i} key`);
    assert.ok(Math.abs(p.timestamp - expected[i]!.dts / 90_000) < 1e-6, `sample ${i} at ${p.timestamp} s`);
  });
  let audioPackets = 0;
  let lastAudio = -1;
  for await (const p of new EncodedPacketSink(au).packets()) {
    assert.ok(p.timestamp > lastAudio, 'audio in order');
    lastAudio = p.timestamp;
    audioPackets++;
  }
  assert.ok(Math.abs(audioPackets - Math.round((3 * 48000) / 1024)) <= 2, `${audioPackets} AAC frames in 3 s`);
  registry.closeAll('test over');
});

test('init segment: ftyp, then moov with a trak per track and mvex/trex', () => {
  const video: VideoTrack = { kind: 'video', id: 0, codec: 'h265', config: Buffer.alloc(23, 1), width: 1920, height: 1080 };
  const opus: AudioTrack = { kind: 'audio', id: 1, codec: 'opus', config: null, sampleRate: 48000, channels: 2 };
  const init = initSegment([video, opus]);
  assert.equal(init.toString('latin1', 4, 8), 'ftyp');
  for (const type of ['moov', 'mvhd', 'trak', 'hvc1', 'hvcC', 'Opus', 'dOps', 'mvex', 'trex']) assert.ok(init.includes(type, 0, 'latin1'), `has ${type}`);
  assert.equal(init.toString('latin1').split('trak').length - 1, 2, 'two traks');
  const hvcC = init.indexOf('hvcC');
  assert.equal(init[hvcC + 4 + 21]! & 3, 3, 'NAL length size 4, as samples carry them');
});
