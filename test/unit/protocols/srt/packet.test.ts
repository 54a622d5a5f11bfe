/**
 * SRT packet and handshake codecs: golden bytes captured from ffmpeg 5.1 / libsrt 1.5.1, the
 * handshake encoder round trip, data and control headers, ACK, loss lists (ranges, hostile input),
 * drop requests, 31-bit sequence arithmetic and the datagram size limits.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ParseError } from '../../../../gateway/src/core/errors.js';
import { decodeKeyMaterial } from '../../../../gateway/src/protocols/srt/crypto.js';
import {
  ExtFlag,
  ExtType,
  HS_MAGIC,
  HandshakeType,
  SrtFlag,
  decodeStreamId,
  encodeHandshake,
  encodeStreamId,
  parseHandshake,
  peerIpField,
  type Handshake,
} from '../../../../gateway/src/protocols/srt/handshake.js';
import { inductionResponse } from '../../../../gateway/src/protocols/srt/listener-handshake.js';
import {
  ControlType,
  HEADER_SIZE,
  MAX_PACKET_SIZE,
  SEQ_MAX,
  UserSubtype,
  controlPacket,
  dataHeader,
  decodeAck,
  decodeDropRequest,
  decodeLossList,
  encodeAck,
  encodeDropRequest,
  encodeLossList,
  markRetransmitted,
  parsePacket,
  seqDiff,
  seqNext,
  type ControlPacket,
  type DataPacket,
  type Packet,
} from '../../../../gateway/src/protocols/srt/packet.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function asControl(p: Packet): ControlPacket {
  assert.equal(p.control, true, 'expected a control packet');
  return p as ControlPacket;
}
function asData(p: Packet): DataPacket {
  assert.equal(p.control, false, 'expected a data packet');
  return p as DataPacket;
}

/*
 * Golden datagrams, captured on 2026-12-01 with Debian's ffmpeg 5.1.9 (libsrt 1.5.1) as the caller:
 * a throwaway script (outside the repo) bound a UDP socket on 127.0.0.1:<free port> and ran
 *
 *   ffmpeg -hide_banner -f lavfi -i testsrc2=size=320x240:rate=25 -t 1 -c:v libx264 -f mpegts \
 *     'srt://127.0.0.1:PORT?streamid=#!::r=live/cam1,m=publish&latency=200000'
 *
 * (and once more with `&passphrase=0123456789abcdef&pbkeylen=32` appended). ffmpeg's INDUCTION was
 * answered with controlPacket(Handshake, 0, 0, 1000, <caller socket id>,
 * encodeHandshake(inductionResponse(induction, 0x11223344, 0xcafe1234, '127.0.0.1'))) — the bytes
 * in INDUCTION_RESPONSE — and ffmpeg then sent its CONCLUSION carrying that cookie. Each datagram
 * was saved as hex exactly as received.
 */
const INDUCTION = hex(`
  80000000 00000000 0000007c 00000000
  00000004 00000002 22e03c84 000005dc 00002000 00000001 27858738 00000000
  0100007f 00000000 00000000 00000000`);
const INDUCTION_RESPONSE = hex(`
  80000000 00000000 000003e8 27858738
  00000005 00004a17 22e03c84 000005dc 00002000 00000001 11223344 cafe1234
  0100007f 00000000 00000000 00000000`);
const CONCLUSION = hex(`
  80000000 00000000 00000809 00000000
  00000005 00000005 22e03c84 000005dc 00002000 ffffffff 27858738 cafe1234
  0100007f 00000000 00000000 00000000
  00010003 00010501 000000bf 00c800c8
  00050007 3a3a2123 696c3d72 632f6576 2c316d61 75703d6d 73696c62 00000068`);
