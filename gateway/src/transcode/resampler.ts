/**
 * Band-limited sample-rate conversion: a polyphase windowed-sinc (Kaiser) filter for any rational
 * ratio (e.g. 44100 → 48000 = 160/147). Streaming: it keeps its history between calls, so audio can
 * be fed frame by frame with no clicks at the boundaries. Pure: Float32 in, Float32 out.
 */

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Zeroth-order modified Bessel function of the first kind (for the Kaiser window). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

export interface ResamplerOptions {
  /** Filter half-length in zero crossings of the lower rate (quality vs. CPU). Default 16. */
  zeroCrossings?: number;
  /** Kaiser β; 9 gives about 90 dB of stopband rejection. */
  beta?: number;
  /** Passband edge as a fraction of the lower Nyquist frequency. Default 0.92. */
  cutoff?: number;
}

export class Resampler {
  readonly up: number;
  readonly down: number;
  /** Taps per polyphase branch. */
  private readonly taps: number;
  /** filters[phase * taps + j]: coefficient for input sample n - j at that phase. */
  private readonly filters: Float32Array;
  /** Per channel: the last `taps - 1` input samples followed by the new ones. */
  private history: Float32Array[];
  /** Output position as (input index × up + phase), relative to the start of `history`. */
  private position = 0;

  constructor(
    readonly inputRate: number,
    readonly outputRate: number,
    readonly channels: number,
    options: ResamplerOptions = {},
  ) {
    const g = gcd(inputRate, outputRate);
    this.up = outputRate / g;
    this.down = inputRate / g;
    if (this.up > 4096) throw new RangeError(`resampling ratio ${outputRate}/${inputRate} is too fine`);
    const zc = options.zeroCrossings ?? 16;
    const beta = options.beta ?? 9;
    // Cutoff relative to the upsampled rate: the lower of the two Nyquist frequencies.
    const fc = ((options.cutoff ?? 0.92) * 0.5) / Math.max(this.up, this.down);
    const perPhase = Math.ceil((2 * zc * Math.max(this.up, this.down)) / this.up);
    this.taps = perPhase;
    const length = perPhase * this.up;
    const center = (length - 1) / 2;
    const proto = new Float64Array(length);
    const i0b = besselI0(beta);
    for (let i = 0; i < length; i++) {
      const t = i - center;
      const sinc = t === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
      const w = besselI0(beta * Math.sqrt(Math.max(0, 1 - (t / (center + 1)) ** 2))) / i0b;
      proto[i] = sinc * w * this.up; // gain `up` restores the level lost to zero stuffing
    }
    this.filters = new Float32Array(length);
    for (let phase = 0; phase < this.up; phase++) {
      for (let j = 0; j < perPhase; j++) this.filters[phase * perPhase + j] = proto[phase + j * this.up] ?? 0;
    }
    this.history = Array.from({ length: channels }, () => new Float32Array(perPhase - 1));
  }

  /** Whether the rates are equal: then samples pass through as they are (no filter, no delay). */
  get identity(): boolean {
    return this.up === 1 && this.down === 1;
  }

  /** Samples of delay the filter adds, in output samples. */
  get delay(): number {
    return this.identity ? 0 : ((this.taps * this.up) / 2 - 0.5) / this.down;
  }

  /** Resamples interleaved input; returns interleaved output (length varies by call; `input` itself at equal rates). */
  process(input: Float32Array): Float32Array {
    if (this.identity) return input;
    const ch = this.channels;
    const frames = Math.floor(input.length / ch);
    const taps = this.taps;
    const hist = taps - 1;
    // Deinterleave behind the history.
    const bufs = this.history.map((h, c) => {
      const b = new Float32Array(hist + frames);
      b.set(h);
      for (let i = 0; i < frames; i++) b[hist + i] = input[i * ch + c]!;
      return b;
    });
    const total = hist + frames;
    // Output k uses input index n = floor(pos / up) as its newest sample.
    let pos = this.position;
    const limit = total * this.up;
    const firstValid = hist * this.up;
    if (pos < firstValid) pos = firstValid;
    const out = new Float32Array(Math.ceil((limit - pos) / this.down) * ch + ch);
    let o = 0;
    while (pos < limit) {
      const n = Math.floor(pos / this.up);
      const phase = pos - n * this.up;
      const f = phase * taps;
      for (let c = 0; c < ch; c++) {
        const b = bufs[c]!;
        let acc = 0;
        for (let j = 0; j < taps; j++) acc += this.filters[f + j]! * b[n - j]!;
        out[o * ch + c] = acc;
      }
      o++;
      pos += this.down;
    }
    // Keep the last `hist` samples; move the position to be relative to the new history.
    this.history = bufs.map((b) => b.slice(total - hist));
    this.position = pos - frames * this.up;
    return out.subarray(0, o * ch);
  }
}
