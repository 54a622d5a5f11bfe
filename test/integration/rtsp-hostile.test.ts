/**
 * Acceptance (issue 15): hostile input on the RTSP port and the UDP pair — garbage, a 1 MB header, an
 * interleaved frame of length 65535 with nothing after, 1,000 half-open connections, sessions that
 * are set up and abandoned, SETUP and PLAY on another connection's session, datagrams from nowhere —
 * ends only the offending connection (with a logged reason) while a stream published over RTSP/UDP
 * keeps flowing to its reader, checked every 500 ms.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { readHttpFlv, type FlvReaderClient } from '../helpers/flv-client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { hasTool } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';

const REQUEST_TIMEOUT = 1500;
const SESSION_TIMEOUT = 2000;

interface Raw {
  socket: Socket;
  closed: Promise<void>;
  isClosed(): boolean;
  text(): string;
  /** Sends a request and resolves with the next complete response head (and body) as text. */
  request(lines: string[], body?: string): Promise<string>;
}

function raw(port: number): Raw {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  let done = false;
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => ((done = true), resolve())));
  let consumed = 0;
  return {
    socket,
    closed,
    isClosed: () => done,
    text: () => received,
    async request(lines, body) {
      const head = lines.join('\r\n') + (body ? `\r\nContent-Length: ${Buffer.byteLength(body)}` : '') + '\r\n\r\n';
      socket.write(head + (body ?? ''));
      const answer = await waitFor(() => {
        const rest = received.slice(consumed);
        const end = rest.indexOf('\r\n\r\n');
        if (end < 0) return null;
        const len = Number(/Content-Length: (\d+)/i.exec(rest.slice(0, end))?.[1] ?? 0);
        if (rest.length < end + 4 + len) return null;
        consumed += end + 4 + len;
        return rest.slice(0, end + 4 + len);
      }, 5000, 'an RTSP response');
      return answer;
    },
  };
}