/** The same call with `&passphrase=0123456789abcdef&pbkeylen=32` (a second ffmpeg run: other ids). */
const CONCLUSION_CRYPT = hex(`
  80000000 00000000 00001866 00000000
  00000005 00040007 009442cb 000005dc 00002000 ffffffff 28af7034 cafe1234
  0100007f 00000000 00000000 00000000
  00010003 00010501 000000bf 00c800c8
  00050007 3a3a2123 696c3d72 632f6576 2c316d61 75703d6d 73696c62 00000068
  00030012 12202901 00000000 02000200 00000408 0890c06d defaf5fd 781faa51 8f7d8873
  89a1a6d2 9acf1eba 52851b51 79d27b5d 4216318f 03be7dc8 66e90dd3 eafeb7d6 1f45d0bf b54a03c8`);
const STREAM_ID = '#!::r=live/cam1,m=publish';

describe('golden handshakes from ffmpeg 5.1 / libsrt 1.5.1', () => {
  test('INDUCTION: control header, v4, ext 2, type 1, mtu 1500, flow 8192, no extensions', () => {
    const p = asControl(parsePacket(INDUCTION));
    assert.equal(p.type, ControlType.Handshake);
    assert.equal(p.subtype, 0);
    assert.equal(p.info, 0);
    assert.equal(p.timestamp, 0x7c);
    assert.equal(p.destId, 0, 'an INDUCTION goes to socket id 0');
    assert.equal(p.cif.length, 48);
    const hs = parseHandshake(p.cif);
    assert.equal(hs.version, 4);
    assert.equal(hs.encryption, 0);
    assert.equal(hs.extensionField, 2);
    assert.equal(hs.isn, 0x22e03c84);
    assert.equal(hs.mtu, 1500);
    assert.equal(hs.flowWindow, 8192);
    assert.equal(hs.type, HandshakeType.Induction);
    assert.equal(hs.socketId, 0x27858738);
    assert.equal(hs.cookie, 0);
    assert.deepEqual([...hs.peerIp], [...peerIpField('127.0.0.1')], 'peer IP 127.0.0.1, bytes reversed in word 0');
    assert.equal(hs.hsReq, undefined);
    assert.equal(hs.streamId, undefined);
    assert.equal(hs.kmReq, undefined);
  });

  test('the INDUCTION response ffmpeg accepted is what inductionResponse + encodeHandshake + controlPacket build', () => {
    const ind = parseHandshake(asControl(parsePacket(INDUCTION)).cif);
    const rsp = inductionResponse(ind, 0x11223344, 0xcafe1234, '127.0.0.1');
    const bytes = controlPacket(ControlType.Handshake, 0, 0, 1000, ind.socketId, encodeHandshake(rsp));
    assert.equal(bytes.toString('hex'), INDUCTION_RESPONSE.toString('hex'));
    const back = parseHandshake(asControl(parsePacket(bytes)).cif);
    assert.equal(back.version, 5);
    assert.equal(back.extensionField, HS_MAGIC);
    assert.equal(back.isn, ind.isn, 'the listener echoes the caller ISN');
  });

  test('CONCLUSION (no passphrase): v5, ext HSREQ|CONFIG, HSREQ 1.5.1 flags 0xbf 200/200 ms, SID, the cookie echoed', () => {
    const p = asControl(parsePacket(CONCLUSION));
    assert.equal(p.type, ControlType.Handshake);
    assert.equal(p.timestamp, 0x809);
    assert.equal(p.destId, 0);
    const hs = parseHandshake(p.cif);
    assert.equal(hs.version, 5);
    assert.equal(hs.encryption, 0);
    assert.equal(hs.extensionField, ExtFlag.HsReq | ExtFlag.Config);
    assert.equal(hs.extensionField, 0x5);
    assert.equal(hs.isn, 0x22e03c84);
    assert.equal(hs.mtu, 1500);
    assert.equal(hs.flowWindow, 8192);
    assert.equal(hs.type, HandshakeType.Conclusion);
    assert.equal(hs.socketId, 0x27858738);
    assert.equal(hs.cookie, 0xcafe1234, 'the SYN cookie of our INDUCTION response');
    assert.deepEqual(hs.hsReq, { version: 0x010501, flags: 0xbf, recvDelayMs: 200, sendDelayMs: 200 });
    const f = SrtFlag;
    assert.equal(hs.hsReq.flags, f.TsbpdSnd | f.TsbpdRcv | f.Crypt | f.TlPktDrop | f.PeriodicNak | f.RexmitFlg | f.PacketFilter);
    assert.equal(hs.streamId, STREAM_ID);
    assert.equal(hs.kmReq, undefined);
    assert.equal(hs.hsRsp, undefined);
  });

  test('CONCLUSION with passphrase and pbkeylen=32: ext 0x7, encryption 4, KMREQ of 72 bytes that unwraps with the passphrase', () => {
    const hs = parseHandshake(asControl(parsePacket(CONCLUSION_CRYPT)).cif);
    assert.equal(hs.version, 5);
    assert.equal(hs.extensionField, ExtFlag.HsReq | ExtFlag.KmReq | ExtFlag.Config);
    assert.equal(hs.extensionField, 0x7);
    assert.equal(hs.encryption, 4, 'AES-256: key length 32 / 8');
    assert.equal(hs.type, HandshakeType.Conclusion);
    assert.equal(hs.socketId, 0x28af7034);
    assert.deepEqual(hs.hsReq, { version: 0x010501, flags: 0xbf, recvDelayMs: 200, sendDelayMs: 200 });
    assert.equal(hs.streamId, STREAM_ID);
    const km = hs.kmReq;
    assert.ok(km);
    assert.equal(km.length, 72);
    assert.equal(km.readUInt32BE(0), 0x12202901, 'V=1 PT=2 Sign=0x2029 KK=01 (even key)');
    assert.equal(km[8], 2, 'cipher AES-CTR');
    assert.equal(km[10], 2, 'SE = SRT');
    assert.equal(km[14], 4, 'salt 16 bytes');
    assert.equal(km[15], 8, 'key 32 bytes');
    const r = decodeKeyMaterial(km, '0123456789abcdef');
    assert.ok(r.ok, 'the KMREQ unwraps with the passphrase ffmpeg was given');
    assert.equal(r.km.keyLength, 32);
    assert.equal(r.km.even?.length, 32);
    assert.equal(r.km.odd, null);
    assert.equal(decodeKeyMaterial(km, 'another passphrase').ok, false);
  });

  test('SID: the stream id travels as byte-reversed 32-bit words, zero padded', () => {
    const sid = CONCLUSION.subarray(HEADER_SIZE + 48 + 16 + 4);
    assert.equal(sid.toString('latin1', 0, 4), '::!#');
    assert.equal(decodeStreamId(sid), STREAM_ID);
    assert.equal(encodeStreamId(STREAM_ID).toString('hex'), sid.toString('hex'));
    assert.equal(encodeStreamId('abcd').toString('hex'), '64636261');
    assert.equal(encodeStreamId('abcde').toString('hex'), '6463626100000065');
    assert.equal(decodeStreamId(encodeStreamId('ünïcødé/路径')), 'ünïcødé/路径');
    assert.equal(encodeStreamId('').length, 0);
  });
});

