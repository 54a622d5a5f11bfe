/**
 * livegate's SRTP sender (AES_CM_128_HMAC_SHA1_80) against RFC 3711's test vectors, and against an
 * independent implementation: werift's SRTP session decrypts and authenticates every packet,
 * across a sequence-number wrap; and its SRTCP both ways against werift's.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { SrtcpSession, SrtpSession } from 'werift';
import { aesCmKeystream, deriveSessionKey, SrtcpContext, SrtpSender, SRTP_AES128_CM_HMAC_SHA1_80 } from '../../../gateway/src/format/srtp.js';
import { rtpHeader } from '../../helpers/rtp-header.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('RFC 3711 B.2: the AES-CM keystream', () => {
  const ks = aesCmKeystream(hex('2B7E151628AED2A6ABF7158809CF4F3C'), hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000'), 48);
  assert.equal(ks.toString('hex').toUpperCase(), 'E03EAD0935C95E80E166B16DD92B4EB4' + 'D23513162B02D0F72A43A2FE4A5F97AB' + '41E95B3BB0A2E8DD477901E4FCA894C0');
});

test('RFC 3711 B.3: session keys derived from the master key and salt', () => {
  const key = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
  const salt = hex('0EC675AD498AFEEBB6960B3AABE6');
  assert.equal(deriveSessionKey(key, salt, 0, 16).toString('hex').toUpperCase(), 'C61E7A93744F39EE10734AFE3FF7A087');
  assert.equal(deriveSessionKey(key, salt, 2, 14).toString('hex').toUpperCase(), '30CBBC08863D8C85D49DB34A9AE1');
  assert.equal(deriveSessionKey(key, salt, 1, 20).toString('hex').toUpperCase(), 'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');
});


test('werift decrypts and authenticates every packet, across a sequence-number wrap, for two SSRCs', () => {
  const masterKey = randomBytes(16);
  const masterSalt = randomBytes(14);
  const sender = new SrtpSender(masterKey, masterSalt);
  const receiver = new SrtpSession({
    keys: { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(14), remoteMasterKey: masterKey, remoteMasterSalt: masterSalt },
    profile: SRTP_AES128_CM_HMAC_SHA1_80,
  });
  for (const ssrc of [0x12345678, 0xfedcba98]) {
    for (let i = 0; i < 600; i++) {
      const seq = (65_300 + i) & 0xffff;
      const header = rtpHeader(seq, i * 3000, ssrc, i % 2 === 0, true);
      const payload = randomBytes(1 + ((i * 37) % 1200));
      const packet = sender.protect(header, payload);
      assert.equal(packet.length, header.length + payload.length + 10);
      // (A 1-byte payload comes out unchanged once in 256: only payloads of 8 bytes or more are compared.)
      if (payload.length >= 8) assert.ok(!packet.subarray(header.length, header.length + payload.length).equals(payload), 'the payload is encrypted');
      const plain = receiver.decrypt(packet);
      assert.deepEqual(plain, Buffer.concat([header, payload]), `packet ${i} of ${ssrc.toString(16)}`);
    }
  }
});

test('a tampered packet fails authentication at the receiver; oversized packets are refused', () => {
  const masterKey = randomBytes(16);
  const masterSalt = randomBytes(14);
  const sender = new SrtpSender(masterKey, masterSalt);
  const receiver = new SrtpSession({
    keys: { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(14), remoteMasterKey: masterKey, remoteMasterSalt: masterSalt },
    profile: SRTP_AES128_CM_HMAC_SHA1_80,
  });
  const packet = sender.protect(rtpHeader(1, 0, 1, false, true), randomBytes(100));
  packet[20] = packet[20]! ^ 1;
  assert.throws(() => receiver.decrypt(packet));
  assert.throws(() => sender.protect(rtpHeader(2, 0, 1, false, true), Buffer.alloc(1500)), RangeError);
  assert.throws(() => new SrtpSender(Buffer.alloc(15), Buffer.alloc(14)), RangeError);
});

/** An RTCP compound packet: a sender report (with one report block) and an SDES CNAME, as werift sends them. */
function rtcpCompound(ssrc: number, i: number): Buffer {
  const sr = Buffer.alloc(52);
  sr[0] = 0x81;
  sr[1] = 200;
  sr.writeUInt16BE(52 / 4 - 1, 2);
  sr.writeUInt32BE(ssrc >>> 0, 4);
  sr.writeUInt32BE(0xe0000000 + i, 8);
  sr.writeUInt32BE(i * 1000, 12);
  sr.writeUInt32BE(i * 3000, 16);
  sr.writeUInt32BE(i, 20);
  sr.writeUInt32BE(i * 1200, 24);
  randomBytes(24).copy(sr, 28);
  const sdes = Buffer.from([0x81, 202, 0, 3, 0, 0, 0, 0, 1, 4, 0x61, 0x62, 0x63, 0x64, 0, 0]);
  sdes.writeUInt32BE(ssrc >>> 0, 4);
  return Buffer.concat([sr, sdes]);
}

