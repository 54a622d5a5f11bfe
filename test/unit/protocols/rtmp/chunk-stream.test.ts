/**
 * Chunk stream golden bytes: the connect command a real ffmpeg 5.1 client sent (140 bytes chunked at
 * the default 128: a type-0 header, 128 bytes, a type-3 header 0xc3, 12 bytes), captured on a raw
 * socket after the handshake. Plus every header type, extended timestamps and the limits.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LimitError, ProtocolError } from '../../../../gateway/src/core/errors.js';
import { decodeAmf0 } from '../../../../gateway/src/format/amf0.js';
import { ChunkReader } from '../../../../gateway/src/protocols/rtmp/chunk-reader.js';
import { chunkMessage } from '../../../../gateway/src/protocols/rtmp/chunk-writer.js';

const FFMPEG_CONNECT =
  '0300000000008c1400000000' +
  '020007636f6e6e656374003ff00000000000000300036170700200046c69766500047479706502000a6e6f6e707269766174650008666c617368566572020024464d4c452f332e302028636f6d70617469626c653b204c61766635392e32372e313030290005746355726c02001b72746d703a2f2f3132372e302e302e313a34' +
  'c3' +
  '333231312f6c697665000009';

describe('chunk stream: ffmpeg connect', () => {
  const wire = Buffer.from(FFMPEG_CONNECT, 'hex');
  test('decodes in any chunking', () => {
    for (const step of [wire.length, 1, 5, 13, 129]) {
      const r = new ChunkReader();
      const msgs = [];
      for (let i = 0; i < wire.length; i += step) msgs.push(...r.push(wire.subarray(i, i + step)));
      assert.equal(msgs.length, 1, `step ${step}`);
      const m = msgs[0]!;
      assert.deepEqual([m.csid, m.typeId, m.timestamp, m.streamId, m.payload.length], [3, 20, 0, 0, 140]);
      assert.equal(decodeAmf0(m.payload)[0], 'connect');
    }
  });
  test('re-chunking the message gives the same bytes', () => {
    const [m] = new ChunkReader().push(wire);
    assert.equal(chunkMessage(m!, 128).toString('hex'), FFMPEG_CONNECT);
  });
});

describe('chunk stream: header types and timestamps', () => {
  test('type 1, 2 and 3 headers reuse and add deltas', () => {
    const wire = Buffer.concat([
      Buffer.from('04' + '00000a' + '000003' + '08' + '01000000' + 'aabbcc', 'hex'), // type 0: t=10
      Buffer.from('44' + '000014' + '000002' + '08' + 'ddee', 'hex'), // type 1: +20, len 2
      Buffer.from('84' + '000005' + 'ff00', 'hex'), // type 2: +5, same len/type
      Buffer.from('c4' + '1122', 'hex'), // type 3 new message: +5 again
    ]);
    const msgs = new ChunkReader().push(wire);
    assert.deepEqual(
      msgs.map((m) => [m.timestamp, m.typeId, m.streamId, m.payload.toString('hex')]),
      [
        [10, 8, 1, 'aabbcc'],
        [30, 8, 1, 'ddee'],
        [35, 8, 1, 'ff00'],
        [40, 8, 1, '1122'],
      ],
    );
  });
  test('extended timestamp, repeated in type-3 continuation chunks (or not)', () => {
    const payload = Buffer.alloc(300, 7);
    const msg = { csid: 6, typeId: 9, timestamp: 0x01020304, streamId: 1, payload };
    const wire = chunkMessage(msg, 128);
    // type 0 (1+11+4) + 128 + 2 × (1 + 4 + …)
    assert.equal(wire.length, 16 + 300 + 2 * 5);
    const [m] = new ChunkReader().push(wire);
    assert.equal(m!.timestamp, 0x01020304);
    assert.ok(m!.payload.equals(payload));
    // Without the repeated extended timestamp (some encoders): still decoded.
    const bare = Buffer.concat([wire.subarray(0, 16 + 128), Buffer.from([0xc6]), wire.subarray(16 + 128 + 5, 16 + 256 + 5), Buffer.from([0xc6]), wire.subarray(16 + 256 + 10)]);
    const [m2] = new ChunkReader().push(bare);
    assert.ok(m2!.payload.equals(payload));
  });
  test('2- and 3-byte basic headers (csid 64–65599)', () => {
    for (const csid of [64, 319, 320, 65599]) {
      const [m] = new ChunkReader().push(chunkMessage({ csid, typeId: 8, timestamp: 1, streamId: 1, payload: Buffer.alloc(200, 1) }, 128));
      assert.equal(m!.csid, csid);
      assert.equal(m!.payload.length, 200);
    }
  });
  test('Set Chunk Size applies to the following chunks; interleaved messages', () => {
    const r = new ChunkReader();
    const set = chunkMessage({ csid: 2, typeId: 1, timestamp: 0, streamId: 0, payload: Buffer.from('00001000', 'hex') }, 128);
    r.push(set);
    assert.equal(r.inChunkSize, 4096);
    const a = chunkMessage({ csid: 4, typeId: 8, timestamp: 0, streamId: 1, payload: Buffer.alloc(5000, 0xa) }, 4096);
    const v = chunkMessage({ csid: 6, typeId: 9, timestamp: 0, streamId: 1, payload: Buffer.alloc(6000, 0xb) }, 4096);
    // Interleave: first chunk of a, first chunk of v, rest of a, rest of v.
    const aFirst = 12 + 4096;
    const vFirst = 12 + 4096;
    const msgs = r.push(Buffer.concat([a.subarray(0, aFirst), v.subarray(0, vFirst), a.subarray(aFirst), v.subarray(vFirst)]));
    assert.deepEqual(msgs.map((m) => [m.csid, m.payload.length]), [[4, 5000], [6, 6000]]);
  });
  test('Abort drops the partial message', () => {
    const r = new ChunkReader();
    const big = chunkMessage({ csid: 6, typeId: 9, timestamp: 0, streamId: 1, payload: Buffer.alloc(300) }, 128);
    const abort = chunkMessage({ csid: 2, typeId: 2, timestamp: 0, streamId: 0, payload: Buffer.from('00000006', 'hex') }, 128);
    const next = chunkMessage({ csid: 6, typeId: 9, timestamp: 5, streamId: 1, payload: Buffer.from('01', 'hex') }, 128);
    const msgs = r.push(Buffer.concat([big.subarray(0, 12 + 128), abort, next]));
    assert.deepEqual(msgs.map((m) => m.typeId), [2, 9]);
    assert.equal(msgs[1]!.payload.length, 1);
  });
});

describe('chunk stream: hostile input', () => {
  test('chunk size 0x7fffffff → LimitError', () => {
    const wire = chunkMessage({ csid: 2, typeId: 1, timestamp: 0, streamId: 0, payload: Buffer.from('7fffffff', 'hex') }, 128);
    assert.throws(() => new ChunkReader().push(wire), LimitError);
    const zero = chunkMessage({ csid: 2, typeId: 1, timestamp: 0, streamId: 0, payload: Buffer.from('00000000', 'hex') }, 128);
    assert.throws(() => new ChunkReader().push(zero), ProtocolError);
  });
  test('a 16 MB message length → LimitError before any payload arrives', () => {
    const header = Buffer.from('03000000ffffff1400000000', 'hex');
    assert.throws(() => new ChunkReader({ maxMessageSize: 8 << 20 }).push(header), LimitError);
  });
  test('100 chunk streams → LimitError', () => {
    const parts = Array.from({ length: 100 }, (_, i) => chunkMessage({ csid: 3 + i, typeId: 8, timestamp: 0, streamId: 1, payload: Buffer.alloc(1) }, 128));
    assert.throws(() => new ChunkReader().push(Buffer.concat(parts)), LimitError);
  });
  test('a first header of type 1/2/3 on a new chunk stream → ProtocolError', () => {
    assert.throws(() => new ChunkReader().push(Buffer.from('c7aabb', 'hex')), ProtocolError);
  });
  test('random bytes: only livegate errors, never a crash or a hang', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 500; i++) {
      const r = new ChunkReader();
      try {
        r.push(Buffer.from(Array.from({ length: 2000 }, rand)));
      } catch (err) {
        assert.ok(err instanceof LimitError || err instanceof ProtocolError, String(err));
      }
    }
  });
});