describe('handshake encoder round trip', () => {
  const cifOf = (b: Buffer) => asControl(parsePacket(b)).cif;

  test('INDUCTION (v4, 48 bytes): encodeHandshake(parseHandshake(x)) reproduces every byte', () => {
    const cif = cifOf(INDUCTION);
    assert.equal(encodeHandshake(parseHandshake(cif)).toString('hex'), cif.toString('hex'));
  });

  test('CONCLUSION (HSREQ + SID): reproduces every byte', () => {
    const cif = cifOf(CONCLUSION);
    assert.equal(encodeHandshake(parseHandshake(cif)).toString('hex'), cif.toString('hex'));
  });

  test('CONCLUSION with KMREQ: re-encoded byte for byte (HSREQ, SID, KMREQ: libsrt\'s order)', () => {
    const cif = cifOf(CONCLUSION_CRYPT);
    const sid = cif.subarray(64, 96);
    const kmreq = cif.subarray(96);
    assert.equal(sid.readUInt16BE(0), ExtType.Sid);
    assert.equal(kmreq.readUInt16BE(0), ExtType.KmReq);
    assert.equal(kmreq.length, 4 + 72);
    const out = encodeHandshake(parseHandshake(cif));
    assert.equal(out.toString('hex'), cif.toString('hex'));
  });

  test('HSRSP and KMRSP round trip', () => {
    const hs = parseHandshake(cifOf(CONCLUSION_CRYPT));
    const { hsReq: _hsReq, kmReq, ...rest } = hs;
    assert.ok(kmReq);
    const rsp: Handshake = { ...rest, hsRsp: { version: 0x010501, flags: 0x3f, recvDelayMs: 120, sendDelayMs: 250 }, kmRsp: kmReq };
    const back = parseHandshake(encodeHandshake(rsp));
    assert.deepEqual(back.hsRsp, rsp.hsRsp);
    assert.equal(back.kmRsp?.toString('hex'), hs.kmReq?.toString('hex'));
    assert.equal(back.hsReq, undefined);
  });

  test('hostile handshakes: short CIF, an extension past the end, too many extensions, a SID over 512 bytes', () => {
    const cif = Buffer.from(cifOf(CONCLUSION));
    assert.throws(() => parseHandshake(cif.subarray(0, 47)), ParseError);
    const past = Buffer.from(cif);
    past.writeUInt16BE(0x00ff, 48 + 2); // HSREQ claims 255 words
    assert.throws(() => parseHandshake(past), ParseError);
    const shortHs = Buffer.concat([cif.subarray(0, 48), hex('00010002 00010501 000000bf')]);
    assert.throws(() => parseHandshake(shortHs), ParseError);
    const many = Buffer.concat([cif.subarray(0, 48), ...Array.from({ length: 17 }, () => hex('00060000'))]);
    assert.throws(() => parseHandshake(many), (e: Error & { code?: string }) => e.code === 'ERR_LIMIT');
    const bigSid = Buffer.alloc(4 + 516);
    bigSid.writeUInt16BE(ExtType.Sid, 0);
    bigSid.writeUInt16BE(516 / 4, 2);
    assert.throws(() => parseHandshake(Buffer.concat([cif.subarray(0, 48), bigSid])), (e: Error & { code?: string }) => e.code === 'ERR_LIMIT');
    assert.throws(() => encodeStreamId('x'.repeat(513)), (e: Error & { code?: string }) => e.code === 'ERR_LIMIT');
    // Unknown extension types are skipped.
    const withFilter = Buffer.concat([cif, hex('00070001 12345678')]);
    assert.equal(parseHandshake(withFilter).streamId, STREAM_ID);
  });
});

