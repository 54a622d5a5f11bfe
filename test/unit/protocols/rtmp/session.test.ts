/**
 * Handshake and sessions without sockets: the digest handshake as ffmpeg checks it, and a client
 * session wired back to back with a server session (publish, play, media, end of stream).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProtocolError } from '../../../../gateway/src/core/errors.js';
import { RtmpClientSession } from '../../../../gateway/src/protocols/rtmp/client-session.js';
import { HANDSHAKE_SIZE, ServerHandshake, digestC1, verifyServerResponse } from '../../../../gateway/src/protocols/rtmp/handshake.js';
import { RtmpServerSession, type MediaEvent } from '../../../../gateway/src/protocols/rtmp/server-session.js';

describe('handshake', () => {
  test('plain C1 → S2 echoes C1, S1 version is zero', () => {
    const hs = new ServerHandshake();
    const c1 = Buffer.alloc(HANDSHAKE_SIZE, 0x5a);
    c1.writeUInt32BE(0, 4);
    const step = hs.feed(Buffer.concat([Buffer.from([3]), c1]));
    assert.equal(step.send!.length, 1 + 2 * HANDSHAKE_SIZE);
    assert.equal(step.send![0], 3);
    assert.equal(step.send!.readUInt32BE(5), 0);
    assert.ok(step.send!.subarray(1 + HANDSHAKE_SIZE).equals(c1));
    const done = hs.feed(Buffer.concat([Buffer.alloc(HANDSHAKE_SIZE), Buffer.from('0203', 'hex')]));
    assert.equal(done.done, true);
    assert.equal(done.rest!.toString('hex'), '0203');
  });
  for (const scheme of [0, 1] as const) {
    test(`digest C1 (scheme ${scheme}) → S1 digest and S2 signature verify as ffmpeg checks them`, () => {
      const c1 = digestC1(scheme);
      const step = new ServerHandshake().feed(Buffer.concat([Buffer.from([3]), c1]));
      const s1 = step.send!.subarray(1, 1 + HANDSHAKE_SIZE);
      const s2 = step.send!.subarray(1 + HANDSHAKE_SIZE);
      assert.ok(s1[5]! >= 3, 'version byte tells ffmpeg to verify');
      assert.ok(verifyServerResponse(c1, s1, s2));
    });
  }
  test('RTMPE (version 6) and garbage C0 are refused', () => {
    assert.throws(() => new ServerHandshake().feed(Buffer.from([6])), ProtocolError);
    assert.throws(() => new ServerHandshake().feed(Buffer.from([0x47, 0x45, 0x54])), ProtocolError);
  });
});

/** Wires a client session and a server session back to back, delivering bytes asynchronously. */
function pair() {
  const queue: (() => void)[] = [];
  let server!: RtmpServerSession;
  const client = new RtmpClientSession({ send: (b) => queue.push(() => server.feed(Buffer.from(b))) });
  server = new RtmpServerSession({ send: (b) => queue.push(() => client.feed(Buffer.from(b))) });
  const pump = () => {
    while (queue.length) queue.shift()!();
  };
  return { client, server, pump };
}

describe('client ⇄ server sessions', () => {
  test('connect, publish, media with @setDataFrame stripped, unpublish', () => {
    const { client, server, pump } = pair();
    const events: string[] = [];
    const media: MediaEvent[] = [];
    server.on('connect', (e) => events.push(`connect ${e.app} ${e.query}`));
    server.on('publish', (e) => {
      events.push(`publish ${e.name} ${e.query}`);
      server.acceptPublish(e.streamId);
    });
    server.on('media', (e) => media.push(e));
    server.on('unpublish', (e) => events.push(`unpublish ${e.name}`));
    const statuses: string[] = [];
    client.on('status', (s) => statuses.push(s.code));
    client.start();
    pump();
    client.connect('live', 'rtmp://127.0.0.1/live');
    pump();
    client.publish('cam1?token=abc');
    pump();
    assert.deepEqual(events, ['connect live ', 'publish cam1 token=abc']);
    assert.ok(statuses.includes('NetStream.Publish.Start'));
    client.sendMetadata({ width: 640 });
    client.sendMedia(9, 40, Buffer.alloc(10000, 1));
    client.sendMedia(8, 0x1000000, Buffer.from('af01', 'hex'));
    pump();
    assert.deepEqual(media.map((m) => [m.typeId, m.timestamp, m.payload.length]), [
      [18, 0, media[0]!.payload.length],
      [9, 40, 10000],
      [8, 0x1000000, 2],
    ]);
    assert.equal(media[0]!.values![0], 'onMetaData');
    assert.equal((media[0]!.values![1] as Record<string, unknown>).width, 640);
    client.unpublish('cam1');
    pump();
    assert.equal(events.at(-1), 'unpublish cam1');
  });

  test('play: accept sends Play.Start; end of stream sends UnpublishNotify and StreamEOF', () => {
    const { client, server, pump } = pair();
    server.on('play', (e) => server.acceptPlay(e.streamId));
    const statuses: string[] = [];
    client.on('status', (s) => statuses.push(s.code));
    client.start();
    pump();
    client.connect('live', 'rtmp://127.0.0.1/live');
    pump();
    client.play('cam1');
    pump();
    assert.ok(statuses.includes('NetStream.Play.Reset'));
    assert.ok(statuses.includes('NetStream.Play.Start'));
    server.sendEndOfStream(client.streamId);
    pump();
    assert.deepEqual(statuses.slice(-2), ['NetStream.Play.UnpublishNotify', 'StreamEOF']);
  });

  test('commands before connect and media on an unknown stream are protocol errors', () => {
    const { client, server, pump } = pair();
    client.start();
    pump();
    assert.throws(() => {
      client.createStream();
      pump();
    }, ProtocolError);
    void server;
  });
});
