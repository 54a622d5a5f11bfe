/**
 * AAC decoders for the AAC → Opus transcoder. Both take raw access units in decode order and give
 * back PCM (planar Float32) in the same order, possibly later:
 * - `wasm`: FAAD2 compiled to WASM (@audio/decode-aac, GPL-2.0), in process, synchronous.
 * - `ffmpeg`: an ffmpeg child process (ADTS in, f32le out), for deployments that must avoid GPL code
 *   in the livegate process.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { buildAdtsHeader, parseAudioSpecificConfig, SAMPLE_RATES, type AudioSpecificConfig } from '../codec/aac.js';

export type AacDecoderKind = 'wasm' | 'ffmpeg';

export interface AacDecoder {
  /** Feeds one raw AAC access unit. */
  decode(frame: Buffer): void;
  close(): void;
}

export interface AacDecoderSink {
  /** Decoded samples, one Float32Array per channel, in input order. */
  pcm(channels: Float32Array[]): void;
  /**
   * The frame just fed gave no samples and never will (FAAD2 drops a stream's first frame: the
   * encoder's priming), so the samples that follow belong to the next frame.
   */
  skipped?(): void;
  error(err: Error): void;
}

export interface DecoderConfig {
  asc: Buffer;
  info: AudioSpecificConfig;
  /** Output rate (SBR doubles the core rate). */
  rate: number;
  channels: number;
}

export function decoderConfig(asc: Buffer): DecoderConfig {
  const info = parseAudioSpecificConfig(asc);
  return { asc, info, rate: info.extensionSampleRate ?? info.sampleRate, channels: info.channels || 2 };
}

export async function createAacDecoder(kind: AacDecoderKind, config: DecoderConfig, sink: AacDecoderSink): Promise<AacDecoder> {
  return kind === 'ffmpeg' ? new FfmpegAacDecoder(config, sink) : WasmAacDecoder.create(config, sink);
}

interface Faad {
  decode(data: Uint8Array): { channelData: Float32Array[]; sampleRate: number };
  free(): void;
}

class WasmAacDecoder implements AacDecoder {
  private constructor(
    private readonly faad: Faad,
    private readonly sink: AacDecoderSink,
  ) {}

  static async create(config: DecoderConfig, sink: AacDecoderSink): Promise<WasmAacDecoder> {
    // Loaded on first use only, so that a GPL-free deployment (aacDecoder: ffmpeg) never loads it.
    const { decoder } = await import('@audio/decode-aac');
    const faad = (await decoder({ asc: new Uint8Array(config.asc) })) as Faad;
    return new WasmAacDecoder(faad, sink);
  }

  decode(frame: Buffer): void {
    const { channelData } = this.faad.decode(new Uint8Array(frame.buffer, frame.byteOffset, frame.length));
    // FAAD2 drops a stream's first frame (the encoder's 1024 samples of priming) and gives each later
    // frame's own samples on its own call: measured on ffmpeg's AAC, a burst at source time t comes
    // out at t, where ffmpeg's own decoder (which keeps the priming frame) gives it one frame later.
    if ((channelData[0]?.length ?? 0) > 0) this.sink.pcm(channelData);
    else this.sink.skipped?.();
  }

  close(): void {
    this.faad.free();
  }
}

/** Most bytes queued to ffmpeg's stdin before frames are dropped (ffmpeg stuck or gone). */
const MAX_PENDING_INPUT = 1024 * 1024;

class FfmpegAacDecoder implements AacDecoder {
  private readonly child: ChildProcessWithoutNullStreams;
  private carry: Buffer = Buffer.alloc(0);
  private closed = false;
  private first = true;

  constructor(
    private readonly config: DecoderConfig,
    private readonly sink: AacDecoderSink,
  ) {
    const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-fflags', 'nobuffer', '-probesize', '32', '-analyzeduration', '0'];
    args.push('-f', 'aac', '-i', 'pipe:0', '-flush_packets', '1', '-f', 'f32le', '-acodec', 'pcm_f32le');
    args.push('-ac', String(config.channels), '-ar', String(config.rate), 'pipe:1');
    this.child = spawn(process.env.LIVEGATE_FFMPEG ?? 'ffmpeg', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d: Buffer) => this.onOutput(d));
    let stderr = '';
    this.child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    this.child.on('error', (err) => this.fail(new Error(`cannot run ffmpeg as AAC decoder: ${err.message}`)));
    this.child.on('exit', (code) => this.fail(new Error(`ffmpeg AAC decoder exited (${code}): ${stderr.trim()}`)));
    this.child.stdin.on('error', () => {});
  }

  decode(frame: Buffer): void {
    if (this.closed || this.child.stdin.writableLength > MAX_PENDING_INPUT) return;
    const { info } = this.config;
    const index = SAMPLE_RATES.indexOf(info.sampleRate as (typeof SAMPLE_RATES)[number]);
    // ADTS carries only the core profile (LC) and a table rate; that is what RTMP sources send.
    const header = buildAdtsHeader({ objectType: Math.min(info.objectType, 4), samplingFrequencyIndex: index < 0 ? 4 : index, channelConfiguration: info.channelConfiguration }, frame.length);
    this.child.stdin.write(Buffer.concat([header, frame]));
    // ffmpeg's decoder skips the encoder's priming (one frame) of an ADTS stream, as FAAD2 does:
    // measured, it gives one frame fewer than it is fed, and a burst at source time t at t.
    if (this.first) {
      this.first = false;
      this.sink.skipped?.();
    }
  }

  private onOutput(d: Buffer): void {
    const bytesPerFrame = 4 * this.config.channels;
    const data = this.carry.length ? Buffer.concat([this.carry, d]) : d;
    const whole = data.length - (data.length % bytesPerFrame);
    this.carry = Buffer.from(data.subarray(whole));
    const frames = whole / bytesPerFrame;
    if (frames === 0) return;
    const planar = Array.from({ length: this.config.channels }, () => new Float32Array(frames));
    for (let i = 0; i < frames; i++) {
      for (let c = 0; c < this.config.channels; c++) planar[c]![i] = data.readFloatLE((i * this.config.channels + c) * 4);
    }
    this.sink.pcm(planar);
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.sink.error(err);
  }

  close(): void {
    this.closed = true;
    this.child.stdin.end();
    this.child.kill('SIGKILL');
  }
}
