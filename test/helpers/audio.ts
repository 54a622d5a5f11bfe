/** Audio checks for transcoder tests: tones, onsets, levels; and Opus packets made with libopus. */
import { OpusDecoder, OpusEncoder as NativeOpusEncoder } from '../../gateway/src/transcode/opus-native.js';

/** Power at `freq` (one DFT bin, Goertzel style) as a share of the total power of `x`. */
export function toneShare(x: Float32Array, rate: number, freq: number): number {
  let re = 0;
  let im = 0;
  let total = 0;
  const w = (2 * Math.PI * freq) / rate;
  for (let i = 0; i < x.length; i++) {
    re += x[i]! * Math.cos(w * i);
    im += x[i]! * Math.sin(w * i);
    total += x[i]! ** 2;
  }
  return total === 0 ? 0 : ((re * re + im * im) * 2) / x.length / total;
}

/** Frequency from upward zero crossings (Hz): a second, independent look at the tone. */
export function zeroCrossingHz(x: Float32Array, rate: number): number {
  let first = -1;
  let last = -1;
  let n = 0;
  for (let i = 1; i < x.length; i++) {
    if (x[i - 1]! < 0 && x[i]! >= 0) {
      // Interpolated crossing position.
      const at = i - 1 + x[i - 1]! / (x[i - 1]! - x[i]!);
      if (first < 0) first = at;
      else n++;
      last = at;
    }
  }
  return n > 0 ? (n * rate) / (last - first) : 0;
}

export function rmsDb(x: Float32Array): number {
  let e = 0;
  for (const v of x) e += v * v;
  return 10 * Math.log10(e / x.length);
}

/** Index of the first sample whose magnitude reaches `threshold`, or -1. */
export function onsetIndex(x: Float32Array, threshold: number): number {
  for (let i = 0; i < x.length; i++) if (Math.abs(x[i]!) >= threshold) return i;
  return -1;
}

/** `fn(n)` for sample n, as 16-bit interleaved PCM (the same value on every channel). */
export function pcm16(samples: number, channels: number, fn: (n: number) => number): Int16Array {
  const out = new Int16Array(samples * channels);
  for (let n = 0; n < samples; n++) {
    const v = Math.round(Math.max(-1, Math.min(1, fn(n))) * 32767);
    for (let c = 0; c < channels; c++) out[n * channels + c] = v;
  }
  return out;
}

export const tone = (freq: number, amplitude: number, from = 0) => (n: number) =>
  n < from ? 0 : amplitude * Math.sin((2 * Math.PI * freq * (n - from)) / 48000);

export interface OpusPacket {
  data: Buffer;
  /** 90 kHz. */
  pts: number;
  samples: number;
}

/** One libopus encoder for PCM in pieces, each piece in its own frame size (120 … 2880 samples). */
export class OpusEncoder {
  private readonly enc: NativeOpusEncoder;

  constructor(
    private readonly channels: number,
    bitrate = 96_000,
  ) {
    this.enc = new NativeOpusEncoder(channels as 1 | 2, bitrate);
  }

  /**
   * Packets of `frame` samples (120 … 5760) from 48 kHz interleaved PCM, stamped from `startPts`
   * (90 kHz) on. Frames over 20 ms are 20 ms frames packed into one packet (RFC 6716 §3.2), which is
   * how libopus makes its 40 and 60 ms CELT packets too.
   */
  encode(pcm: Int16Array, startPts: number, frame = 960): OpusPacket[] {
    const out: OpusPacket[] = [];
    const samples = pcm.length / this.channels;
    const piece = Math.min(frame, 960);
    for (let n = 0; n + frame <= samples; n += frame) {
      const frames: Buffer[] = [];
      for (let k = n; k < n + frame; k += piece) frames.push(this.enc.encode(pcm.subarray(k * this.channels, (k + piece) * this.channels)));
      out.push({ data: frames.length === 1 ? frames[0]! : packOpusFrames(frames), pts: startPts + (n * 90000) / 48000, samples: frame });
    }
    return out;
  }

  close(): void {
    this.enc.close();
  }
}

/**
 * Code-0 packets with one TOC packed into one code-3 VBR packet (RFC 6716 §3.2.5): the TOC, the
 * frame count byte, the lengths of all frames but the last (§3.2.1), then the frames.
 */
export function packOpusFrames(frames: Buffer[]): Buffer {
  const toc = frames[0]![0]!;
  if (frames.some((f) => f[0] !== toc || (toc & 3) !== 0)) throw new Error('frames to pack need one code-0 TOC');
  const length = (f: Buffer) => {
    const n = f.length - 1;
    return n < 252 ? [n] : [252 + (n & 3), (n - 252) >> 2];
  };
  const header = Buffer.from([toc | 3, 0x80 | frames.length, ...frames.slice(0, -1).flatMap(length)]);
  return Buffer.concat([header, ...frames.map((f) => f.subarray(1))]);
}

/** Encodes 48 kHz PCM into Opus packets of `frame` samples with a fresh encoder. */
export function encodeOpus(pcm: Int16Array, channels: number, startPts: number, frame = 960, bitrate = 96_000): OpusPacket[] {
  const enc = new OpusEncoder(channels, bitrate);
  const out = enc.encode(pcm, startPts, frame);
  enc.close();
  return out;
}

/** Decodes Opus packets with libopus into one channel of float samples (the reference the AAC must match). */
export function decodeOpus(packets: readonly OpusPacket[], channels: number): Float32Array {
  const dec = new OpusDecoder(channels as 1 | 2);
  const parts = packets.map((p) => dec.decode(p.data) ?? new Int16Array(0));
  dec.close();
  const out = new Float32Array(parts.reduce((n, p) => n + p.length / channels, 0));
  let at = 0;
  for (const p of parts) for (let i = 0; i < p.length; i += channels) out[at++] = p[i]! / 32768;
  return out;
}
