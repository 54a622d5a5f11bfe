/**
 * The HLS muxers fed unit by unit (no network): where parts and segments are cut, what a blocked
 * request waits for, the window and its memory; and the classic MPEG-TS variant's segments.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { silentLogger } from '../../../../gateway/src/core/log.js';
import { makeUnit, type AudioTrack, type VideoTrack } from '../../../../gateway/src/core/media-unit.js';
import { StreamRegistry } from '../../../../gateway/src/core/stream-registry.js';
import type { Stream } from '../../../../gateway/src/core/stream.js';
import { HlsMuxer } from '../../../../gateway/src/protocols/hls/hls-muxer.js';
import { HlsTsMuxer } from '../../../../gateway/src/protocols/hls/hls-ts-muxer.js';
import { knownVideo } from '../../../helpers/h264-source.js';
import { buildAvcC } from '../../../../gateway/src/codec/h264.js';
import { joinLengthPrefixed } from '../../../../gateway/src/codec/nal-units.js';

const { aus, sps, pps } = knownVideo();
const video: VideoTrack = { kind: 'video', id: 0, codec: 'h264', config: buildAvcC({ sps: [sps], pps: [pps] }), width: 320, height: 240 };
const audio: AudioTrack = { kind: 'audio', id: 1, codec: 'aac', config: Buffer.from('1188', 'hex'), sampleRate: 48000, channels: 1 };
const frames = aus.map((au) => ({ key: au.keyframe, data: joinLengthPrefixed(au.nals.filter((n) => ![7, 8].includes(n[0]! & 0x1f))) }));

let registry: StreamRegistry;
afterEach(() => registry?.closeAll('test over'));

function live(requestKeyframe?: () => void): Stream {
  registry = new StreamRegistry({ allowTakeover: false, publisherIdleTimeoutMs: 60_000, maxBacklogBytes: 1 << 24, stuckTimeoutMs: 5000, gop: { maxBytes: 1 << 24, maxUnits: 4000 } }, silentLogger);
  const stream = registry.publish('live/m', { id: 'p', protocol: 'test', remoteAddress: '', close: () => {}, ...(requestKeyframe ? { requestKeyframe } : {}) });
  stream.setTrack(video);
  stream.setTrack(audio);
  return stream;
}

/** Frame i of the clip (25 fps, keyframe every 25) at time i × 40 ms, with the AAC frames up to it. */
function pushFrames(stream: Stream, from: number, to: number, clockOffset = 0): void {
  for (let i = from; i < to; i++) {
    const dts = i * 3600;
    for (let a = Math.ceil((i - 1) * 3600 / 1920 + 1e-9); a * 1920 <= dts; a++) if (i > 0 || a === 0) stream.push(makeUnit(audio, a * 1920 + clockOffset, a * 1920 + clockOffset, true, Buffer.alloc(20)));
    const f = frames[i % frames.length]!;
    stream.push(makeUnit(video, dts + clockOffset, dts + clockOffset, f.key, f.data));
  }
}

