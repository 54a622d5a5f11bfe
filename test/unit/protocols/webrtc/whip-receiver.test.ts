import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAvcC } from '../../../../gateway/src/codec/h264.js';
import { joinLengthPrefixed, splitLengthPrefixed } from '../../../../gateway/src/codec/nal-units.js';
import type { MediaUnit, Track } from '../../../../gateway/src/core/media-unit.js';
import { packetizeH264 } from '../../../../gateway/src/format/rtp/h264.js';
import { RtpTimeline } from '../../../../gateway/src/format/rtp/rtp-clock.js';
import { packetizeVp8 } from '../../../../gateway/src/format/rtp/vp8.js';
import { parseOfferMedia } from '../../../../gateway/src/format/sdp-offer.js';
import { WhipReceiver, type RtpIn, type WhipCodec } from '../../../../gateway/src/protocols/webrtc/whip-receiver.js';
import { receiveCodecs } from '../../../../gateway/src/protocols/webrtc/whip-session.js';
import { refuseOffer } from '../../../../gateway/src/protocols/webrtc/whip-server.js';
import { knownVideo } from '../../../helpers/h264-source.js';

function receiver(kind: 'video' | 'audio', codecs: [number, WhipCodec][]) {
  const out = { tracks: [] as Track[], units: [] as MediaUnit[], keyframeAsks: [] as string[], warnings: [] as string[] };
  const r = new WhipReceiver({
    kind,
    trackId: kind === 'video' ? 0 : 1,
    codecs: new Map(codecs),
    timeline: new RtpTimeline(),
    jitterBufferMs: 50,
    events: {
      track: (t) => void out.tracks.push(t),
      unit: (u) => void out.units.push(u),
      needKeyframe: (why) => void out.keyframeAsks.push(why),
      warn: (m) => void out.warnings.push(m),
    },
  });
  return { r, out };
}

/** The known clip as RTP packets (25 fps), SPS/PPS in front of each keyframe as browsers send them. */
function clipPackets(ssrc = 1111, seq0 = 65000, ts0 = 4_294_000_000) {
  const { aus, sps, pps } = knownVideo();
  const packets: RtpIn[] = [];
  const sent: Buffer[] = [];
  let seq = seq0;
  for (const [i, au] of aus.entries()) {
    const nals = au.keyframe ? [sps, pps, ...au.nals.filter((n) => ![7, 8].includes(n[0]! & 0x1f))] : au.nals;
    sent.push(joinLengthPrefixed(nals));
    for (const p of packetizeH264(nals)) {
      packets.push({ ssrc, payloadType: 102, sequenceNumber: seq & 0xffff, timestamp: (ts0 + i * 3600) >>> 0, marker: p.marker, payload: p.payload });
      seq++;
    }
  }
  return { packets, sent, aus };
}

test('H264: access units come out byte for byte, on one track with the SPS size, across the sequence and timestamp wraps', () => {
  const { r, out } = receiver('video', [[102, 'h264']]);
  const { packets, sent } = clipPackets();
  let now = 1000;
  for (const p of packets) r.push(p, (now += 1));
  assert.equal(out.units.length, sent.length);
  out.units.forEach((u, i) => assert.ok(u.data.equals(sent[i]!), `unit ${i}`));
  assert.equal(out.tracks.length, 1);
  const t = out.tracks[0]!;
  assert.ok(t.kind === 'video' && t.codec === 'h264' && t.width === 320 && t.height === 240);
  assert.equal(parseAvcC(t.config!).sps.length, 1);
  for (let i = 1; i < out.units.length; i++) assert.equal(out.units[i]!.pts - out.units[i - 1]!.pts, 3600);
  assert.ok(out.units[0]!.keyframe && out.units.filter((u) => u.keyframe).length === 2);
});

test('H264: reordered packets are put back in order', () => {
  const { r, out } = receiver('video', [[102, 'h264']]);
  const { packets, sent } = clipPackets();
  // Swap neighbours everywhere (packet 0 stays first: the first packet starts the sequence).
  const shuffled = [packets[0]!];
  for (let i = 1; i + 1 < packets.length; i += 2) shuffled.push(packets[i + 1]!, packets[i]!);
  if (packets.length % 2 === 0) shuffled.push(packets[packets.length - 1]!);
  let now = 0;
  for (const p of shuffled) r.push(p, (now += 1));
  assert.equal(out.units.length, sent.length);
  out.units.forEach((u, i) => assert.ok(u.data.equals(sent[i]!), `unit ${i}`));
  assert.ok(r.jitterStats.reordered > 0);
});

