/** RFC 4571 framing for ICE-TCP: frames split anywhere across chunks, and the size limit. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameTooLargeError, Rfc4571Reader, rfc4571Header } from '../../../gateway/src/format/rfc4571.js';

const framed = (...frames: Buffer[]): Buffer => Buffer.concat(frames.flatMap((f) => [rfc4571Header(f.length), f]));

test('frames are found whatever the chunking', () => {
  const frames = [Buffer.from('stun check'), Buffer.alloc(0), Buffer.alloc(1200, 7), Buffer.from([1])];
  const stream = framed(...frames);
  for (let cut = 1; cut < stream.length; cut += 37) {
    const reader = new Rfc4571Reader(1500);
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i += cut) reader.push(stream.subarray(i, i + cut), (f) => out.push(Buffer.from(f)));
    assert.deepEqual(out, frames.filter((f) => f.length > 0), `chunks of ${cut}`);
    assert.equal(reader.buffered, 0);
  }
});

test('a frame over the limit is an error before any of it is buffered', () => {
  const reader = new Rfc4571Reader(1500);
  assert.throws(() => reader.push(Buffer.from([0xff, 0xff]), () => assert.fail('no frame')), FrameTooLargeError);
  const ok = new Rfc4571Reader(1500);
  ok.push(Buffer.from([0x05, 0xdc, 1, 2]), () => assert.fail('incomplete'));
  assert.equal(ok.buffered, 4);
});

test('the header', () => {
  assert.deepEqual(rfc4571Header(0x1234), Buffer.from([0x12, 0x34]));
  assert.throws(() => rfc4571Header(70000), RangeError);
});