describe('data packet header', () => {
  test('dataHeader golden bytes: seq, PP=11 O=0 KK R msgno, timestamp, destination', () => {
    assert.equal(dataHeader(0x12345678, 5, 0, false, 1000, 0xdeadbeef).toString('hex'), '12345678' + 'c0000005' + '000003e8' + 'deadbeef');
    assert.equal(dataHeader(0x12345678, 5, 1, false, 1000, 0xdeadbeef).toString('hex'), '12345678' + 'c8000005' + '000003e8' + 'deadbeef');
    assert.equal(dataHeader(1, 0x03ffffff, 2, true, 0xffffffff, 1).toString('hex'), '00000001' + 'd7ffffff' + 'ffffffff' + '00000001');
    // Out-of-range inputs are masked, never spill into the F bit or the PP bits.
    assert.equal(dataHeader(0x80000001, 0x04000002, 0, false, 2 ** 32 + 7, 0).toString('hex'), '00000001' + 'c0000002' + '00000007' + '00000000');
  });

  test('parsePacket of a data packet: every field, payload shared with the datagram', () => {
    const payload = Buffer.from('7 TS packets would go here');
    const dgram = Buffer.concat([dataHeader(0x7fffffff, 42, 2, true, 123456, 0x0a0b0c0d), payload]);
    const p = asData(parsePacket(dgram));
    assert.equal(p.seq, 0x7fffffff);
    assert.equal(p.position, 3);
    assert.equal(p.inOrder, false);
    assert.equal(p.key, 2);
    assert.equal(p.retransmitted, true);
    assert.equal(p.msgno, 42);
    assert.equal(p.timestamp, 123456);
    assert.equal(p.destId, 0x0a0b0c0d);
    assert.equal(p.payload.toString(), payload.toString());
    assert.equal(p.payload.buffer, dgram.buffer, 'the payload is a view of the datagram, not a copy');
  });

  test('markRetransmitted sets only the R bit', () => {
    const h = dataHeader(9, 77, 1, false, 5, 6);
    markRetransmitted(h);
    assert.equal(h.toString('hex'), dataHeader(9, 77, 1, true, 5, 6).toString('hex'));
    const p = asData(parsePacket(h));
    assert.equal(p.retransmitted, true);
    assert.equal(p.key, 1);
    assert.equal(p.msgno, 77);
  });
});