test('H264: a lost packet asks for a keyframe, and nothing is emitted until one comes', () => {
  const { r, out } = receiver('video', [[102, 'h264']]);
  const { packets, aus } = clipPackets();
  const lostAt = packets.findIndex((p, i) => i > 20 && p.marker) + 1; // first packet of some later unit
  let now = 0;
  for (const [i, p] of packets.entries()) {
    if (i === lostAt) continue;
    r.push(p, (now += 5));
    r.poll(now);
  }
  r.poll(now + 1000);
  assert.ok(out.keyframeAsks.includes('packets lost'), `asked: ${out.keyframeAsks.join(', ')}`);
  const secondKey = aus.findIndex((a, i) => i > 0 && a.keyframe);
  // Every unit emitted after the loss is the second keyframe or later.
  const afterLoss = out.units.filter((u) => u.receivedAt > lostAt * 5);
  assert.ok(afterLoss.length > 0 && afterLoss[0]!.keyframe, 'resumes on a keyframe');
  assert.equal(out.units.length, (aus.length - secondKey) + out.units.filter((u) => u.receivedAt <= lostAt * 5).length);
});

test('an SSRC change starts a new sequence and clock: units keep flowing, time runs forward', () => {
  const { r, out } = receiver('video', [[102, 'h264']]);
  const a = clipPackets(1, 100, 5000);
  const b = clipPackets(2, 40000, 123_456_789);
  let now = 0;
  for (const p of a.packets) r.push(p, (now += 2));
  now += 600; // the old source went quiet
  for (const p of b.packets) r.push(p, (now += 2));
  assert.equal(out.units.length, a.sent.length + b.sent.length);
  assert.equal(r.ssrcChanges, 1);
  assert.ok(out.warnings.includes('publisher changed SSRC'));
  for (let i = 1; i < out.units.length; i++) assert.ok(out.units[i]!.pts > out.units[i - 1]!.pts, `pts rises at ${i}`);
});

test('a second SSRC while the first still sends is ignored (no reset per packet)', () => {
  const { r, out } = receiver('video', [[102, 'h264']]);
  const a = clipPackets(1, 100, 5000);
  const b = clipPackets(2, 40000, 123_456_789);
  let now = 0;
  for (let i = 0; i < a.packets.length; i++) {
    r.push(a.packets[i]!, (now += 2));
    if (b.packets[i]) r.push(b.packets[i]!, now);
  }
  assert.equal(out.units.length, a.sent.length);
  out.units.forEach((u, i) => assert.ok(u.data.equals(a.sent[i]!), `unit ${i} is from the first source`));
  assert.equal(r.ssrcChanges, 0);
  assert.equal(out.tracks.length, 1);
  assert.equal(out.warnings.length, 0);
  assert.ok(r.foreignPackets > 0);
});

test('Opus: one unit per packet, the track announced once, widened for stereo; padding and unknown payload types ignored', () => {
  const { r, out } = receiver('audio', [[111, 'opus']]);
  let now = 0;
  const mono = Buffer.from([0xf8, 1, 2, 3]); // CELT FB 20 ms, mono
  const stereo = Buffer.from([0xfc, 1, 2, 3]);
  for (let i = 0; i < 10; i++) r.push({ ssrc: 9, payloadType: 111, sequenceNumber: i, timestamp: i * 960, marker: false, payload: i < 5 ? mono : stereo }, (now += 20));
  r.push({ ssrc: 9, payloadType: 111, sequenceNumber: 10, timestamp: 9600, marker: false, payload: Buffer.alloc(0) }, (now += 1));
  r.push({ ssrc: 9, payloadType: 63, sequenceNumber: 11, timestamp: 10560, marker: false, payload: mono }, (now += 1));
  assert.equal(out.units.length, 10);
  assert.deepEqual(out.tracks.map((t) => t.kind === 'audio' && t.channels), [1, 2]);
  assert.equal(r.unknownPayloadTypes, 1);
  for (let i = 1; i < 10; i++) assert.equal(out.units[i]!.pts - out.units[i - 1]!.pts, 1800);
});

test('VP8: frames with the keyframe size; H264 and VP8 payload types in one section are told apart', () => {
  const { r, out } = receiver('video', [[96, 'vp8'], [102, 'h264']]);
  // A VP8 keyframe header: frame tag (key, version 0, show), start code, 640x360.
  const key = Buffer.alloc(3000, 7);
  const size = 2000;
  key[0] = ((size << 5) | 0x10) & 0xff;
  key[1] = (size >> 3) & 0xff;
  key[2] = (size >> 11) & 0xff;
  key.set([0x9d, 0x01, 0x2a], 3);
  key.writeUInt16LE(640, 6);
  key.writeUInt16LE(360, 8);
  const inter = Buffer.alloc(500, 3);
  inter.set([0x01 | 0x10 | (100 << 5) & 0xe0, (100 >> 3) & 0xff, 0], 0); // inter frame, shown, first partition 100 bytes
  let seq = 0;
  let now = 0;
  for (const [i, frame] of [key, inter, inter].entries()) {
    for (const p of packetizeVp8(frame)) r.push({ ssrc: 5, payloadType: 96, sequenceNumber: seq++, timestamp: i * 3000, marker: p.marker, payload: p.payload }, (now += 1));
  }
  assert.equal(out.units.length, 3);
  assert.ok(out.units[0]!.keyframe && !out.units[1]!.keyframe);
  assert.ok(out.units[0]!.data.equals(key));
  const t = out.tracks[0]!;
  assert.ok(t.kind === 'video' && t.codec === 'vp8' && t.width === 640 && t.height === 360);
});