test('SRTCP: werift unprotects what livegate protects, and livegate what werift protects, for two SSRCs', () => {
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const ours = new SrtcpContext(key, salt);
  const werift = new SrtcpSession({
    keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt },
    profile: SRTP_AES128_CM_HMAC_SHA1_80,
  });
  for (let i = 0; i < 300; i++) {
    const rtcp = rtcpCompound(i % 2 ? 0x01020304 : 0xfedcba98, i);
    const protectedByUs = ours.protect(rtcp);
    assert.equal(protectedByUs.length, rtcp.length + 14);
    assert.deepEqual(protectedByUs.subarray(0, 8), rtcp.subarray(0, 8), 'the first 8 bytes stay in the clear');
    assert.notDeepEqual(protectedByUs.subarray(8, rtcp.length), rtcp.subarray(8));
    assert.equal(protectedByUs.readUInt32BE(rtcp.length), (0x80000000 | (i + 1)) >>> 0, 'E flag and a rising index');
    assert.deepEqual(werift.decrypt(protectedByUs), rtcp, `werift decrypts packet ${i}`);
    assert.deepEqual(ours.unprotect(werift.encrypt(rtcp)), rtcp, `livegate decrypts werift's packet ${i}`);
  }
});

test('SRTCP: a tampered, truncated or oversized packet is refused; an unencrypted one (E = 0) is authenticated only', () => {
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const sender = new SrtcpContext(key, salt);
  const receiver = new SrtcpContext(key, salt);
  const rtcp = rtcpCompound(0x11223344, 1);
  const good = sender.protect(rtcp);
  for (const at of [0, 9, rtcp.length, good.length - 1]) {
    const bad = Buffer.from(good);
    bad[at] = bad[at]! ^ 0x01;
    assert.throws(() => receiver.unprotect(bad), /authentication failed/, `a flipped bit at byte ${at}`);
  }
  assert.throws(() => receiver.unprotect(good.subarray(0, 21)), /not one/);
  assert.throws(() => receiver.unprotect(Buffer.alloc(1600)), /not one/);
  assert.throws(() => sender.protect(Buffer.alloc(7)), /cannot be protected/);
  assert.throws(() => sender.protect(Buffer.alloc(1501)), /cannot be protected/);
  assert.deepEqual(receiver.unprotect(good), rtcp);
  // E = 0: the RTCP is sent in the clear, still authenticated (werift's encryptRTCP always encrypts, so
  // this one is made by hand: the tag is HMAC-SHA1 over packet || index with the label-4 key).
  const clear = Buffer.concat([rtcp, Buffer.from([0, 0, 0, 7])]);
  const tag = createHmac('sha1', deriveSessionKey(key, salt, 4, 20)).update(clear).digest().subarray(0, 10);
  assert.deepEqual(receiver.unprotect(Buffer.concat([clear, tag])), rtcp);
});
