/**
 * One Opus → AAC transcoder inside the host worker: Opus decoding (libopus in WASM, see opus-native.ts),
 * the time line (AacClock: concealment of short gaps, new segments after jumps) and the AAC encoder
 * (libavcodec in WASM through mediabunny, which runs it in a worker of its own).
 *
 * A packet that does not decode costs its own duration (concealed), never an exception; an encoder
 * failure is reported once through `sink.error` and ends the pipeline.
 */
import { AdtsOutputFormat, AudioSample, AudioSampleSource, NullTarget, Output, type EncodedPacket } from 'mediabunny';
import { opusSamples } from '../codec/opus.js';
import { AAC_RATE, AacClock } from './aac-clock.js';
import { OpusDecoder } from './opus-native.js';
import type { PipelineStats } from './opus-to-aac-messages.js';
import { threadIds } from './thread-cpu.js';

/** Loss concealment fades out within about this long; beyond it, silence costs nothing to make. */
const PLC_MAX_SAMPLES = AAC_RATE / 8;
/** Duration assumed for a packet whose TOC byte cannot be read (20 ms). */
const DEFAULT_SAMPLES = 960;
const EMPTY = Buffer.alloc(0);

export interface PipelineSink {
  /** The encoder's AudioSpecificConfig; comes once, before the first unit. */
  config(asc: Uint8Array): void;
  /** One raw AAC frame and its pts (90 kHz), in order. */
  unit(data: Uint8Array, pts: number): void;
  /** Counters changed (the host batches its report). */
  changed(): void;
  warning(msg: string, fields: Record<string, string | number>): void;
  /** The encoder failed: the pipeline is closed. */
  error(err: Error): void;
}

/**
 * Lets one encoder start at a time be watched for the threads it starts (its CPU counter). An
 * encoder that starts while another is watched just starts (starts never wait), uncounted, and
 * spoils the watch: the threads that appeared could be either one's.
 */
export interface StartGate {
  tryEnter(): boolean;
  /** Another encoder started during the watch. */
  spoil(): void;
  /** Ends the watch; false when it was spoiled. */
  leave(): boolean;
}

interface Pending {
  /** Interleaved 16-bit PCM, or null for a packet that only needs counting. */
  pcm: Int16Array | null;
  /** Input packets this entry completes (0 for padding and concealment). */
  packets: number;
}

export class OpusAacPipeline {
  readonly stats: PipelineStats;
  private readonly decoder: OpusDecoder;
  private readonly clock = new AacClock();
  private readonly output: Output;
  private readonly source: AudioSampleSource;
  private readonly queue: Pending[] = [];
  /** Samples handed to mediabunny so far (its timestamps must run on without gaps). */
  private encoded = 0;
  private lastSamples = DEFAULT_SAMPLES;
  /** Samples concealed in a row since the last good packet. */
  private concealRun = 0;
  private configSent = false;
  private started = false;
  private encoderStarted = false;
  private pumping = false;
  private closed = false;

  constructor(
    id: number,
    private readonly channels: 1 | 2,
    bitrate: number,
    private readonly sink: PipelineSink,
    private readonly gate: StartGate,
  ) {
    this.stats = { id, consumed: 0, framesOut: 0, decodeMs: 0, corruptPackets: 0, concealedSamples: 0, duplicates: 0, restarts: 0, encoderThreads: [] };
    this.decoder = new OpusDecoder(channels);
    this.output = new Output({ format: new AdtsOutputFormat(), target: new NullTarget() });
    this.source = new AudioSampleSource({ codec: 'aac', bitrate, onEncodedPacket: (p, meta) => this.onPacket(p, meta) });
    this.output.addAudioTrack(this.source);
  }

  async start(): Promise<void> {
    await this.output.start();
    this.started = true;
    void this.pump();
  }

