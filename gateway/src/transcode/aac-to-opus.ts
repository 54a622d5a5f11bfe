/**
 * AAC → Opus for WebRTC viewers: decode (FAAD2 in WASM, or an ffmpeg process), resample to 48 kHz
 * with the band-limited Resampler, encode 20 ms Opus frames (libopus in WASM: opusscript's build, see
 * opus-native.ts for why not its wrapper) with
 * in-band FEC. One instance per stream, shared by every viewer. Opus timestamps follow the AAC
 * timestamps (each decoded sample is matched to the frame it came from; a frame the decoder drops
 * gives none), minus the resampler's delay and the Opus encoder's lookahead: a player that decodes
 * the RTP hears each sound at the time the AAC said (RTP has no pre-skip to say it otherwise).
 */
import { TIMESCALE } from '../core/media-unit.js';
import { decodeG711, G711_RATE, type G711Law } from '../codec/g711.js';
import { createAacDecoder, decoderConfig, type AacDecoder, type AacDecoderKind } from './aac-decoders.js';
import { OpusEncoder } from './opus-native.js';
import { Resampler } from './resampler.js';

export const OPUS_RATE = 48_000;
/** 20 ms at 48 kHz. */
export const OPUS_FRAME = 960;
const OPUS_SET_INBAND_FEC = 4012;
const OPUS_SET_PACKET_LOSS_PERC = 4014;
/** A gap in the AAC timestamps larger than this restarts the Opus clock from the AAC clock. */
const RESYNC_TICKS = TIMESCALE / 10;
/** Input frames whose samples have not come out of the decoder yet (bounded). */
const MAX_IN_FLIGHT = 64;

export interface OpusPacket {
  data: Buffer;
  /** 90 kHz ticks, like every MediaUnit. */
  pts: number;
  /** Samples at 48 kHz (always 960). */
  samples: number;
}

export interface AacToOpusOptions {
  /** AudioSpecificConfig of the AAC track. */
  asc: Buffer;
  /** Opus bitrate in bits per second (default 128 000). */
  bitrate?: number;
  /** Expected packet loss (percent) that tunes in-band FEC (default 5). */
  expectedLossPercent?: number;
  /** 'wasm' (FAAD2, GPL-2.0, default) or 'ffmpeg' (a child process). */
  decoder?: AacDecoderKind;
  /** Receives every Opus frame, in order. */
  onPacket: (packet: OpusPacket) => void;
  onError?: (err: Error) => void;
}

export class AacToOpus {
  readonly channels: number;
  readonly inputRate: number;
  private decoder: AacDecoder | null = null;
  private readonly resampler: Resampler;
  private readonly encoder: OpusEncoder;
  /** Input frames waiting for their samples: pts (90 kHz) and samples not yet out. */
  private readonly inFlight: { pts: number; left: number; total: number }[] = [];
  /** G.711: a frame's samples are its bytes. */
  private perByte = false;
  private readonly samplesPerFrame: number;
  /** Interleaved 48 kHz samples waiting for a whole 20 ms frame. */
  private pending = new Float32Array(0);
  /** 90 kHz time of the first sample in `pending`, or null before the first output. */
  private pendingPts: number | null = null;
  /** The Opus encoder's lookahead, 90 kHz ticks: its output is that much late against its input. */
  private readonly lookaheadTicks: number;
  private closed = false;

  private constructor(
    private readonly options: Omit<AacToOpusOptions, 'asc'>,
    input: { rate: number; channels: number; samplesPerFrame: number },
  ) {
    this.inputRate = input.rate;
    this.channels = Math.min(2, Math.max(1, input.channels));
    this.samplesPerFrame = input.samplesPerFrame;
    this.resampler = new Resampler(this.inputRate, OPUS_RATE, this.channels);
    this.encoder = new OpusEncoder(this.channels === 1 ? 1 : 2, options.bitrate ?? 128_000);
    this.encoder.ctl(OPUS_SET_INBAND_FEC, 1);
    this.encoder.ctl(OPUS_SET_PACKET_LOSS_PERC, options.expectedLossPercent ?? 5);
    this.lookaheadTicks = (this.encoder.lookahead() * TIMESCALE) / OPUS_RATE;
  }

