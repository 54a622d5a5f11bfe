/**
 * AAC → Opus for WebRTC viewers: decode (FAAD2 in WASM, @audio/decode-aac), resample to 48 kHz with
 * the band-limited Resampler, encode 20 ms Opus frames (libopus in WASM, opusscript) with in-band
 * FEC. One instance per stream, shared by every viewer. Opus timestamps follow the AAC timestamps,
 * minus the resampler's delay, so lip sync holds.
 */
import { decoder as aacDecoder } from '@audio/decode-aac';
import OpusScript from 'opusscript';
import { parseAudioSpecificConfig } from '../codec/aac.js';
import { TIMESCALE } from '../core/media-unit.js';
import { Resampler } from './resampler.js';

export const OPUS_RATE = 48_000;
/** 20 ms at 48 kHz. */
export const OPUS_FRAME = 960;
const OPUS_SET_INBAND_FEC = 4012;
const OPUS_SET_PACKET_LOSS_PERC = 4014;
/** A gap in the AAC timestamps larger than this restarts the Opus clock from the AAC clock. */
const RESYNC_TICKS = TIMESCALE / 10;

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
}

interface Decoder {
  decode(data: Uint8Array): { channelData: Float32Array[]; sampleRate: number };
  free(): void;
}

export class AacToOpus {
  readonly channels: number;
  private readonly resampler: Resampler;
  private readonly encoder: OpusScript;
  /** Interleaved 48 kHz samples waiting for a whole 20 ms frame. */
  private pending = new Float32Array(0);
  /** 90 kHz time of the first sample in `pending`, or null before the first frame. */
  private pendingPts: number | null = null;
  /** Expected AAC pts of the next input frame, to detect gaps. */
  private nextInputPts: number | null = null;
  private closed = false;

  private constructor(
    private readonly decoder: Decoder,
    private readonly inputRate: number,
    channels: number,
    options: AacToOpusOptions,
  ) {
    this.channels = Math.min(2, Math.max(1, channels));
    this.resampler = new Resampler(inputRate, OPUS_RATE, this.channels);
    this.encoder = new OpusScript(OPUS_RATE, this.channels, OpusScript.Application.AUDIO);
    this.encoder.setBitrate(options.bitrate ?? 128_000);
    this.encoder.encoderCTL(OPUS_SET_INBAND_FEC, 1);
    this.encoder.encoderCTL(OPUS_SET_PACKET_LOSS_PERC, options.expectedLossPercent ?? 5);
  }

  static async create(options: AacToOpusOptions): Promise<AacToOpus> {
    const asc = parseAudioSpecificConfig(options.asc);
    const dec = (await aacDecoder({ asc: new Uint8Array(options.asc) })) as Decoder;
    // SBR doubles the output rate; the decoder reports the real one with its first output.
    const rate = asc.extensionSampleRate ?? asc.sampleRate;
    return new AacToOpus(dec, rate, asc.channels || 2, options);
  }

  /** Transcodes one raw AAC access unit with its pts (90 kHz); returns the Opus frames completed. */
  push(aac: Buffer, pts: number): OpusPacket[] {
    if (this.closed) return [];
    const { channelData, sampleRate } = this.decoder.decode(new Uint8Array(aac.buffer, aac.byteOffset, aac.length));
    if (sampleRate && sampleRate !== this.inputRate && channelData[0]?.length) {
      throw new Error(`AAC decoder output rate ${sampleRate} differs from the configuration's ${this.inputRate}`);
    }
    const frames = channelData[0]?.length ?? 0;
    // The decoder withholds its first frame: output lags input by one frame, which the pts of the
    // output accounts for by anchoring on the input time of the first output sample.
    if (frames === 0) {
      this.nextInputPts ??= pts;
      return [];
    }
    const interleaved = new Float32Array(frames * this.channels);
    for (let c = 0; c < this.channels; c++) {
      const src = channelData[Math.min(c, channelData.length - 1)]!;
      for (let i = 0; i < frames; i++) interleaved[i * this.channels + c] = src[i]!;
    }
    const outputPts = this.nextInputPts ?? pts;
    this.nextInputPts = pts;
    const resampled = this.resampler.process(interleaved);
    const expected = this.pendingPts === null ? null : this.pendingPts + ((this.pending.length / this.channels) * TIMESCALE) / OPUS_RATE;
    if (expected === null || Math.abs(expected - (outputPts - this.delayTicks())) > RESYNC_TICKS) {
      // First frame, or a jump in the source clock: restart from the AAC time.
      this.pending = new Float32Array(0);
      this.pendingPts = outputPts - this.delayTicks();
    }
    const joined = new Float32Array(this.pending.length + resampled.length);
    joined.set(this.pending);
    joined.set(resampled, this.pending.length);
    const out: OpusPacket[] = [];
    const step = OPUS_FRAME * this.channels;
    let pos = 0;
    const pcm = Buffer.allocUnsafe(step * 2);
    for (; pos + step <= joined.length; pos += step) {
      for (let i = 0; i < step; i++) {
        const v = Math.max(-1, Math.min(1, joined[pos + i]!));
        pcm.writeInt16LE(Math.round(v * 32767), i * 2);
      }
      const data = Buffer.from(this.encoder.encode(pcm, OPUS_FRAME));
      out.push({ data, pts: Math.round(this.pendingPts!), samples: OPUS_FRAME });
      this.pendingPts! += (OPUS_FRAME * TIMESCALE) / OPUS_RATE;
    }
    this.pending = joined.slice(pos);
    return out;
  }

  /** The resampler's delay in 90 kHz ticks (the output is that much late against its input). */
  private delayTicks(): number {
    return (this.resampler.delay * TIMESCALE) / OPUS_RATE;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.decoder.free();
    this.encoder.delete();
  }
}
