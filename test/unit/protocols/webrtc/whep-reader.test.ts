/**
 * WhepReader without a network: fake werift tracks record when each RTP packet is written. A viewer
 * that starts on a cached GOP gets it paced at up to 4× real time, then live frames at once; held-back
 * video (lip sync) leaves its delay after arrival; sequence numbers are contiguous per viewer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeUnit, type AudioTrack, type VideoTrack } from '../../../../gateway/src/core/media-unit.js';
import type { MediaStreamTrack, RtpPacket } from '../../../../gateway/src/protocols/webrtc/werift.js';
import { WhepReader } from '../../../../gateway/src/protocols/webrtc/whep-reader.js';
import { sleep } from '../../../helpers/wait.js';

const SPS = Buffer.from('6742c00dd90141fb011000000300100000030320f142a480', 'hex');
const PPS = Buffer.from('68cb83cb20', 'hex');
const avcc = Buffer.concat([Buffer.from('0142c00dffe10018', 'hex'), SPS, Buffer.from('0100' + '05', 'hex'), PPS]);
const track: VideoTrack = { kind: 'video', id: 0, codec: 'h264', config: avcc, width: 320, height: 240 };
const opusTrack: AudioTrack = { kind: 'audio', id: 1, codec: 'opus', config: null, sampleRate: 48000, channels: 2 };
/** An Opus unit as the stream's AAC → Opus rendition gives it. */
const opus = (ms: number, receivedAt: number) => makeUnit(opusTrack, ms * 90, ms * 90, true, Buffer.from('fc', 'hex'), receivedAt);

function fakeTrack(log: { at: number; packet: RtpPacket }[]): MediaStreamTrack {
  return { writeRtp: (p: RtpPacket) => void log.push({ at: performance.now(), packet: p }) } as unknown as MediaStreamTrack;
}

const frame = (ms: number, key: boolean, receivedAt: number) =>
  makeUnit(track, ms * 90, ms * 90, key, Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from(key ? '658884' : '419a00', 'hex')]), receivedAt);

test('a cached GOP is paced at up to 4× real time, then live frames go at once', async () => {
  const writes: { at: number; packet: RtpPacket }[] = [];
  const reader = new WhepReader('h264', fakeTrack(writes), null, 'opus', { onEnd: () => {}, onDrop: () => {} });
  reader.start({ path: 'x', tracks: [track], metadata: null });
  const now = performance.now();
  // 30 frames (1 s of media) that arrived over the last second: the GOP cache a new viewer gets.
  for (let i = 0; i < 30; i++) reader.unit(frame(i * 33, i === 0, now - 1000 + i * 33));
  await sleep(400);
  const markers = writes.filter((w) => w.packet.header.marker);
  assert.equal(markers.length, 30, 'the whole GOP is out after 1/4 of its duration (+ slack)');
  const spread = markers[29]!.at - markers[0]!.at;
  assert.ok(spread > 180 && spread < 330, `30 frames of 33 ms paced over ${spread.toFixed(0)} ms (≈ 250 at 4×)`);
  // Then live: a new frame goes out at once.
  const before = writes.length;
  reader.unit(frame(1000, false, performance.now()));
  assert.equal(writes.length, before + 1, 'a live frame is written synchronously');
  const seqs = writes.map((w) => w.packet.header.sequenceNumber);
  for (let i = 1; i < seqs.length; i++) assert.equal((seqs[i]! - seqs[i - 1]! + 0x10000) & 0xffff, 1);
});

test('audio waits while video catches up on the cached GOP, then starts with live video', async () => {
  const video: { at: number; packet: RtpPacket }[] = [];
  const audio: { at: number; packet: RtpPacket }[] = [];
  const reader = new WhepReader('h264', fakeTrack(video), fakeTrack(audio), 'opus', { onEnd: () => {}, onDrop: () => {} });
  reader.start({ path: 'x', tracks: [track], metadata: null });
  const now = performance.now();
  for (let i = 0; i < 30; i++) reader.unit(frame(i * 33, i === 0, now - 1000 + i * 33));
  reader.unit(opus(1000, performance.now()));
  assert.equal(audio.length, 0, 'no audio while video is behind');
  await sleep(400);
  reader.unit(frame(1000, false, performance.now())); // live again
  reader.unit(opus(1020, performance.now()));
  assert.equal(audio.length, 1, 'audio flows with live video');
});

test('with a lip-sync hold, live video leaves that long after it arrived, in order', async () => {
  const writes: { at: number; packet: RtpPacket }[] = [];
  const reader = new WhepReader('h264', fakeTrack(writes), null, 'opus', { onEnd: () => {}, onDrop: () => {} });
  reader.videoDelay = () => 40;
  reader.start({ path: 'x', tracks: [track], metadata: null });
  const sent: number[] = [];
  for (let i = 0; i < 5; i++) {
    const u = frame(i * 33, i === 0, performance.now());
    sent.push(u.receivedAt);
    reader.unit(u);
    await sleep(10);
  }
  await sleep(100);
  const markers = writes.filter((w) => w.packet.header.marker);
  assert.equal(markers.length, 5);
  markers.forEach((m, i) => {
    const held = m.at - sent[i]!;
    assert.ok(held >= 39 && held < 60, `frame ${i} held ${held.toFixed(1)} ms`);
    assert.equal(m.packet.header.timestamp, i * 33 * 90);
  });
});
