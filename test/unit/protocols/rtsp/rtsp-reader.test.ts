import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  interleavedHeader,
  MAX_BODY,
  MAX_HEAD,
  RtspProtocolError,
  RtspReader,
  serializeRequest,
  serializeResponse,
  type RtspRequest,
  type RtspResponse,
} from '../../../../gateway/src/protocols/rtsp/rtsp-reader.js';

// An ANNOUNCE as ffmpeg 5/6 sends it (-f rtsp), with its SDP body.
const sdp =
  'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=tool:libavformat 59.27.100\r\n' +
  'm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:streamid=0\r\n';
const announce = Buffer.from(
  'ANNOUNCE rtsp://127.0.0.1:8554/live/cam1 RTSP/1.0\r\n' +
    'Content-Type: application/sdp\r\n' +
    'CSeq: 2\r\n' +
    'User-Agent: Lavf59.27.100\r\n' +
    `Content-Length: ${sdp.length}\r\n` +
    '\r\n' +
    sdp,
  'latin1',
);

test('a request with a body, in one piece and byte by byte', () => {
  for (const pieces of [[announce], [...announce].map((b) => Buffer.from([b]))]) {
    const reader = new RtspReader();
    const items = pieces.flatMap((p) => reader.push(p));
    assert.equal(items.length, 1);
    const r = items[0] as RtspRequest;
    assert.equal(r.kind, 'request');
    assert.equal(r.method, 'ANNOUNCE');
    assert.equal(r.uri, 'rtsp://127.0.0.1:8554/live/cam1');
    assert.equal(r.version, 'RTSP/1.0');
    assert.equal(r.headers.get('cseq'), '2');
    assert.equal(r.headers.get('CONTENT-TYPE'), 'application/sdp');
    assert.equal(r.body.toString('latin1'), sdp);
    assert.equal(reader.buffered, 0);
  }
});

test('interleaved frames between messages, split anywhere; the frame is a view of the bytes', () => {
  const rtp = Buffer.from([0x80, 0x60, 0x00, 0x01, 0, 0, 0, 1, 0, 0, 0, 2, 0xaa, 0xbb]);
  const keepalive = Buffer.from('GET_PARAMETER rtsp://h/live/cam1 RTSP/1.0\r\nCSeq: 9\r\nSession: 12345678\r\n\r\n');
  const all = Buffer.concat([interleavedHeader(0, rtp.length), rtp, keepalive, interleavedHeader(1, 0), Buffer.from('\r\n')]);
  for (let cut = 0; cut <= all.length; cut++) {
    const reader = new RtspReader();
    const items = [...reader.push(all.subarray(0, cut)), ...reader.push(all.subarray(cut))];
    assert.deepEqual(
      items.map((i) => i.kind),
      ['interleaved', 'request', 'interleaved'],
      `cut at ${cut}`,
    );
    assert.equal(items[0]!.kind === 'interleaved' && items[0]!.channel, 0);
    assert.deepEqual(items[0]!.kind === 'interleaved' && items[0]!.data, rtp);
    assert.equal((items[1] as RtspRequest).headers.get('session'), '12345678');
    assert.equal(items[2]!.kind === 'interleaved' && items[2]!.data.length, 0);
  }
});

test('a response (from a camera), with lenient LF line ends', () => {
  const reader = new RtspReader();
  const [r] = reader.push(Buffer.from('RTSP/1.0 401 Unauthorized\nCSeq: 3\nWWW-Authenticate: Digest realm="cam", nonce="abc"\nWWW-Authenticate: Basic realm="cam"\n\n')) as RtspResponse[];
  assert.equal(r!.status, 401);
  assert.equal(r!.reason, 'Unauthorized');
  assert.deepEqual(r!.headers.all('www-authenticate'), ['Digest realm="cam", nonce="abc"', 'Basic realm="cam"']);
});

test('an interleaved frame of 65535 bytes with nothing after waits, holding only what came', () => {
  const reader = new RtspReader();
  assert.deepEqual(reader.push(Buffer.from([0x24, 0, 0xff, 0xff])), []);
  assert.equal(reader.buffered, 4);
});

test('limits and garbage are RtspProtocolErrors with the status to answer', () => {
  const cases: [string, Buffer, number, RegExp][] = [
    ['garbage', Buffer.from([0x16, 0x03, 0x01, 0x00]), 400, /0x16/],
    ['a head over the limit', Buffer.concat([Buffer.from('OPTIONS * RTSP/1.0\r\nX: '), Buffer.alloc(MAX_HEAD, 0x61)]), 400, /head over/],
    ['a body over the limit', Buffer.from(`ANNOUNCE rtsp://h/a RTSP/1.0\r\nCSeq: 1\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n`), 413, /body of/],
    ['a bad Content-Length', Buffer.from('ANNOUNCE rtsp://h/a RTSP/1.0\r\nContent-Length: -5\r\n\r\n'), 400, /Content-Length/],
    ['a bad request line', Buffer.from('GET /index.html HTTP/1.1\r\n\r\n'), 400, /request line/],
    ['a header without a name', Buffer.from('OPTIONS * RTSP/1.0\r\n: x\r\n\r\n'), 400, /header line/],
    ['too many headers', Buffer.from(`OPTIONS * RTSP/1.0\r\n${'A: b\r\n'.repeat(65)}\r\n`), 400, /header lines/],
  ];
  for (const [name, bytes, status, message] of cases) {
    assert.throws(
      () => new RtspReader().push(bytes),
      (e: unknown) => e instanceof RtspProtocolError && e.status === status && message.test(e.message),
      name,
    );
  }
});

test('a 1 MB head fed in pieces fails once the limit is passed, not after buffering it all', () => {
  const reader = new RtspReader();
  reader.push(Buffer.from('OPTIONS * RTSP/1.0\r\nX: '));
  let fed = 0;
  assert.throws(() => {
    for (; fed < 1 << 20; fed += 1024) reader.push(Buffer.alloc(1024, 0x61));
  }, RtspProtocolError);
  assert.ok(fed <= MAX_HEAD, `failed after ${fed} bytes`);
});

test('serializers: golden bytes', () => {
  assert.equal(
    serializeResponse(200, 'OK', [['CSeq', '1'], ['Public', 'OPTIONS, DESCRIBE']]).toString(),
    'RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n',
  );
  assert.equal(
    serializeResponse(200, 'OK', [['CSeq', '2'], ['Content-Type', 'application/sdp']], 'v=0\r\n').toString(),
    'RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n',
  );
  assert.equal(serializeRequest('DESCRIBE', 'rtsp://cam/s1', [['CSeq', '2'], ['Accept', 'application/sdp']]).toString(), 'DESCRIBE rtsp://cam/s1 RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n');
  assert.deepEqual(interleavedHeader(3, 1400), Buffer.from([0x24, 3, 0x05, 0x78]));
  assert.throws(() => interleavedHeader(0, 65536), RangeError);
  // Round trip through the reader.
  const [back] = new RtspReader().push(serializeResponse(200, 'OK', [['CSeq', '2']], 'v=0\r\n')) as RtspResponse[];
  assert.equal(back!.body.toString(), 'v=0\r\n');
});
