/**
 * RTSP output done once per stream: the SDP DESCRIBE answers (golden lines), one packetization per
 * unit whose bytes every player shares (interleaved frames, RTP views of them), sequence numbers that
 * run on across units; and request URLs as ffmpeg sends them with a query.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildAvcC } from '../../../../gateway/src/codec/h264.js';
import { makeUnit, type AudioTrack, type VideoTrack } from '../../../../gateway/src/core/media-unit.js';
import { parseRtp } from '../../../../gateway/src/format/rtp/rtp-packet.js';
import { parseRtspSdp } from '../../../../gateway/src/format/sdp-rtsp.js';
import { splitUri } from '../../../../gateway/src/protocols/rtsp/rtsp-connection.js';
import { StreamPackets } from '../../../../gateway/src/protocols/rtsp/stream-packets.js';

// x264 baseline 320x240 SPS/PPS.
const sps = Buffer.from('6742c00dd9050fd808800000030080000019478a15c8', 'hex');
const pps = Buffer.from('68cb83cb20', 'hex');
const video: VideoTrack = { kind: 'video', id: 0, codec: 'h264', config: buildAvcC({ sps: [sps], pps: [pps] }), width: 320, height: 240 };
const aac: AudioTrack = { kind: 'audio', id: 1, codec: 'aac', config: Buffer.from('1188', 'hex'), sampleRate: 48000, channels: 1 };
const mp3: AudioTrack = { kind: 'audio', id: 2, codec: 'mp3', config: null, sampleRate: 44100, channels: 2 };

test('DESCRIBE SDP: H264 with sprop-parameter-sets and profile, AAC-hbr with its config; MP3 left out', () => {
  const { sdp, tracks } = new StreamPackets().describe([video, aac, mp3], '127.0.0.1');
  assert.deepEqual(tracks.map((t) => [t.codec, t.control, t.index]), [['h264', 'trackID=0', 0], ['aac', 'trackID=1', 1]]);
  const lines = sdp.split('\r\n');
  assert.ok(lines.includes('m=video 0 RTP/AVP 96'));
  assert.ok(lines.includes(`a=fmtp:96 packetization-mode=1;profile-level-id=42C00D;sprop-parameter-sets=${sps.toString('base64')},${pps.toString('base64')}`));
  assert.ok(lines.includes('a=rtpmap:97 MPEG4-GENERIC/48000/1'));
  assert.ok(lines.includes('a=fmtp:97 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1188'));
  // livegate's own SDP reader (and so any RTSP client) reads it back.
  const read = parseRtspSdp(sdp);
  assert.deepEqual(read.media.map((m) => [m.codec, m.clockRate, m.control]), [['H264', 90000, 'trackID=0'], ['MPEG4-GENERIC', 48000, 'trackID=1']]);
});

test('a unit is packetized once for every player: shared bytes, RTP views, sequence numbers running on', () => {
  const packets = new StreamPackets();
  const out = packets.trackOut(video)!;
  const idr = Buffer.concat([Buffer.from([0, 0, 0x0b, 0xb9, 0x65]), Buffer.alloc(3000, 1)]);
  const unit = makeUnit(video, 9000, 9000, true, idr);
  const first = packets.packetsOf(unit, out)!;
  assert.equal(packets.packetsOf(unit, out), first, 'the same object for the second player');
  // STAP-A (SPS + PPS) then three FU-A packets for the 3001-byte IDR.
  assert.equal(first.packets.length, 4);
  assert.equal(first.interleaved[0], 0x24);
  assert.equal(first.interleaved[1], 0);
  assert.equal(first.packets[0]!.buffer, first.interleaved.buffer, 'views, not copies');
  const rtp = first.packets.map((p) => parseRtp(p)!);
  assert.deepEqual(rtp.map((p) => (p.sequenceNumber - rtp[0]!.sequenceNumber) & 0xffff), [0, 1, 2, 3]);
  assert.deepEqual(rtp.map((p) => p.marker), [false, false, false, true]);
  assert.equal(rtp[0]!.timestamp, packets.rtpTime(out, 9000));
  assert.equal(rtp[0]!.ssrc, out.ssrc);
  const next = packets.packetsOf(makeUnit(video, 12000, 12000, false, Buffer.from([0, 0, 0, 2, 0x41, 9])), out)!;
  assert.equal(parseRtp(next.packets[0]!)!.sequenceNumber, (rtp[3]!.sequenceNumber + 1) & 0xffff);
  assert.equal(parseRtp(next.packets[0]!)!.timestamp - rtp[0]!.timestamp, 3000);
});

test('request URLs: the query is split off, and a control ffmpeg appended after it is put back on the path', () => {
  assert.deepEqual(splitUri('rtsp://h:8554/live/a'), { url: 'rtsp://h:8554/live/a', query: '' });
  assert.deepEqual(splitUri('rtsp://h/live/a?token=x.y.z'), { url: 'rtsp://h/live/a', query: 'token=x.y.z' });
  assert.deepEqual(splitUri('rtsp://h/live/a?token=x/streamid=0'), { url: 'rtsp://h/live/a/streamid=0', query: 'token=x' });
});