  /** One Opus packet at `pts` (90 kHz); `resync`: input was dropped just before it. */
  push(data: Buffer, pts: number, resync: boolean): void {
    if (this.closed) return;
    const t0 = performance.now();
    const place = this.clock.place(pts, resync);
    if (place.duplicate) {
      this.queue.push({ pcm: null, packets: 1 });
    } else {
      if (place.pad > 0) this.queue.push({ pcm: new Int16Array(place.pad * this.channels), packets: 0 });
      if (place.conceal > 0) this.queue.push({ pcm: this.conceal(place.conceal), packets: 0 });
      let pcm = this.decode(data);
      if (pcm) {
        this.concealRun = 0;
        this.lastSamples = pcm.length / this.channels;
      } else {
        // Counted, and reported now and then: a publisher sending garbage should be visible in the log.
        if (this.stats.corruptPackets++ % 500 === 0) this.sink.warning('Opus packet did not decode, its time concealed', { corruptPackets: this.stats.corruptPackets });
        pcm = this.conceal(opusSamples(data) ?? this.lastSamples);
      }
      this.clock.advance(pcm.length / this.channels);
      this.queue.push({ pcm, packets: 1 });
    }
    this.stats.concealedSamples = this.clock.concealedSamples;
    this.stats.duplicates = this.clock.duplicates;
    this.stats.restarts = this.clock.restarts;
    this.stats.decodeMs += performance.now() - t0;
    void this.pump();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.decoder.close();
    // Stops mediabunny's encoder worker; a live stream has nothing to flush.
    this.output.cancel().catch(() => {});
  }

  /** A packet's PCM, or null when it is not a valid Opus packet (libopus refused it). */
  private decode(data: Buffer): Int16Array | null {
    return opusSamples(data) === null ? null : this.decoder.decode(data);
  }

  /**
   * `samples` of stand-in audio: libopus's loss concealment (an empty packet) for the first 125 ms
   * of a gap, so that a lost packet or two are bridged smoothly, then silence.
   */
  private conceal(samples: number): Int16Array {
    const out = new Int16Array(samples * this.channels);
    let filled = 0;
    while (filled < samples && this.concealRun < PLC_MAX_SAMPLES) {
      const plc = this.decoder.decode(EMPTY);
      if (!plc) break;
      const take = Math.min(plc.length / this.channels, samples - filled, PLC_MAX_SAMPLES - this.concealRun);
      if (take <= 0) break;
      out.set(plc.subarray(0, take * this.channels), filled * this.channels);
      filled += take;
      this.concealRun += take;
    }
    this.concealRun += samples - filled;
    return out;
  }

  /** Hands queued PCM to the encoder, one AudioSample at a time (mediabunny's back-pressure). */
  private async pump(): Promise<void> {
    if (this.pumping || !this.started) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const entry = this.queue[0]!;
        if (entry.pcm && entry.pcm.length > 0) {
          const frames = entry.pcm.length / this.channels;
          const sample = new AudioSample({ data: entry.pcm, format: 's16', numberOfChannels: this.channels, sampleRate: AAC_RATE, timestamp: this.encoded / AAC_RATE });
          this.encoded += frames;
          if (this.encoderStarted) await this.source.add(sample);
          else await this.startEncoder(sample);
          sample.close();
        }
        this.queue.shift();
        this.stats.consumed += entry.packets;
        this.sink.changed();
      }
    } catch (err) {
      if (!this.closed) {
        this.close();
        this.sink.error(err instanceof Error ? err : new Error(String(err)));
      }
    } finally {
      this.pumping = false;
    }
  }

  /** The first sample starts mediabunny's encoder (and its worker thread, noted for the CPU counter). */
  private async startEncoder(sample: AudioSample): Promise<void> {
    if (!this.gate.tryEnter()) {
      this.gate.spoil();
      await this.source.add(sample);
      this.encoderStarted = true;
      return;
    }
    let threads: number[] = [];
    try {
      const before = new Set(threadIds());
      await this.source.add(sample);
      threads = threadIds().filter((t) => !before.has(t));
      this.encoderStarted = true;
    } finally {
      if (this.gate.leave()) this.stats.encoderThreads = threads;
    }
  }

  private onPacket(packet: EncodedPacket, meta: EncodedAudioChunkMetadata | undefined): void {
    if (this.closed) return;
    const description = meta?.decoderConfig?.description;
    if (!this.configSent && description) {
      this.configSent = true;
      this.sink.config(bytesOf(description));
    }
    if (!this.configSent) {
      this.close();
      this.sink.error(new Error('AAC encoder gave no AudioSpecificConfig'));
      return;
    }
    this.stats.framesOut++;
    const pts = this.clock.ptsOfPacket(Math.round(packet.timestamp * AAC_RATE));
    // Only the priming frame of a stream that starts at 0 falls before it; FLV cannot carry it.
    if (pts >= 0) this.sink.unit(packet.data, pts);
  }
}

/** A copy of the decoder description (an ArrayBuffer or a view of one). */
function bytesOf(d: ArrayBufferLike | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice() : new Uint8Array(d).slice();
}
