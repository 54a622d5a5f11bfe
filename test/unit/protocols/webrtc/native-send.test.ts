/**
 * The native send path (gateway/native/srtp_send.cc): the addon is built by `npm ci`; its SRTP is
 * byte for byte the JavaScript SrtpSender's (itself checked against RFC 3711's vectors and werift),
 * werift decrypts what it sends, and what it queues leaves through a real UDP socket with sendmmsg.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import { SrtpSession } from 'werift';
import { SrtpSender, SRTP_AES128_CM_HMAC_SHA1_80 } from '../../../../gateway/src/format/srtp.js';
import { flushNativeSends, NativeSrtp, nativeSendStats, nativeSendUnavailable } from '../../../../gateway/src/protocols/webrtc/transport/native-send.js';
import { rtpHeader } from '../../../helpers/rtp-header.js';
import { requireTools } from '../../../helpers/tools.js';


/**
 * The addon is built by `npm ci` with python3, make and g++: without them (locally) the test skips as
 * every test that needs a tool does, in CI it fails; with them, the addon must be there.
 */
function addonBuilt(t: TestContext): boolean {
  if (!requireTools(t, 'python3', 'make', 'g++')) return false;
  assert.equal(nativeSendUnavailable, '', 'the native addon is built and loaded');
  return true;
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

test('the addon protects byte for byte as the JavaScript SRTP does: sequence wrap, two SSRCs, retransmissions', (t) => {
  if (!addonBuilt(t)) return;
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

test('an empty payload, and the largest packet; a larger one or a short header is refused', (t) => {
  if (!addonBuilt(t)) return;
  const c = native(randomBytes(16), randomBytes(14));
  assert.equal(c.protect(rtpHeader(1, 0, 1, false), Buffer.alloc(0)).length, 22);
  assert.equal(c.protect(rtpHeader(2, 0, 1, true), Buffer.alloc(1480)).length, 1510);
  assert.throws(() => c.protect(rtpHeader(3, 0, 1, true), Buffer.alloc(1481)), /fit 1500 bytes/);
  assert.throws(() => c.protect(Buffer.alloc(8), Buffer.alloc(10)), /12-byte header/);
  assert.equal(c.queue(0, c.address('127.0.0.1', 9), rtpHeader(4, 0, 1, false), Buffer.alloc(1489)), false);
  assert.throws(() => c.address('not an address', 1), /IP literal/);
});

test('queued packets leave through a real UDP socket, in order, over more than one batch, and werift decrypts each', { timeout: 20_000 }, async (t) => {
  if (!addonBuilt(t)) return;
  const key = randomBytes(16);
  const salt = randomBytes(14);
  // More than one batch of the addon (1,024 datagrams) in one turn, spread over five peers so that
  // each peer's receive queue holds its share before it reads one.
  const total = 1030;
  const sinks = Array.from({ length: 5 }, () => createSocket({ type: 'udp4', recvBufferSize: 1 << 20 }));
  const source = createSocket('udp4');
  for (const s of [...sinks, source]) s.bind(0, '127.0.0.1');
  await Promise.all([...sinks, source].map((s) => once(s, 'listening')));
  const c = native(key, salt);
  const to = sinks.map((s) => c.address('127.0.0.1', s.address().port));
  const sent: Buffer[][] = sinks.map(() => []);
  for (let i = 0; i < total; i++) {
    const header = rtpHeader((65_000 + i) & 0xffff, i, 0xabcdef01, true);
    const payload = randomBytes(1 + (i % 100));
    assert.equal(c.queue(fdOf(source), to[i % sinks.length]!, header, payload), true);
    sent[i % sinks.length]!.push(Buffer.concat([header, payload]));
  }
  const before = { ...nativeSendStats };
  const received = await Promise.all(
    sinks.map((s, v) => {
      const got: Buffer[] = [];
      return new Promise<Buffer[]>((resolve) =>
        s.on('message', (m) => {
          got.push(m);
          if (got.length === sent[v]!.length) resolve(got);
        }),
      );
    }),
  );
  for (const [v, got] of received.entries()) {
    // One receiver per peer, as each viewer tracks its own rollover counter.
    const receiver = new SrtpSession({
      keys: { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(14), remoteMasterKey: key, remoteMasterSalt: salt },
      profile: SRTP_AES128_CM_HMAC_SHA1_80,
    });
    assert.deepEqual(got.map((m) => receiver.decrypt(m)), sent[v]);
  }
  assert.equal(nativeSendStats.sent - before.sent, total);
  assert.equal(nativeSendStats.failed, before.failed);
  for (const s of [...sinks, source]) s.close();
});

test('queueFrame numbers a frame\'s packets from the header on, marks only the last, and is the same SRTP as packet by packet', { timeout: 20_000 }, async (t) => {
  if (!addonBuilt(t)) return;
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const js = new SrtpSender(key, salt);
  const sink = createSocket('udp4');
  const source = createSocket('udp4');
  for (const s of [sink, source]) s.bind(0, '127.0.0.1');
  await Promise.all([sink, source].map((s) => once(s, 'listening')));
  const c = native(key, salt);
  const to = c.address('127.0.0.1', sink.address().port);
  const expected: Buffer[] = [];
  // Two frames across the sequence wrap: one with the marker (a frame's end), one without.
  let seq = 65_533;
  for (const marker of [true, false]) {
    const payloads = Array.from({ length: 4 }, (_, i) => randomBytes(100 + i * 300));
    const header = rtpHeader(seq, 90_000, 0x0badcafe, true);
    header[1] = 0x80 | 96; // a stale marker in the template is cleared on all but the last
    const template = Buffer.from(header);
    assert.equal(c.queueFrame(fdOf(source), to, header, payloads, marker), 4);
    assert.deepEqual(header, template, 'the template header is not written');
    for (const [i, payload] of payloads.entries()) {
      const h = rtpHeader((seq + i) & 0xffff, 90_000, 0x0badcafe, true);
      h[1] = (i === 3 && marker ? 0x80 : 0) | 96;
      expected.push(js.protect(h, payload));
    }
    seq = (seq + 4) & 0xffff;
  }
  const got: Buffer[] = [];
  await new Promise<void>((resolve) =>
    sink.on('message', (m) => {
      got.push(m);
      if (got.length === expected.length) resolve();
    }),
  );
  assert.deepEqual(got, expected);
  // A payload too large stops the frame there: the packets before it are queued, none after.
  const oversized = [Buffer.alloc(10), Buffer.alloc(1481), Buffer.alloc(10)];
  assert.equal(c.queueFrame(fdOf(source), to, rtpHeader(1, 0, 1, true), oversized, true), 1);
  assert.throws(() => c.queueFrame(fdOf(source), to, rtpHeader(1, 0, 1, true), ['not a buffer' as unknown as Buffer], true), /must be Buffers/);
  // What is queued leaves before the socket closes (its descriptor may be reused at once).
  flushNativeSends();
  for (const s of [sink, source]) s.close();
});

test('a frame of same-size packets to one peer leaves as one GSO message; the peer still gets each packet whole, in order', { timeout: 20_000 }, async (t) => {
  if (!addonBuilt(t)) return;
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