  static async create(options: AacToOpusOptions): Promise<AacToOpus> {
    const config = decoderConfig(options.asc);
    const t = new AacToOpus(options, { rate: config.rate, channels: config.channels, samplesPerFrame: config.info.frameLength * (config.info.extensionSampleRate ? 2 : 1) });
    t.decoder = await createAacDecoder(options.decoder ?? 'wasm', config, {
      pcm: (channels) => t.onPcm(channels),
      skipped: () => void t.inFlight.shift(),
      error: (err) => options.onError?.(err),
    });
    return t;
  }

  /**
   * G.711 (8 kHz mono, from RTSP cameras) → Opus through the same resampler, framing and timing: the
   * "decoder" is a table lookup, synchronous.
   */
  static g711(law: G711Law, options: Omit<AacToOpusOptions, 'asc' | 'decoder'>): AacToOpus {
    const t = new AacToOpus(options, { rate: G711_RATE, channels: 1, samplesPerFrame: 160 });
    t.perByte = true;
    t.decoder = {
      decode: (frame) => {
        const pcm = decodeG711(law, frame);
        const f = new Float32Array(pcm.length);
        for (let i = 0; i < pcm.length; i++) f[i] = pcm[i]! / 32768;
        t.onPcm([f]);
      },
      close: () => {},
    };
    return t;
  }

  /**
   * Transcodes one input frame (a raw AAC access unit, or the G.711 bytes of one packet) with its pts
   * (90 kHz); Opus frames go to `onPacket`.
   */
  push(frame: Buffer, pts: number): void {
    if (this.closed || !this.decoder) return;
    if (this.inFlight.length >= MAX_IN_FLIGHT) this.inFlight.shift();
    // G.711: one sample per byte, however many the packet holds.
    const samples = this.perByte ? frame.length : this.samplesPerFrame;
    this.inFlight.push({ pts, left: samples, total: samples });
    this.decoder.decode(frame);
  }

  /** Decoded samples arrive in input order: their time is that of the frame they came from. */
  private onPcm(planar: Float32Array[]): void {
    if (this.closed) return;
    const frames = planar[0]?.length ?? 0;
    if (frames === 0) return;
    const head = this.inFlight[0];
    const outputPts = head ? head.pts + ((head.total - head.left) * TIMESCALE) / this.inputRate : (this.pendingPts ?? 0);
    let consume = frames;
    while (consume > 0 && this.inFlight.length > 0) {
      const h = this.inFlight[0]!;
      const n = Math.min(consume, h.left);
      h.left -= n;
      consume -= n;
      if (h.left === 0) this.inFlight.shift();
    }
    const interleaved = new Float32Array(frames * this.channels);
    for (let c = 0; c < this.channels; c++) {
      const src = planar[Math.min(c, planar.length - 1)]!;
      for (let i = 0; i < frames; i++) interleaved[i * this.channels + c] = src[i]!;
    }
    const resampled = this.resampler.process(interleaved);
    const start = outputPts - this.delayTicks() - this.lookaheadTicks;
    const expected = this.pendingPts === null ? null : this.pendingPts + ((this.pending.length / this.channels) * TIMESCALE) / OPUS_RATE;
    if (expected === null || Math.abs(expected - start) > RESYNC_TICKS) {
      // First output, or a jump in the source clock: restart from the AAC time.
      this.pending = new Float32Array(0);
      this.pendingPts = start;
    }
    const joined = new Float32Array(this.pending.length + resampled.length);
    joined.set(this.pending);
    joined.set(resampled, this.pending.length);
    const step = OPUS_FRAME * this.channels;
    const pcm = new Int16Array(step);
    let pos = 0;
    for (; pos + step <= joined.length; pos += step) {
      for (let i = 0; i < step; i++) {
        const v = Math.max(-1, Math.min(1, joined[pos + i]!));
        pcm[i] = Math.round(v * 32767);
      }
      const data = this.encoder.encode(pcm);
      const packet = { data, pts: Math.round(this.pendingPts!), samples: OPUS_FRAME };
      this.pendingPts! += (OPUS_FRAME * TIMESCALE) / OPUS_RATE;
      this.options.onPacket(packet);
    }
    this.pending = joined.slice(pos);
  }

  /** The resampler's delay in 90 kHz ticks (its output is that much late against its input). */
  private delayTicks(): number {
    return (this.resampler.delay * TIMESCALE) / OPUS_RATE;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.decoder?.close();
    this.encoder.close();
  }
}
