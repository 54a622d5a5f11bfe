/**
 * The native send path (gateway/native/srtp_send.cc): the addon is built by `npm ci`; its SRTP is
 * byte for byte the JavaScript SrtpSender's (itself checked against RFC 3711's vectors and werift),
 * werift decrypts what it sends, and what it queues leaves through a real UDP socket with sendmmsg.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { SrtpSession } from 'werift';
import { SrtpSender, SRTP_AES128_CM_HMAC_SHA1_80 } from '../../../../gateway/src/format/srtp.js';
import { NativeSrtp, nativeSendStats, nativeSendUnavailable } from '../../../../gateway/src/protocols/webrtc/transport/native-send.js';

function rtpHeader(seq: number, ts: number, ssrc: number, withMid: boolean): Buffer {
  const h = Buffer.alloc(withMid ? 20 : 12);
  h[0] = withMid ? 0x90 : 0x80;
  h[1] = 96;
  h.writeUInt16BE(seq, 2);
  h.writeUInt32BE(ts >>> 0, 4);
  h.writeUInt32BE(ssrc >>> 0, 8);
  if (withMid) {
    h.writeUInt16BE(0xbede, 12);
    h.writeUInt16BE(1, 14);
    h[16] = 0x10;
    h[17] = 0x30;
  }
  return h;
}

function native(key: Buffer, salt: Buffer): NativeSrtp {
  const n = NativeSrtp.create(key, salt);
  assert.ok(n, `the native addon is loaded (${nativeSendUnavailable})`);
  return n;
}

function fdOf(socket: Socket): number {
  for (const key of Object.getOwnPropertySymbols(socket)) {
    const fd = (socket as unknown as Record<symbol, { handle?: { fd?: unknown } } | undefined>)[key]?.handle?.fd;
    if (typeof fd === 'number') return fd;
  }
  throw new Error('no descriptor');
}

test('the addon protects byte for byte as the JavaScript SRTP does: sequence wrap, two SSRCs, retransmissions', () => {
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const js = new SrtpSender(key, salt);
  const c = native(key, salt);
  for (const ssrc of [0x01020304, 0xfffffff0]) {
    for (let i = 0; i < 400; i++) {
      // Forward across 65535 → 0, with a retransmission of an older packet every 50.
      const seq = i % 50 === 49 ? (65_400 + i - 30) & 0xffff : (65_400 + i) & 0xffff;
      const header = rtpHeader(seq, i * 3000, ssrc, i % 3 === 0);
      const payload = randomBytes((i * 53) % 1460);
      assert.deepEqual(c.protect(header, payload), js.protect(header, payload), `packet ${i} (seq ${seq}) of ${ssrc.toString(16)}`);
    }
  }
});

test('an empty payload, and the largest packet; a larger one or a short header is refused', () => {
  const c = native(randomBytes(16), randomBytes(14));
  assert.equal(c.protect(rtpHeader(1, 0, 1, false), Buffer.alloc(0)).length, 22);
  assert.equal(c.protect(rtpHeader(2, 0, 1, true), Buffer.alloc(1480)).length, 1510);
  assert.throws(() => c.protect(rtpHeader(3, 0, 1, true), Buffer.alloc(1481)), /fit 1500 bytes/);
  assert.throws(() => c.protect(Buffer.alloc(8), Buffer.alloc(10)), /12-byte header/);
  assert.equal(c.queue(0, c.address('127.0.0.1', 9), rtpHeader(4, 0, 1, false), Buffer.alloc(1489)), false);
  assert.throws(() => c.address('not an address', 1), /IP literal/);
});

test('queued packets leave in one batch through a real UDP socket, in order, and werift decrypts each', { timeout: 20_000 }, async () => {
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const receiver = new SrtpSession({
    keys: { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(14), remoteMasterKey: key, remoteMasterSalt: salt },
    profile: SRTP_AES128_CM_HMAC_SHA1_80,
  });
  // Small packets and a larger receive buffer: all 260 are in the sink's queue before it reads one.
  const sink = createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
  const source = createSocket('udp4');
  sink.bind(0, '127.0.0.1');
  source.bind(0, '127.0.0.1');
  await Promise.all([once(sink, 'listening'), once(source, 'listening')]);
  const c = native(key, salt);
  const to = c.address('127.0.0.1', sink.address().port);
  const sent: Buffer[] = [];
  const received: Buffer[] = [];
  const all = new Promise<void>((resolve) =>
    sink.on('message', (m) => {
      received.push(m);
      if (received.length === sent.length) resolve();
    }),
  );
  const before = { ...nativeSendStats };
  // More than one batch of the addon (256) in one turn.
  for (let i = 0; i < 260; i++) {
    const header = rtpHeader((65_500 + i) & 0xffff, i, 0xabcdef01, true);
    const payload = randomBytes(1 + (i % 100));
    assert.equal(c.queue(fdOf(source), to, header, payload), true);
    sent.push(Buffer.concat([header, payload]));
  }
  await all;
  assert.deepEqual(received.map((m) => receiver.decrypt(m)), sent);
  assert.equal(nativeSendStats.sent - before.sent, 260);
  assert.equal(nativeSendStats.failed, before.failed);
  sink.close();
  source.close();
});

test('a frame of same-size packets to one peer leaves as one GSO message; the peer still gets each packet whole, in order', { timeout: 20_000 }, async () => {
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const receiver = new SrtpSession({
    keys: { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(14), remoteMasterKey: key, remoteMasterSalt: salt },
    profile: SRTP_AES128_CM_HMAC_SHA1_80,
  });
  const sinks = [createSocket('udp4'), createSocket('udp4')];
  const source = createSocket('udp4');
  for (const s of [...sinks, source]) s.bind(0, '127.0.0.1');
  await Promise.all([...sinks, source].map((s) => once(s, 'listening')));
  const c = native(key, salt);
  const to = sinks.map((s) => c.address('127.0.0.1', s.address().port));
  // Two viewers' frames, as a keyframe fan-out queues them: 20 packets of 1,200 bytes and a short
  // last one each; then a single audio packet.
  const sent: Buffer[][] = [[], []];
  let seq = 100;
  for (const v of [0, 1, 0]) {
    for (let i = 0; i < 21; i++) {
      const header = rtpHeader(seq++, 9000, 0x11223344, true);
      const payload = randomBytes(i === 20 ? 333 : 1180);
      assert.ok(c.queue(fdOf(source), to[v]!, header, payload));
      sent[v]!.push(Buffer.concat([header, payload]));
    }
  }
  const audio = rtpHeader(seq++, 960, 0x55667788, false);
  assert.ok(c.queue(fdOf(source), to[1]!, audio, Buffer.alloc(80, 1)));
  sent[1]!.push(Buffer.concat([audio, Buffer.alloc(80, 1)]));
  const received = sinks.map((s, v) => {
    const got: Buffer[] = [];
    return new Promise<Buffer[]>((resolve) =>
      s.on('message', (m) => {
        got.push(m);
        if (got.length === sent[v]!.length) resolve(got);
      }),
    );
  });
  const before = { ...nativeSendStats };
  const got = await Promise.all(received);
  for (const v of [0, 1]) assert.deepEqual(got[v]!.map((m) => receiver.decrypt(m)), sent[v]);
  const datagrams = nativeSendStats.sent - before.sent;
  const messages = nativeSendStats.messages - before.messages;
  assert.equal(datagrams, 64);
  // One message per viewer's frame (and one for the audio packet), where the kernel has UDP GSO.
  assert.equal(messages, 4, `${datagrams} datagrams in ${messages} messages`);
  for (const s of [...sinks, source]) s.close();
});