test('parts of at most 200 ms cut at frame boundaries; segments at the keyframe after 1 s; a window of segmentCount', () => {
  const stream = live();
  const muxer = new HlsMuxer(stream, { partTargetMs: 200, segmentTargetMs: 1000, segmentCount: 3 });
  stream.addReader({ id: 'hls', protocol: 'hls', remoteAddress: '' }, muxer);
  pushFrames(stream, 0, 25 * 6 + 1);
  const segments = muxer.segments;
  assert.deepEqual(segments.map((s) => s.msn), [3, 4, 5, 6], 'three complete segments and the one being written');
  for (const s of segments.filter((x) => x.complete)) {
    assert.equal(s.parts.length, 5, '1 s of 25 fps in parts of 5 frames');
    assert.ok(Math.abs(s.duration - 1) < 1e-9);
    assert.deepEqual(s.parts.map((p) => p.independent), [true, false, false, false, false]);
    for (const p of s.parts) assert.ok(Math.abs(p.duration - 0.2) < 1e-9);
  }
  const seqs = segments.flatMap((s) => s.parts.map((p) => p.seq));
  assert.deepEqual(seqs, seqs.map((_, i) => seqs[0]! + i), 'parts numbered across segments without a hole');
  assert.equal(muxer.bytes, segments.reduce((n, s) => n + s.parts.reduce((m, p) => m + p.data.length, 0), 0), 'memory counts the window exactly');
  const text = muxer.playlist(false).toString();
  assert.match(text, /#EXT-X-MEDIA-SEQUENCE:3\n/);
  assert.match(text, new RegExp(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${muxer.id}-p${muxer.nextPart}\\.m4s"`));
});

test('a blocked request resolves when its part is cut, times out otherwise, and is answered false when the muxer stops', async () => {
  const stream = live();
  const muxer = new HlsMuxer(stream, { partTargetMs: 200, segmentTargetMs: 1000, segmentCount: 3 });
  stream.addReader({ id: 'hls', protocol: 'hls', remoteAddress: '' }, muxer);
  pushFrames(stream, 0, 10);
  const next = muxer.nextPart;
  const waiting = muxer.whenReady(() => muxer.part(next) !== undefined, 5000);
  assert.equal(muxer.waiting, 1);
  pushFrames(stream, 10, 16);
  assert.equal(await waiting, true);
  assert.equal(await muxer.whenReady(() => false, 30), false, 'timed out');
  const stopped = muxer.whenReady(() => false, 5000);
  muxer.stop('test');
  assert.equal(await stopped, false);
  assert.equal(muxer.waiting, 0);
});

test('the MPEG-TS variant: segments of whole TS packets from a keyframe (PAT first), at the keyframe after 1 s', () => {
  const stream = live();
  const muxer = new HlsTsMuxer(stream, { segmentTargetMs: 1000, segmentCount: 3 });
  stream.addReader({ id: 'hls-ts', protocol: 'hls-ts', remoteAddress: '' }, muxer);
  pushFrames(stream, 3, 25 * 4 + 1); // starts mid-GOP: the first segment waits for a keyframe
  const text = muxer.playlist();
  const msns = [...text.matchAll(/-t(\d+)\.ts/g)].map((m) => Number(m[1]));
  assert.deepEqual(msns, [0, 1, 2]);
  for (const msn of msns) {
    const s = muxer.segment(msn)!;
    const bytes = Buffer.concat(s.chunks);
    assert.equal(bytes.length % 188, 0);
    assert.equal(bytes[0], 0x47);
    assert.equal(((bytes[1]! & 0x1f) << 8) | bytes[2]!, 0, 'the PAT first');
    assert.ok(Math.abs(s.duration - 1) < 1e-9);
  }
  assert.match(text, /^#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n/);
});

test('a source whose keyframes stop: segments are cut anyway past 10 targets, and the playlist stops claiming independence', () => {
  const stream = live();
  const muxer = new HlsMuxer(stream, { partTargetMs: 200, segmentTargetMs: 1000, segmentCount: 3 });
  stream.addReader({ id: 'hls', protocol: 'hls', remoteAddress: '' }, muxer);
  // One keyframe, then 30 s of frames without another.
  for (let i = 0; i < 25 * 30; i++) stream.push(makeUnit(video, i * 3600, i * 3600, i === 0, frames[i === 0 ? 0 : 1]!.data));
  const complete = muxer.segments.filter((s) => s.complete);
  assert.equal(complete.length, 2, 'cut at 10 s and 20 s (and the third being written)');
  for (const s of complete) assert.ok(Math.abs(s.duration - 10) < 1e-9);
  assert.equal(muxer.bytes, muxer.segments.reduce((n, s) => n + s.parts.reduce((m, p) => m + p.data.length, 0), 0), 'the window holds what it lists');
  assert.equal(muxer.segments[1]!.parts[0]!.independent, false, 'the forced segment does not start with a keyframe');
  assert.doesNotMatch(muxer.playlist(false).toString(), /EXT-X-INDEPENDENT-SEGMENTS/);
});

/** Complete segments' durations (s), and the decode times their parts start at, from their tfdt boxes. */
function timeline(muxer: HlsMuxer): { durations: number[]; tfdts: number[] } {
  const complete = muxer.segments.filter((s) => s.complete);
  const tfdts = muxer.segments.flatMap((s) => s.parts).map((p) => {
    const at = p.data.indexOf('tfdt');
    return Number(p.data.readBigUInt64BE(at + 8));
  });
  return { durations: complete.map((s) => s.duration), tfdts };
}

for (const [what, offset] of [
  ['a source clock that goes back (an encoder restarted its timestamps)', -3600 * 60],
  ['a source clock that leaps ahead (a hand-over’s 20 s of silence)', 90_000 * 20],
] as const) {
  test(`${what}: the output's times run on, segments keep their length, the target duration stays`, () => {
    const stream = live();
    const muxer = new HlsMuxer(stream, { partTargetMs: 200, segmentTargetMs: 1000, segmentCount: 7 });
    stream.addReader({ id: 'hls', protocol: 'hls', remoteAddress: '' }, muxer);
    pushFrames(stream, 0, 75);
    const before = muxer.partsMade;
    pushFrames(stream, 75, 200, offset);
    assert.equal(muxer.timelineJumps, 1);
    assert.ok(muxer.partsMade - before >= 20, `parts go on being cut (${muxer.partsMade - before})`);
    const { durations, tfdts } = timeline(muxer);
    for (const d of durations) assert.ok(d > 0.9 && d < 1.1, `segment of ${d} s`);
    for (let i = 1; i < tfdts.length; i++) assert.ok(tfdts[i]! > tfdts[i - 1]! && tfdts[i]! - tfdts[i - 1]! < 90_000 / 2, `part decode times run on: ${tfdts[i - 1]} → ${tfdts[i]}`);
    assert.match(muxer.playlist(false).toString(), /#EXT-X-TARGETDURATION:1\n/);
  });
}

test('the MPEG-TS variant: times run on through a clock jump; new tracks start a segment marked EXT-X-DISCONTINUITY', () => {
  const stream = live();
  const muxer = new HlsTsMuxer(stream, { segmentTargetMs: 1000, segmentCount: 10 });
  stream.addReader({ id: 'hls-ts', protocol: 'hls-ts', remoteAddress: '' }, muxer);
  pushFrames(stream, 0, 75);
  pushFrames(stream, 75, 150, 90_000 * 30);
  stream.setTrack({ ...audio, config: Buffer.from('1190', 'hex') });
  pushFrames(stream, 150, 251, 90_000 * 30);
  const text = muxer.playlist();
  const durations = [...text.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]));
  assert.equal(durations.length, 10);
  for (const d of durations) assert.ok(Math.abs(d - 1) < 0.05, `segment of ${d} s`);
  assert.equal([...text.matchAll(/#EXT-X-DISCONTINUITY\n/g)].length, 1, 'one discontinuity, where the audio configuration changed');
  assert.match(text, /#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:[^\n]+\n#EXTINF:[\d.]+,\n[0-9a-f]{8}-t6\.ts/);
  assert.match(text, /#EXT-X-TARGETDURATION:1\n/);
});

test('the MPEG-TS variant: a source that makes keyframes on request is asked when a segment is due; without them, segments are cut past 10 targets', () => {
  let asked = 0;
  const stream = live(() => asked++);
  const muxer = new HlsTsMuxer(stream, { segmentTargetMs: 1000, segmentCount: 3 });
  stream.addReader({ id: 'hls-ts', protocol: 'hls-ts', remoteAddress: '' }, muxer);
  const before = asked;
  for (let i = 0; i < 25 * 25; i++) stream.push(makeUnit(video, i * 3600, i * 3600, i === 0, frames[i === 0 ? 0 : 1]!.data));
  assert.ok(asked - before >= 20 && asked - before <= 26, `asked about once a second (${asked - before} times in 25 s)`);
  const durations = [...muxer.playlist().matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]));
  assert.deepEqual(durations, [10, 10], 'cut at 10 s and 20 s');
});
