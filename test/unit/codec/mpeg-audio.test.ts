/**
 * MPEG audio frame headers: a table of header rows (MPEG-1/2/2.5, layers I–III, padding, mono), then
 * the frames of real libmp3lame output (test/fixtures/mp3*.m2t) split back into whole frames.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ParseError } from '../../../gateway/src/core/errors.js';
import { parseMpegAudioHeader, splitMpegAudio } from '../../../gateway/src/codec/mpeg-audio.js';
import { TsDemuxer, type TsAccessUnit } from '../../../gateway/src/format/mpegts/demuxer.js';

const ROWS = [
  // header bytes, version, layer, kbit/s, Hz, channels, frame bytes, samples
  { hex: 'fffb9064', version: 1, layer: 3, bitrate: 128, rate: 44100, channels: 2, length: 417, samples: 1152 },
  { hex: 'fffb9264', version: 1, layer: 3, bitrate: 128, rate: 44100, channels: 2, length: 418, samples: 1152 }, // padded
  { hex: 'fffb54c4', version: 1, layer: 3, bitrate: 64, rate: 48000, channels: 1, length: 192, samples: 1152 },
  { hex: 'fff340c4', version: 2, layer: 3, bitrate: 32, rate: 22050, channels: 1, length: 104, samples: 576 },
  { hex: 'ffe310c4', version: 2.5, layer: 3, bitrate: 8, rate: 11025, channels: 1, length: 52, samples: 576 },
  { hex: 'fffd9004', version: 1, layer: 2, bitrate: 160, rate: 44100, channels: 2, length: 522, samples: 1152 },
  { hex: 'ffff8004', version: 1, layer: 1, bitrate: 256, rate: 44100, channels: 2, length: 276, samples: 384 },
] as const;

describe('MPEG audio header', () => {
  for (const r of ROWS) {
    test(`${r.hex}: MPEG-${r.version} layer ${r.layer} ${r.bitrate} kbit/s ${r.rate} Hz`, () => {
      const h = parseMpegAudioHeader(Buffer.from(r.hex, 'hex'));
      assert.deepEqual(
        [h.version, h.layer, h.bitrate, h.sampleRate, h.channels, h.frameLength, h.samplesPerFrame],
        [r.version, r.layer, r.bitrate, r.rate, r.channels, r.length, r.samples],
      );
    });
  }

  test('not a header: sync, reserved version, layer, bitrate and rate, truncated', () => {
    for (const hex of ['00fb9064', 'ffeb9064', 'fff99064', 'fffbf064', 'fffb9c64', 'fffb90']) {
      assert.throws(() => parseMpegAudioHeader(Buffer.from(hex, 'hex')), ParseError, hex);
    }
  });

  test('libmp3lame frames from MPEG-TS split into whole frames; trailing garbage is left over', () => {
    for (const [file, rate] of [['mp3.m2t', 44100], ['mp3-22050.m2t', 22050]] as const) {
      const aus: TsAccessUnit[] = [];
      const d = new TsDemuxer({ unit: (u) => aus.push({ ...u, data: Buffer.from(u.data) }) });
      d.push(readFileSync(new URL(`../../fixtures/${file}`, import.meta.url)));
      d.flush();
      assert.ok(aus.length > 0);
      let frames = 0;
      for (const au of aus) {
        const split = splitMpegAudio(au.data);
        assert.equal(split.rest.length, 0, 'a PES holds whole frames');
        assert.equal(split.frames.reduce((n, f) => n + f.frame.length, 0), au.data.length);
        for (const f of split.frames) assert.equal(f.header.sampleRate, rate);
        frames += split.frames.length;
      }
      assert.ok(frames >= 10, `${frames} frames`);
      const withGarbage = splitMpegAudio(Buffer.concat([aus[0]!.data, Buffer.from('0102030405', 'hex')]));
      assert.equal(withGarbage.rest.length, 5);
    }
  });
});