describe('control packets', () => {
  test('controlPacket golden bytes: F=1, type, subtype, info, timestamp, destination, CIF', () => {
    const b = controlPacket(ControlType.Ack, 0, 7, 123456, 0x01020304, hex('cafebabe'));
    assert.equal(b.toString('hex'), '80020000' + '00000007' + '0001e240' + '01020304' + 'cafebabe');
    assert.equal(controlPacket(ControlType.Shutdown, 0, 0, 0, 9, Buffer.alloc(4)).toString('hex'), '80050000' + '00000000' + '00000000' + '00000009' + '00000000');
    assert.equal(controlPacket(ControlType.Keepalive, 0, 0, 1, 2).length, HEADER_SIZE);
    const km = controlPacket(ControlType.UserDefined, UserSubtype.KmReq, 0, 0, 0, Buffer.alloc(4));
    assert.equal(km.subarray(0, 4).toString('hex'), 'ffff0003');
  });

  test('parsePacket of control packets', () => {
    const p = asControl(parsePacket(controlPacket(ControlType.UserDefined, UserSubtype.KmRsp, 0xffffffff, 2 ** 32 - 1, 0xfedcba98, hex('0102'))));
    assert.equal(p.type, ControlType.UserDefined);
    assert.equal(p.subtype, UserSubtype.KmRsp);
    assert.equal(p.info, 0xffffffff);
    assert.equal(p.timestamp, 0xffffffff);
    assert.equal(p.destId, 0xfedcba98);
    assert.equal(p.cif.toString('hex'), '0102');
    const d = asControl(parsePacket(controlPacket(ControlType.DropReq, 0, 31, 0, 0, encodeDropRequest(10, 12))));
    assert.equal(d.type, ControlType.DropReq);
    assert.equal(d.info, 31);
  });

  test('ACK: full (28 bytes) golden bytes and round trip; defaults; light ACK; short ACK rejected', () => {
    const full = { lastAcked: 0x7ffffffe, rttUs: 12_345, rttVarUs: 678, availableBuffer: 8000, packetsPerSecond: 1000, capacityPps: 2000, bytesPerSecond: 1_316_000 };
    const b = encodeAck(full);
    assert.equal(b.toString('hex'), '7ffffffe' + '00003039' + '000002a6' + '00001f40' + '000003e8' + '000007d0' + '001414a0');
    assert.deepEqual(decodeAck(b), full);
    assert.deepEqual(decodeAck(encodeAck({ lastAcked: 5 })), { lastAcked: 5, rttUs: 100_000, rttVarUs: 50_000, availableBuffer: 8192, packetsPerSecond: 0, capacityPps: 0, bytesPerSecond: 0 });
    assert.deepEqual(decodeAck(hex('00000010')), { lastAcked: 16 }, 'light ACK');
    assert.deepEqual(decodeAck(hex('80000010 00000001 00000002 00000003')), { lastAcked: 16, rttUs: 1, rttVarUs: 2, availableBuffer: 3 }, 'bit 31 masked; 16-byte ACK');
    assert.throws(() => decodeAck(hex('000000')), ParseError);
    assert.equal(encodeAck({ lastAcked: 0x80000003 }).readUInt32BE(0), 3);
  });

  test('loss list: single numbers and ranges (bit 31 on the first), round trip', () => {
    const ranges = [
      { first: 5, last: 5 },
      { first: 10, last: 20 },
      { first: 0x7ffffffe, last: 1 }, // across the wrap
    ];
    const b = encodeLossList(ranges);
    assert.equal(b.toString('hex'), '00000005' + '8000000a' + '00000014' + 'fffffffe' + '00000001');
    assert.deepEqual(decodeLossList(b), ranges);
    assert.deepEqual(decodeLossList(Buffer.alloc(0)), []);
    assert.deepEqual(decodeLossList(hex('000000')), [], 'a trailing partial word is ignored');
  });

  test('loss list: a backwards range and a range without its end are ParseErrors; maxBytes and maxRanges cap', () => {
    assert.throws(() => decodeLossList(hex('80000014 0000000a')), ParseError);
    assert.throws(() => decodeLossList(hex('00000001 80000014')), ParseError);
    const many = Array.from({ length: 10 }, (_, i) => ({ first: i * 10, last: i * 10 + 1 }));
    assert.equal(encodeLossList(many, 20).length, 16, 'only whole ranges that fit in maxBytes');
    assert.equal(encodeLossList(many).length, 80);
    const big = Array.from({ length: 400 }, (_, i) => ({ first: i * 10, last: i * 10 }));
    assert.equal(encodeLossList(big).length, 1456, 'a NAK never exceeds one datagram (1500 − 28 − 16 bytes of CIF)');
    assert.equal(decodeLossList(encodeLossList(many), 3).length, 3);
  });

  test('drop request: encode, decode, short CIF rejected', () => {
    const b = encodeDropRequest(0x7fffffff, 3);
    assert.equal(b.toString('hex'), '7fffffff00000003');
    assert.deepEqual(decodeDropRequest(b), { first: 0x7fffffff, last: 3 });
    assert.deepEqual(decodeDropRequest(hex('ffffffff 80000001')), { first: 0x7fffffff, last: 1 });
    assert.throws(() => decodeDropRequest(hex('00000001 000000')), ParseError);
  });
});