describe('hostile input on the RTSP port and UDP pair, while an RTSP stream keeps flowing', { concurrency: false }, () => {
  let gw: TestGateway;
  let pub: Publisher;
  let reader: FlvReaderClient;
  let flowing: Promise<void>;
  let stopFlowCheck = false;
  const stalls: string[] = [];

  before(async () => {
    if (!hasTool('ffmpeg') && process.env.CI !== 'true') return;
    gw = await startGateway({ rtsp: { requestTimeoutMs: REQUEST_TIMEOUT, sessionTimeoutMs: SESSION_TIMEOUT } });
    pub = publish(gw.rtspUrl('live/healthy'), { size: '320x240', format: 'rtsp', rtspTransport: 'udp' });
    await waitFor(() => gw.gateway.registry.get('live/healthy')?.tracks.length === 2, 15000, 'healthy stream');
    reader = readHttpFlv(gw.httpUrl('live/healthy.flv'), { keepTags: false });
    await waitFor(() => reader.bytes > 10000, 5000, 'reader flowing');
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
    waitFor(() => gw.logs.find((l) => l.protocol === 'rtsp' && typeof l.reason === 'string' && pattern.test(l.reason) && l.msg.includes('closed')), 5000, `a log line with reason ${pattern}`);

  test('garbage bytes: 400, and the connection is closed with a reason', async () => {
    const c = raw(gw.rtspPort);
    c.socket.write(Buffer.concat([Buffer.from([0x01, 0xff]), randomBytes(4000)]));
    await c.closed;
    assert.match(c.text(), /^RTSP\/1\.0 400 /);
    await closedWith(/protocol error/);
  });

  test('a 1 MB header: 400 once past the head limit, closed', async () => {
    const c = raw(gw.rtspPort);
    c.socket.write(`OPTIONS rtsp://127.0.0.1/live/x RTSP/1.0\r\nCSeq: 1\r\nX-Big: ${'a'.repeat(1024 * 1024)}\r\n\r\n`);
    await c.closed;
    assert.match(c.text(), /^RTSP\/1\.0 400 /);
    await closedWith(/head over/);
  });

  test('an interleaved frame of length 65535 with nothing after: closed by the request timeout', async () => {
    const c = raw(gw.rtspPort);
    c.socket.write(Buffer.from([0x24, 0x00, 0xff, 0xff, 1, 2, 3]));
    const t0 = performance.now();
    await c.closed;
    const waited = performance.now() - t0;
    assert.ok(waited >= REQUEST_TIMEOUT - 100 && waited < REQUEST_TIMEOUT + 3000, `closed after ${waited.toFixed(0)} ms`);
  });

  test('unknown method → 501, RTSP/3.0 → 505, a body over 64 KiB → 413; the first two keep the connection', async () => {
    const c = raw(gw.rtspPort);
    assert.match(await c.request(['FOO rtsp://127.0.0.1/live/x RTSP/1.0', 'CSeq: 1']), /^RTSP\/1\.0 501 .*\r\nCSeq: 1\r\n/);
    assert.match(await c.request(['OPTIONS rtsp://127.0.0.1/live/x RTSP/3.0', 'CSeq: 2']), /^RTSP\/1\.0 505 /);
    assert.match(await c.request(['OPTIONS rtsp://127.0.0.1/live/x RTSP/1.0', 'CSeq: 3']), /^RTSP\/1\.0 200 OK\r\nCSeq: 3\r\n[\s\S]*Public: .*DESCRIBE/);
    c.socket.write('ANNOUNCE rtsp://127.0.0.1/live/x RTSP/1.0\r\nCSeq: 4\r\nContent-Length: 100000\r\n\r\n');
    await c.closed;
    assert.match(c.text(), /RTSP\/1\.0 413 /);
  });

  test('1,000 half-open connections are closed by the request timeout; the count returns to where it was', async () => {
    const before = gw.gateway.rtsp!.connectionCount;
    const conns: Raw[] = [];
    for (let i = 0; i < 1000; i++) {
      const c = raw(gw.rtspPort);
      c.socket.write(`DESCRIBE rtsp://127.0.0.1/live/healthy RTSP/1.0\r\nCSeq: ${i}\r\n`);
      conns.push(c);
    }
    await waitFor(() => gw.gateway.rtsp!.connectionCount >= before + 1000, 10000, '1,000 connections open');
    await Promise.all(conns.map((c) => c.closed));
    await waitFor(() => gw.gateway.rtsp!.connectionCount === before, 5000, 'connection count back');
  });

  test('SETUP and PLAY on another connection\'s session: 454; abandoned UDP sessions time out', async () => {
    const a = raw(gw.rtspPort);
    const described = await a.request(['DESCRIBE rtsp://127.0.0.1/live/healthy RTSP/1.0', 'CSeq: 1']);
    assert.match(described, /^RTSP\/1\.0 200 [\s\S]*m=video[\s\S]*a=control:trackID=0/);
    const setup = await a.request(['SETUP rtsp://127.0.0.1/live/healthy/trackID=0 RTSP/1.0', 'CSeq: 2', 'Transport: RTP/AVP;unicast;client_port=40000-40001']);
    const session = /Session: ([0-9a-f]+)/.exec(setup)?.[1];
    assert.ok(session, setup);
    const b = raw(gw.rtspPort);
    assert.match(await b.request([`SETUP rtsp://127.0.0.1/live/healthy/trackID=1 RTSP/1.0`, 'CSeq: 1', `Session: ${session}`, 'Transport: RTP/AVP/TCP;unicast;interleaved=2-3']), /^RTSP\/1\.0 454 /);
    assert.match(await b.request([`PLAY rtsp://127.0.0.1/live/healthy RTSP/1.0`, 'CSeq: 2', `Session: ${session}`]), /^RTSP\/1\.0 454 /);
    assert.match(await b.request([`TEARDOWN rtsp://127.0.0.1/live/healthy RTSP/1.0`, 'CSeq: 3', `Session: ${session}`]), /^RTSP\/1\.0 454 /);
    assert.ok(gw.gateway.rtsp!.sessions().some((s) => s.id === session), 'the session survived the foreign requests');
    // The session is never played and its client sends nothing: it times out.
    await waitFor(() => !gw.gateway.rtsp!.sessions().some((s) => s.id === session), SESSION_TIMEOUT + 3000, 'abandoned session timed out');
    b.socket.destroy();
    a.socket.destroy();
  });

  test('datagrams from unknown addresses on the RTP and RTCP ports are dropped and counted', async () => {
    const [rtpPort, rtcpPort] = gw.gateway.ports.rtspUdp!;
    const before = gw.gateway.rtsp!.udp!.dropped;
    const s = createSocket('udp4');
    for (let i = 0; i < 500; i++) {
      s.send(randomBytes(1 + (i % 1400)), rtpPort, '127.0.0.1');
      s.send(randomBytes(1 + (i % 200)), rtcpPort, '127.0.0.1');
    }
    await waitFor(() => gw.gateway.rtsp!.udp!.dropped >= before + 1000, 5000, '1,000 datagrams dropped');
    s.close();
  });

  test('the RTSP publisher was never disturbed: no stall, no loss, still one publish session', async () => {
    await sleep(1000);
    assert.deepEqual(stalls, [], 'the healthy stream never stalled');
    const pubSessions = gw.gateway.rtsp!.sessions().filter((s) => s.mode === 'publish');
    assert.equal(pubSessions.length, 1);
    assert.equal(pubSessions[0]!.tracks.find((t) => t.codec === 'H264')!.packetsLost, 0);
  });
});
