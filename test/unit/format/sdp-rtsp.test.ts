import { test } from 'node:test';
import assert from 'node:assert/strict';
import { controlUrl, parseFmtp, parseRtspSdp } from '../../../gateway/src/format/sdp-rtsp.js';

// As ffmpeg announces H264 + AAC (-f rtsp), and as an IP camera describes H264 + G.711.
const ffmpeg = [
  'v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=No Name', 'c=IN IP4 127.0.0.1', 't=0 0', 'a=tool:libavformat 60.16.100',
  'm=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000',
  'a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z2QAH6zZQFAFuwEQAAADABAAAAMDwPGDGWA=,aOvjyyLA; profile-level-id=64001F',
  'a=control:streamid=0',
  'm=audio 0 RTP/AVP 97', 'b=AS:128', 'a=rtpmap:97 MPEG4-GENERIC/48000/2',
  'a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=119056E500',
  'a=control:streamid=1', '',
].join('\r\n');
const camera = [
  'v=0', 'o=- 1 1 IN IP4 192.0.2.10', 's=Session', 'a=control:*', 't=0 0',
  'm=video 0 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'a=control:trackID=1',
  'm=audio 0 RTP/AVP 0', 'a=control:trackID=2', '',
].join('\n');

test('ffmpeg ANNOUNCE: codecs, channels, fmtp with base64 padding kept, controls', () => {
  const p = parseRtspSdp(ffmpeg);
  assert.equal(p.media.length, 2);
  const [v, a] = p.media;
  assert.deepEqual([v!.kind, v!.payloadType, v!.codec, v!.clockRate, v!.control], ['video', 96, 'H264', 90000, 'streamid=0']);
  assert.equal(v!.fmtp['sprop-parameter-sets'], 'Z2QAH6zZQFAFuwEQAAADABAAAAMDwPGDGWA=,aOvjyyLA');
  assert.equal(v!.fmtp['profile-level-id'], '64001F');
  assert.deepEqual([a!.codec, a!.clockRate, a!.channels, a!.fmtp.config, a!.fmtp.mode], ['MPEG4-GENERIC', 48000, 2, '119056E500', 'AAC-hbr']);
  assert.equal(controlUrl('rtsp://127.0.0.1:8554/live/cam1', p, a!), 'rtsp://127.0.0.1:8554/live/cam1/streamid=1');
});

test('a camera DESCRIBE: static PCMU with no rtpmap, LF line ends, session control *', () => {
  const p = parseRtspSdp(camera);
  assert.deepEqual(p.media.map((m) => [m.codec, m.clockRate, m.channels]), [['H264', 90000, 1], ['PCMU', 8000, 1]]);
  assert.equal(controlUrl('rtsp://cam/ch1/', p, p.media[1]!), 'rtsp://cam/ch1/trackID=2');
  assert.equal(controlUrl('rtsp://cam/ch1', { ...p, media: p.media }, { ...p.media[0]!, control: 'rtsp://cam/other/track1' }), 'rtsp://cam/other/track1');
  assert.equal(controlUrl('rtsp://cam/ch1', p, { ...p.media[0]!, control: '' }), 'rtsp://cam/ch1');
});

test('fmtp values keep everything after the first =', () => {
  assert.deepEqual(parseFmtp('a=1; b=x==;c'), { a: '1', b: 'x==', c: '' });
});

test('limits and junk', () => {
  assert.throws(() => parseRtspSdp('x=1'), /v=0/);
  assert.throws(() => parseRtspSdp('v=0\r\n' + 'a'.repeat(70_000)), /exceeds/);
  assert.throws(() => parseRtspSdp('v=0\r\n' + 'm=video 0 RTP/AVP 96\r\n'.repeat(9)), /media sections/);
  assert.throws(() => parseRtspSdp('v=0\r\nm=video 0 RTP/AVP 99\r\n'), /no media/);
  assert.throws(() => parseRtspSdp('v=0\r\nm=video\r\n'), /malformed media line/);
});
