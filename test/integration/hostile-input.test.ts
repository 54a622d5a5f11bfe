/**
 * Acceptance: hostile input on the RTMP and HTTP ports closes only the offending connection, with a
 * logged reason, while a healthy stream keeps flowing to its readers throughout (asserted second by
 * second in the same test).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { readHttpFlv, type FlvReaderClient } from '../helpers/flv-client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { hasTool } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';

const HANDSHAKE_TIMEOUT = 1500;

/** Opens a raw TCP connection; resolves when the peer closes it, with the bytes it sent. */
function rawConnection(port: number): { socket: Socket; closed: Promise<Buffer>; received: () => Buffer } {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => {});
  const closed = new Promise<Buffer>((resolve) => socket.on('close', () => resolve(Buffer.concat(chunks))));
  return { socket, closed, received: () => Buffer.concat(chunks) };
}

/** A plain RTMP handshake done by hand (C0C1 → S0S1S2 → C2), independent of livegate's code. */
async function handshake(port: number) {
  const conn = rawConnection(port);
  await new Promise<void>((r) => conn.socket.once('connect', () => r()));
  const c1 = Buffer.alloc(1536);
  randomBytes(1528).copy(c1, 8);
  conn.socket.write(Buffer.concat([Buffer.from([3]), c1]));
  await waitFor(() => conn.received().length >= 3073, 3000, 'S0S1S2');
  conn.socket.write(conn.received().subarray(1, 1537)); // C2 = echo of S1
  return conn;
}

/** One chunk, type 0 header on csid 2/3, as a hostile client would write it. */
function chunk0(csid: number, typeId: number, length: number, payload: Buffer, streamId = 0): Buffer {
  const h = Buffer.alloc(12);
  h[0] = csid;
  h.writeUIntBE(0, 1, 3);
  h.writeUIntBE(length, 4, 3);
  h[7] = typeId;
  h.writeUInt32LE(streamId, 8);
  return Buffer.concat([h, payload]);
}

function amfString(s: string): Buffer {
  const b = Buffer.alloc(3 + s.length);
  b[0] = 2;
  b.writeUInt16BE(s.length, 1);
  b.write(s, 3, 'latin1');
  return b;
}