test('garbage payloads never throw and emit nothing', () => {
  const { r, out } = receiver('video', [[102, 'h264'], [96, 'vp8']]);
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < 5000; i++) {
    const payload = Buffer.from(Array.from({ length: Math.floor(rand() * 1400) }, () => Math.floor(rand() * 256)));
    r.push({ ssrc: 3, payloadType: rand() < 0.5 ? 102 : 96, sequenceNumber: i & 0xffff, timestamp: Math.floor(rand() * 2 ** 32), marker: rand() < 0.3, payload }, i);
  }
  // Random bytes can look like a frame; what matters is that nothing threw, every packet was taken
  // in, and what came out is well formed (H264: whole length-prefixed NAL units).
  assert.equal(r.packets, 5000);
  for (const u of out.units) {
    if (u.track.codec !== 'h264') continue;
    const nals = splitLengthPrefixed(u.data);
    assert.equal(nals.reduce((n, x) => n + 4 + x.length, 0), u.data.length);
  }
  for (const t of out.tracks) assert.ok(t.kind === 'video' && t.width! > 0 && t.height! > 0);
});

const CHROME_LIKE_OFFER = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 0',
  'a=mid:0',
  'a=sendonly',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:63 red/48000/2',
  'a=rtpmap:0 PCMU/8000',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 108',
  'a=mid:1',
  'a=sendonly',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:97 rtx/90000',
  'a=fmtp:97 apt=96',
  'a=rtpmap:102 H264/90000',
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
  'a=rtpmap:103 rtx/90000',
  'a=fmtp:103 apt=102',
  'a=rtpmap:104 H264/90000',
  'a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f',
  'a=rtpmap:108 H264/90000',
  'a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  '',
].join('\r\n');

test('receive codecs: H264 packetization-mode 1 first (each offered profile), then VP8; Opus for audio', () => {
  const media = parseOfferMedia(CHROME_LIKE_OFFER);
  const video = receiveCodecs(media.find((m) => m.kind === 'video')!);
  assert.deepEqual(
    video.map((c) => `${c.mimeType} ${c.parameters ?? ''}`.trim()),
    [
      'video/H264 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
      'video/rtx',
      'video/H264 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
      'video/rtx',
      'video/VP8',
      'video/rtx',
    ],
  );
  assert.deepEqual(receiveCodecs(media.find((m) => m.kind === 'audio')!).map((c) => c.mimeType), ['audio/OPUS']);
});

test('refuseOffer: what WHIP cannot take, and why', () => {
  assert.equal(refuseOffer(parseOfferMedia(CHROME_LIKE_OFFER)), null);
  const vp9 = CHROME_LIKE_OFFER.replace(/VP8\/90000/, 'VP9/90000').replace(/packetization-mode=1/g, 'packetization-mode=0');
  assert.match(refuseOffer(parseOfferMedia(vp9)) ?? '', /neither H264/);
  assert.match(refuseOffer(parseOfferMedia(CHROME_LIKE_OFFER.replace('opus/48000/2', 'G722/8000'))) ?? '', /Opus/);
  assert.match(refuseOffer(parseOfferMedia(CHROME_LIKE_OFFER.replace(/a=sendonly/g, 'a=recvonly'))) ?? '', /recvonly/);
  const twoVideo = CHROME_LIKE_OFFER + CHROME_LIKE_OFFER.slice(CHROME_LIKE_OFFER.indexOf('m=video')).replace('a=mid:1', 'a=mid:2');
  assert.match(refuseOffer(parseOfferMedia(twoVideo)) ?? '', /at most one/);
  const simulcast = CHROME_LIKE_OFFER.replace('a=mid:1', 'a=mid:1\r\na=rid:h send\r\na=rid:l send\r\na=simulcast:send h;l');
  assert.match(refuseOffer(parseOfferMedia(simulcast)) ?? '', /simulcast/);
  const data = CHROME_LIKE_OFFER + 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\n';
  assert.match(refuseOffer(parseOfferMedia(data)) ?? '', /data channels/);
  const audioOnly = CHROME_LIKE_OFFER.slice(0, CHROME_LIKE_OFFER.indexOf('m=video'));
  assert.equal(refuseOffer(parseOfferMedia(audioOnly)), null, 'audio alone is fine');
});
