/**
 * G.711 decoding against ffmpeg 5.1: every one of the 256 codes of each law, decoded by
 * `ffmpeg -f mulaw|alaw -ar 8000 -ac 1 -i <bytes 0..255> -f s16le`, hashed (SHA-256 of the
 * little-endian samples), with a few values spelled out.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { decodeG711 } from '../../../gateway/src/codec/g711.js';

const ALL = Uint8Array.from({ length: 256 }, (_, i) => i);
const hashOf = (pcm: Int16Array): string => createHash('sha256').update(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength)).digest('hex');

test('µ-law: the 256 codes decode as ffmpeg decodes them', () => {
  const pcm = decodeG711('pcmu', ALL);
  assert.deepEqual([0x00, 0x01, 0x55, 0x7f, 0x80, 0xd5, 0xff].map((i) => pcm[i]), [-32124, -31100, -716, 0, 32124, 716, 0]);
  assert.equal(hashOf(pcm), '3dab54339e520bb2c924826e3b72a917a2b612e9fd12fc867500f1d983a75827');
});

test('A-law: the 256 codes decode as ffmpeg decodes them', () => {
  const pcm = decodeG711('pcma', ALL);
  assert.deepEqual([0x00, 0x01, 0x55, 0x7f, 0x80, 0xd5, 0xff].map((i) => pcm[i]), [-5504, -5248, -8, -848, 5504, 8, 848]);
  assert.equal(hashOf(pcm), 'e04788d110e58ff8c70c93b8480190d973e3b67876b6119abbaec766cc75c174');
});