describe('hostile input on every port, while a stream keeps flowing', { concurrency: false }, () => {
  let gw: TestGateway;
  let pub: Publisher;
  let reader: FlvReaderClient;
  let flowing: Promise<void>;
  let stopFlowCheck = false;
  const stalls: string[] = [];

  before(async () => {
    if (!hasTool('ffmpeg') && process.env.CI !== 'true') return;
    gw = await startGateway({ rtmp: { handshakeTimeoutMs: HANDSHAKE_TIMEOUT }, http: { headersTimeoutMs: 1500 } });
    pub = publish(gw.rtmpUrl('live/healthy'), { size: '320x240' });
    await waitFor(() => gw.gateway.registry.get('live/healthy')?.tracks.length === 2, 10000, 'healthy stream');
    reader = readHttpFlv(gw.httpUrl('live/healthy.flv'), { keepTags: false });
    await waitFor(() => reader.bytes > 10000, 5000, 'reader flowing');
    // Every 500 ms the reader must have received more bytes: the stream never stalls.
    flowing = (async () => {
      let last = reader.bytes;
      while (!stopFlowCheck) {
        await sleep(500);
        if (reader.bytes === last) stalls.push(new Date().toISOString());
        last = reader.bytes;
      }
    })();
  });

  after(async () => {
    stopFlowCheck = true;
    await flowing;
    reader?.close();
    await pub?.stop();
    await gw?.close();
  });

  const closedWith = (pattern: RegExp) =>
    waitFor(() => gw.logs.find((l) => typeof l.reason === 'string' && pattern.test(l.reason) && l.msg.includes('closed')), 5000, `a log line with reason ${pattern}`);

  test('RTMP: random bytes', async () => {
    const conn = rawConnection(gw.rtmpPort);
    conn.socket.write(Buffer.concat([Buffer.from([0x7f]), randomBytes(4000)]));
    await conn.closed;
    await closedWith(/version|C0|handshake/i);
  });

  test('RTMP: truncated handshake is closed by the timeout', async () => {
    const conn = rawConnection(gw.rtmpPort);
    conn.socket.write(Buffer.concat([Buffer.from([3]), randomBytes(700)]));
    const t0 = performance.now();
    await conn.closed;
    const waited = performance.now() - t0;
    assert.ok(waited >= HANDSHAKE_TIMEOUT - 100 && waited < HANDSHAKE_TIMEOUT + 2000, `closed after ${waited.toFixed(0)} ms`);
    await closedWith(/within \d+ ms/);
  });

  test('RTMP: chunk size 0x7fffffff', async () => {
    const conn = await handshake(gw.rtmpPort);
    const size = Buffer.alloc(4);
    size.writeUInt32BE(0x7fffffff);
    conn.socket.write(chunk0(2, 1, 4, size));
    await conn.closed;
    await closedWith(/chunk size/i);
  });

  test('RTMP: a 16 MB message length', async () => {
    const conn = await handshake(gw.rtmpPort);
    conn.socket.write(chunk0(3, 20, 0xffffff, randomBytes(128)));
    await conn.closed;
    await closedWith(/message/i);
  });

  test('RTMP: AMF0 nested 10,000 deep', async () => {
    const conn = await handshake(gw.rtmpPort);
    const nest = Buffer.alloc(10_000 * 4);
    for (let i = 0; i < 10_000; i++) {
      nest[i * 4] = 0x03; // object
      nest.writeUInt16BE(1, i * 4 + 1); // key length 1
      nest[i * 4 + 3] = 0x61; // key "a", whose value is the next object
    }
    const payload = Buffer.concat([amfString('connect'), Buffer.from([0, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]), nest]);
    // Chunk it at the default 128-byte chunk size (type 3 continuation headers).
    const parts: Buffer[] = [chunk0(3, 20, payload.length, payload.subarray(0, 128))];
    for (let off = 128; off < payload.length; off += 128) parts.push(Buffer.from([0xc3]), payload.subarray(off, off + 128));
    conn.socket.write(Buffer.concat(parts));
    await conn.closed;
    await closedWith(/depth|nest/i);
  });

  test('RTMP: 1,000 connections that never finish the handshake', async () => {
    const conns = Array.from({ length: 1000 }, (_, i) => {
      const c = rawConnection(gw.rtmpPort);
      if (i % 2 === 0) c.socket.write(Buffer.from([3]));
      return c;
    });
    const results = await Promise.all(conns.map((c) => c.closed));
    assert.equal(results.length, 1000);
    assert.ok(reader.bytes > 0);
  });

  test('HTTP: random bytes get 400 and a close', async () => {
    const conn = rawConnection(gw.httpPort);
    conn.socket.write(randomBytes(2000));
    const reply = await conn.closed;
    assert.match(reply.toString('latin1'), /^HTTP\/1\.1 400/);
    await waitFor(() => gw.logs.find((l) => l.msg === 'http connection closed' && /HPE_|Parse/i.test(String(l.reason))), 3000, 'logged parse error');
  });

  test('HTTP: a slow-loris request is cut off', async () => {
    const conn = rawConnection(gw.httpPort);
    conn.socket.write('GET /live/healthy.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const drip = setInterval(() => conn.socket.write('X-Slow: 1\r\n'), 300);
    const t0 = performance.now();
    await conn.closed;
    clearInterval(drip);
    const waited = performance.now() - t0;
    assert.ok(waited < 5000, `slow-loris closed after ${waited.toFixed(0)} ms`);
    await waitFor(() => gw.logs.find((l) => l.msg === 'http connection closed' && /TIMEOUT/i.test(String(l.reason))), 3000, 'logged timeout');
  });

  test('the healthy stream flowed throughout and its reader is still there', () => {
    assert.deepEqual(stalls, [], 'no 500 ms window without data');
    assert.ok(gw.gateway.registry.get('live/healthy'), 'stream still live');
    assert.equal(gw.gateway.registry.get('live/healthy')?.readerCount, 1);
  });
});
