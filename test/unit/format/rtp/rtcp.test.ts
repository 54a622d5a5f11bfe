import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildReceiverReport, buildSenderReport, ntpOf, parseRtcp } from '../../../../gateway/src/format/rtp/rtcp.js';
import { parseRtp, writeRtpHeader } from '../../../../gateway/src/format/rtp/rtp-packet.js';

test('sender report: golden bytes, and read back', () => {
  const sr = buildSenderReport({ ssrc: 0x01020304, ntp: 0x83aa7e80_80000000n, rtpTimestamp: 90000, packets: 10, octets: 1000 });
  assert.equal(sr.toString('hex'), '80c80006' + '01020304' + '83aa7e8080000000' + '00015f90' + '0000000a' + '000003e8');
  assert.deepEqual(parseRtcp(sr), [{ type: 'sr', ssrc: 0x01020304, ntp: 0x83aa7e80_80000000n, rtpTimestamp: 90000, packets: 10, octets: 1000 }]);
});

test('NTP of the Unix epoch is 2 208 988 800 s; half a second is 2^31', () => {
  assert.equal(ntpOf(0), 2_208_988_800n << 32n);
  assert.equal(ntpOf(500) & 0xffffffffn, 0x80000000n);
});

test('a compound RR + SDES (as ffmpeg sends it): the RR is read, SDES skipped; lengths are checked', () => {
  const rr = buildReceiverReport(0xaabbccdd, [{ ssrc: 0x11223344, fractionLost: 5, lost: -3, highestSequence: 70000, jitter: 12 }]);
  const sdes = Buffer.from('81ca00030000000101046e616d', 'hex');
  const out = parseRtcp(Buffer.concat([rr, Buffer.concat([sdes, Buffer.alloc(3)])]));
  assert.deepEqual(out, [{ type: 'rr', ssrc: 0xaabbccdd, blocks: [{ ssrc: 0x11223344, fractionLost: 5, lost: -3, highestSequence: 70000, jitter: 12 }] }]);
  // A length that runs past the end: nothing after it is read.
  const broken = Buffer.from(rr);
  broken.writeUInt16BE(200, 2);
  assert.deepEqual(parseRtcp(broken), []);
  assert.deepEqual(parseRtcp(Buffer.from([0x00, 0xc8, 0, 0])), [], 'not version 2');
});

test('RTP header: written and parsed; CSRCs, extension and padding skipped; garbage refused', () => {
  const b = Buffer.alloc(16);
  writeRtpHeader(b, 0, { payloadType: 96, marker: true, sequenceNumber: 65535, timestamp: 0xfffffffe, ssrc: 7 });
  b.write('abcd', 12);
  assert.equal(b.subarray(0, 12).toString('hex'), '80e0ffff' + 'fffffffe' + '00000007');
  assert.deepEqual({ ...parseRtp(b)!, payload: parseRtp(b)!.payload.toString() }, { payloadType: 96, marker: true, sequenceNumber: 65535, timestamp: 0xfffffffe, ssrc: 7, payload: 'abcd' });
  // One CSRC, a one-word extension, 2 bytes of padding.
  const x = Buffer.from('b1' + '60' + '0001' + '00000002' + '00000003' + '00000009' + 'bede0001' + '01020304' + 'aabb' + '0002', 'hex');
  assert.deepEqual([...parseRtp(x)!.payload], [0xaa, 0xbb]);
  assert.equal(parseRtp(Buffer.from('80600001', 'hex')), null, 'short');
  assert.equal(parseRtp(Buffer.from('a0600001000000000000000000', 'hex')), null, 'padding 0');
  assert.equal(parseRtp(Buffer.from('9060000100000000000000000000ffff', 'hex')), null, 'extension overruns');
});
