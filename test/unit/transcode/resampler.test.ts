/**
 * Resampler quality by SNR: a sine resampled to 48 kHz is fitted with the ideal sine at the output
 * rate (least squares on sin/cos); what is left is noise and distortion.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Resampler } from '../../../gateway/src/transcode/resampler.js';

function sine(rate: number, freq: number, seconds: number, channels = 1, amp = 0.5): Float32Array {
  const n = Math.round(rate * seconds);
  const out = new Float32Array(n * channels);
  for (let i = 0; i < n; i++) for (let c = 0; c < channels; c++) out[i * channels + c] = amp * Math.sin((2 * Math.PI * freq * i) / rate);
  return out;
}

/** SNR (dB) of `x` (one channel of interleaved data) against the best-fitting sine at `freq`. */
function snr(x: Float32Array, rate: number, freq: number, skip: number, channels = 1, channel = 0): number {
  let ss = 0, cc = 0, sc = 0, xs = 0, xc = 0;
  const frames = Math.floor(x.length / channels);
  const w = (2 * Math.PI * freq) / rate;
  for (let i = skip; i < frames - skip; i++) {
    const s = Math.sin(w * i), c = Math.cos(w * i), v = x[i * channels + channel]!;
    ss += s * s; cc += c * c; sc += s * c; xs += v * s; xc += v * c;
  }
  const det = ss * cc - sc * sc;
  const a = (xs * cc - xc * sc) / det;
  const b = (xc * ss - xs * sc) / det;
  let signal = 0, noise = 0;
  for (let i = skip; i < frames - skip; i++) {
    const fit = a * Math.sin(w * i) + b * Math.cos(w * i);
    const v = x[i * channels + channel]!;
    signal += fit * fit;
    noise += (v - fit) ** 2;
  }
  return 10 * Math.log10(signal / noise);
}

/** Feeds in uneven pieces, as AAC frames of 1024 samples would arrive. */
function run(r: Resampler, input: Float32Array, piece: number): Float32Array {
  const parts: Float32Array[] = [];
  for (let i = 0; i < input.length; i += piece * r.channels) parts.push(r.process(input.subarray(i, i + piece * r.channels)));
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('Resampler', () => {
  for (const [rate, freq] of [[44100, 1000], [44100, 15000], [32000, 1000], [22050, 5000], [16000, 1000], [96000, 1000], [48000, 1000]] as const) {
    test(`${rate} Hz → 48000 Hz, ${freq} Hz tone: SNR > 80 dB, exact length, level kept`, () => {
      const r = new Resampler(rate, 48000, 1);
      const out = run(r, sine(rate, freq, 1), 1024);
      assert.ok(Math.abs(out.length - 48000) <= 1, `length ${out.length}`);
      const s = snr(out, 48000, freq, 2000);
      assert.ok(s > 80, `SNR ${s.toFixed(1)} dB`);
      let peak = 0;
      for (let i = 2000; i < out.length - 2000; i++) peak = Math.max(peak, Math.abs(out[i]!));
      assert.ok(Math.abs(20 * Math.log10(peak / 0.5)) < 0.05, `level ${peak}`);
    });
  }
  test('equal rates: the samples pass through untouched, with no delay', () => {
    const r = new Resampler(48000, 48000, 2);
    const input = new Float32Array(1920).map((_, i) => Math.sin(i / 7) * 0.5);
    assert.equal(r.process(input), input);
    assert.equal(r.delay, 0);
  });
  test('stereo channels stay separate', () => {
    const n = 44100;
    const input = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      input[i * 2] = 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 44100);
      input[i * 2 + 1] = 0.5 * Math.sin((2 * Math.PI * 3000 * i) / 44100);
    }
    const out = run(new Resampler(44100, 48000, 2), input, 1024);
    assert.ok(snr(out, 48000, 1000, 2000, 2, 0) > 80);
    assert.ok(snr(out, 48000, 3000, 2000, 2, 1) > 80);
  });
  test('a tone above the output Nyquist is removed when downsampling (96 kHz → 48 kHz)', () => {
    const out = run(new Resampler(96000, 48000, 1), sine(96000, 30000, 0.5), 1024);
    let energy = 0;
    for (let i = 1000; i < out.length - 1000; i++) energy += out[i]! ** 2;
    const rms = Math.sqrt(energy / (out.length - 2000));
    assert.ok(20 * Math.log10(rms / (0.5 / Math.SQRT2)) < -80, `alias level ${(20 * Math.log10(rms / 0.354)).toFixed(1)} dB`);
  });
});