describe('sequence numbers and datagram limits', () => {
  test('seqNext and seqDiff across the 31-bit wrap', () => {
    assert.equal(seqNext(SEQ_MAX), 0);
    assert.equal(seqNext(SEQ_MAX - 1, 3), 1);
    assert.equal(seqNext(0, -1), SEQ_MAX);
    assert.equal(seqNext(5), 6);
    assert.equal(seqDiff(SEQ_MAX - 1, 1), 3);
    assert.equal(seqDiff(1, SEQ_MAX - 1), -3);
    assert.equal(seqDiff(7, 7), 0);
    assert.equal(seqDiff(0, 0x3fffffff), 0x3fffffff);
    assert.equal(seqDiff(0, 0x40000000), -0x40000000, 'half the space away counts as behind');
    assert.equal(seqDiff(SEQ_MAX, 0), 1);
  });

  test('parsePacket: 15 bytes and 1501 bytes are ParseErrors; 16 and 1500 parse', () => {
    assert.throws(() => parsePacket(Buffer.alloc(15)), ParseError);
    assert.throws(() => parsePacket(Buffer.alloc(MAX_PACKET_SIZE + 1)), ParseError);
    assert.throws(() => parsePacket(Buffer.alloc(1501)), ParseError);
    assert.throws(() => parsePacket(Buffer.alloc(0)), ParseError);
    assert.equal(asData(parsePacket(Buffer.alloc(16))).payload.length, 0);
    assert.equal(asData(parsePacket(Buffer.alloc(1500))).payload.length, 1484);
  });
});
