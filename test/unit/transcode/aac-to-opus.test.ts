/**
 * AAC → Opus on real ffmpeg AAC (1 kHz sine, see test/fixtures/README.md): the Opus output, decoded
 * again with libopus, holds the same tone at the same level (within 1 dB), in 20 ms frames whose
 * timestamps follow the AAC clock.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { decoder as aacDecoder } from '@audio/decode-aac';
import OpusScript from 'opusscript';
import { adtsToAudioSpecificConfig, splitAdts } from '../../../gateway/src/codec/aac.js';
import { AacToOpus, OPUS_FRAME, type OpusPacket } from '../../../gateway/src/transcode/aac-to-opus.js';
import { requireTools } from '../../helpers/tools.js';

function rmsDb(x: Float32Array): number {
  let e = 0;
  for (const v of x) e += v * v;
  return 10 * Math.log10(e / x.length);
}

/** Power of `freq` in x (single-bin DFT), as a share of the total power. */
function toneShare(x: Float32Array, rate: number, freq: number): number {
  let re = 0, im = 0, total = 0;
  for (let i = 0; i < x.length; i++) {
    re += x[i]! * Math.cos((2 * Math.PI * freq * i) / rate);
    im += x[i]! * Math.sin((2 * Math.PI * freq * i) / rate);
    total += x[i]! ** 2;
  }
  return ((re * re + im * im) * 2) / x.length / total;
}

for (const decoder of ['wasm', 'ffmpeg'] as const)
for (const fixture of ['sine1k-44100-stereo.aac', 'sine1k-48000-mono.aac']) {
  describe(`AAC → Opus (${decoder} decoder): ${fixture}`, () => {
    test('same tone, level within 1 dB, 20 ms frames on the AAC clock', async (tc) => {
      if (decoder === 'ffmpeg' && !requireTools(tc, 'ffmpeg')) return;
      const adts = splitAdts(readFileSync(new URL(`../../fixtures/${fixture}`, import.meta.url)));
      const asc = adtsToAudioSpecificConfig(adts[0]!.header);
      const rate = adts[0]!.header.sampleRate;
      const packets: OpusPacket[] = [];
      const t = await AacToOpus.create({ asc, bitrate: 128_000, decoder, onPacket: (p) => packets.push(p) });
      const start = 90_000 * 10; // the stream's clock does not start at 0
      adts.forEach((f, i) => t.push(Buffer.from(f.frame), start + Math.round((i * 1024 * 90_000) / rate)));
      // The ffmpeg decoder answers asynchronously: wait for its output to settle.
      const deadline = performance.now() + 10_000;
      while (packets.length === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      let settled = -1;
      while (settled !== packets.length) {
        settled = packets.length;
        await new Promise((r) => setTimeout(r, decoder === 'ffmpeg' ? 300 : 0));
      }
      t.close();
      assert.ok(packets.length >= 45, `${packets.length} Opus frames for 1 s`);
      for (let i = 1; i < packets.length; i++) assert.equal(packets[i]!.pts - packets[i - 1]!.pts, 1800, `frame ${i} is 20 ms after the previous`);
      assert.ok(Math.abs(packets[0]!.pts - start) < 90 * 20, `first Opus frame at ${(packets[0]!.pts - start) / 90} ms from the first AAC frame`);

      // Reference: the AAC decoded directly.
      const ref = (await aacDecoder({ asc: new Uint8Array(asc) })) as { decode(d: Uint8Array): { channelData: Float32Array[] } };
      const refParts = adts.map((f) => ref.decode(new Uint8Array(f.frame)).channelData[0] ?? new Float32Array(0));
      const source = Float32Array.from(refParts.flatMap((p) => Array.from(p)));

      const dec = new OpusScript(48000, t.channels);
      const pcm = packets.map((p) => dec.decode(p.data));
      dec.delete();
      const samples = Buffer.concat(pcm);
      const left = new Float32Array(samples.length / 2 / t.channels);
      for (let i = 0; i < left.length; i++) left[i] = samples.readInt16LE(i * 2 * t.channels) / 32768;
      // Skip the first 100 ms (priming, filters settling) on both sides.
      const out = left.subarray(4800, left.length - 960);
      const src = source.subarray(Math.round(rate / 10), source.length - 1024);
      const diff = rmsDb(out) - rmsDb(src);
      assert.ok(Math.abs(diff) < 1, `Opus level differs from the AAC source by ${diff.toFixed(2)} dB`);
      assert.ok(toneShare(out, 48000, 1000) > 0.95, `1 kHz holds ${(toneShare(out, 48000, 1000) * 100).toFixed(1)} % of the power`);
      assert.equal(packets[0]!.samples, OPUS_FRAME);
      tc.diagnostic(`level difference ${diff.toFixed(2)} dB, 1 kHz share ${(toneShare(out, 48000, 1000) * 100).toFixed(2)} %, first frame ${(packets[0]!.pts - start) / 90} ms`);
    });
  });
}

describe('AAC → Opus keeps sounds where the AAC put them', () => {
  for (const decoder of ['wasm', 'ffmpeg'] as const) {
    test(`${decoder} decoder: each burst, decoded from the Opus as a WebRTC player does (no pre-skip), lands within 1 ms of its AAC time`, async (tc) => {
      if (decoder === 'ffmpeg' && !requireTools(tc, 'ffmpeg')) return;
      const adts = splitAdts(readFileSync(new URL('../../fixtures/burst-48000-mono.aac', import.meta.url)));
      const asc = adtsToAudioSpecificConfig(adts[0]!.header);
      const packets: OpusPacket[] = [];
      const t = await AacToOpus.create({ asc, bitrate: 96_000, decoder, onPacket: (p) => packets.push(p) });
      const start = 90_000 * 7;
      // In bursts of 20 frames, as a live source would give them, not 3 s at once: the ffmpeg
      // decoder answers later, and the transcoder keeps at most 64 frames waiting for their samples.
      for (const [i, f] of adts.entries()) {
        t.push(Buffer.from(f.frame), start + i * 1920);
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 150));
      }
      const deadline = performance.now() + 10_000;
      while (packets.length < 140 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      t.close();
      const dec = new OpusScript(48000, t.channels);
      const onsets: number[] = [];
      let position = 0;
      let lastLoud = -Infinity;
      for (const p of packets) {
        const pcm = dec.decode(p.data);
        for (let i = 0; i < pcm.length / 2 / t.channels; i++, position++) {
          if (Math.abs(pcm.readInt16LE(i * 2 * t.channels)) / 32768 < 0.1) continue;
          if (position - lastLoud >= 24_000) onsets.push(p.pts + (i * 90_000) / 48_000);
          lastLoud = position;
        }
      }
      dec.delete();
      // Frame 0 is the encoder's priming: the burst of second k starts 1024 samples after it. The burst
      // at the very start is not judged (decoders settle there: ffmpeg's is quiet for ~10 ms).
      const expected = [1, 2].map((k) => start + ((1024 + k * 48_000) * 90_000) / 48_000);
      const errorsMs = expected.map((e) => {
        const nearest = onsets.reduce((a, b) => (Math.abs(b - e) < Math.abs(a - e) ? b : a), Infinity);
        return (nearest - e) / 90;
      });
      tc.diagnostic(`burst onsets minus their AAC time (ms): ${errorsMs.map((e) => e.toFixed(2)).join(' ')}`);
      assert.equal(onsets.length, 3, `${onsets.length} bursts found`);
      for (const e of errorsMs) assert.ok(Math.abs(e) < 1, `a burst ${e.toFixed(2)} ms off its time`);
    });
  }
});
