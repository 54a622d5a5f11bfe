/**
 * Opus → AAC for FLV and RTMP readers: Opus packets in (with their 90 kHz pts), raw AAC-LC frames
 * out (48 kHz, 1024 samples each, with pts such that the decoded AAC lines up with the decoded
 * Opus). All the work — Opus decoding, concealment, AAC encoding — runs off the main thread, in one
 * worker shared by every transcoder of the process (see opus-to-aac-host.ts); this class only hands
 * packets over and bounds what waits for the worker.
 *
 * The worker's clock follows the input: gaps under a second are concealed so the AAC clock stays
 * continuous; a longer gap or a step back starts the AAC clock again at the new input time.
 */
import { AacWorkerHost, type AacUnit } from './opus-to-aac-host.js';
import type { PipelineStats } from './opus-to-aac-messages.js';
import { threadCpuMs } from './thread-cpu.js';

export type { AacUnit } from './opus-to-aac-host.js';

export interface OpusToAacOptions {
  channels: 1 | 2;
  /** AAC bitrate, bits per second. */
  bitrate: number;
  /** The encoder's AudioSpecificConfig; comes once, before the first units. */
  onConfig(asc: Buffer): void;
  /** AAC frames in order, as the worker sends them (several at once when it caught up). */
  onUnits(units: AacUnit[]): void;
  /** The transcoder is over: its encoder or the worker failed, or the worker stalled. */
  onError(err: Error): void;
  /** Something worth a log line that does not end the transcoder (input dropped, corrupt packets). */
  onWarning?(msg: string, fields: Record<string, string | number>): void;
  /** Input waiting longer than this for the worker is dropped (default 2000 ms). */
  maxLagMs?: number;
  /** Input waiting longer than this means the worker is stuck: the transcoder fails (default 10 000 ms). */
  stallMs?: number;
}

/**
 * The AudioSpecificConfig the encoder gives for `channels` (FFmpeg's native AAC encoder, AAC-LC at
 * 48 kHz, with the sync extension that says "no SBR"), known before it starts: readers announce the
 * AAC track with it at once, so a player's probe finds the audio before the first video frame. Should
 * the encoder say otherwise, its word replaces this one (a track update).
 */
export function expectedAudioSpecificConfig(channels: 1 | 2): Buffer {
  return Buffer.from(channels === 1 ? '118856e500' : '119056e500', 'hex');
}

/** Most input that may wait for the worker, however young (it may still be starting): 15 s of 20 ms packets. */
const MAX_IN_FLIGHT = 750;

export class OpusToAac {
  private readonly host: AacWorkerHost;
  private readonly id: number;
  /** performance.now() of every packet handed over and not yet consumed by the worker, oldest first. */
  private inFlight: number[] = [];
  private inFlightHead = 0;
  private consumed = 0;
  private resyncNext = false;
  private dropping = false;
  private closed = false;
  private workerStats: PipelineStats | null = null;
  private lastEncoderCpuMs: number | null = null;
  private readonly maxLagMs: number;
  private readonly stallMs: number;
  /** Counters. */
  framesIn = 0;
  framesOut = 0;
  /** Input dropped because the worker was too far behind. */
  framesDropped = 0;

  private constructor(private readonly options: OpusToAacOptions) {
    this.maxLagMs = options.maxLagMs ?? 2000;
    this.stallMs = options.stallMs ?? 10_000;
    this.host = AacWorkerHost.acquire();
    this.id = this.host.open(
      {
        config: (asc) => options.onConfig(asc),
        units: (units) => {
          this.framesOut += units.length;
          options.onUnits(units);
        },
        stats: (s) => this.onStats(s),
        warning: (msg, fields) => options.onWarning?.(msg, fields),
        error: (err) => this.fail(err),
      },
      options.channels,
      options.bitrate,
    );
  }

  /** Starts a transcoder (the shared worker too, on first use); output follows through the callbacks. */
  static create(options: OpusToAacOptions): OpusToAac {
    return new OpusToAac(options);
  }

  /** Whether the shared worker runs (it ends with the last transcoder). */
  static get workerRunning(): boolean {
    return AacWorkerHost.current !== null;
  }

  /** CPU time of the shared worker's thread so far (ms; Linux), or null. */
  static workerCpuMs(): number | null {
    const tid = AacWorkerHost.current?.threadId;
    return tid ? threadCpuMs(tid) : null;
  }

  /** Transcodes one Opus packet that starts at `pts` (90 kHz). Never throws. */
  push(opus: Buffer, pts: number): void {
    if (this.closed) return;
    this.framesIn++;
    const now = performance.now();
    const waiting = this.inFlight.length - this.inFlightHead;
    const oldest = waiting > 0 ? this.inFlight[this.inFlightHead]! : now;
    // Input waits while the worker starts; from when it runs, waiting too long means it is stuck.
    const readyAt = this.host.readyAt;
    if (readyAt !== null && now - Math.max(oldest, readyAt) > this.stallMs) {
      return this.fail(new Error(`Opus → AAC worker stalled: input waiting for ${Math.round(now - oldest)} ms`));
    }
    // Behind = this transcoder's encoder runs and still has old input waiting. What piled up while it
    // started (a second or more on a busy machine: worker, WASM, the encoder's own thread) is not lag.
    const lag = this.runningSince !== null ? now - Math.max(oldest, this.runningSince) : 0;
    if (lag > this.maxLagMs || waiting >= MAX_IN_FLIGHT) {
      this.framesDropped++;
      this.resyncNext = true;
      if (!this.dropping) {
        this.dropping = true;
        this.options.onWarning?.('Opus → AAC worker behind, input dropped', { lagMs: Math.round(lag), waiting, dropped: this.framesDropped });
      }
      return;
    }
    this.dropping = false;
    this.inFlight.push(now);
    this.host.push(this.id, opus, Math.round(pts), this.resyncNext);
    this.resyncNext = false;
  }

  /** Input handed over and not yet through the worker, and how long the oldest has waited (ms). */
  get backlog(): { packets: number; oldestMs: number } {
    const packets = this.inFlight.length - this.inFlightHead;
    return { packets, oldestMs: packets > 0 ? performance.now() - this.inFlight[this.inFlightHead]! : 0 };
  }

  /** What the worker counted: decode time, concealment, corrupt packets, clock restarts. */
  get stats(): PipelineStats | null {
    return this.workerStats;
  }

  /** CPU time (ms) of this transcoder's AAC encoder thread so far (Linux), or null when unknown. */
  get encoderCpuMs(): number | null {
    const threads = this.workerStats?.encoderThreads ?? [];
    if (this.closed || threads.length === 0) return this.lastEncoderCpuMs;
    let sum = 0;
    for (const t of threads) {
      const ms = threadCpuMs(t);
      if (ms === null) return this.lastEncoderCpuMs;
      sum += ms;
    }
    return (this.lastEncoderCpuMs = sum);
  }

  /** Idempotent. Frees this transcoder in the worker, and the worker itself after the last one. */
  close(): void {
    if (this.closed) return;
    // Read the encoder's CPU figure one last time: its thread ends with the transcoder.
    void this.encoderCpuMs;
    this.closed = true;
    this.host.close(this.id);
  }

  /** When this transcoder's encoder first reported (performance.now()), or null before. */
  private runningSince: number | null = null;

  private onStats(s: PipelineStats): void {
    this.workerStats = s;
    this.runningSince ??= performance.now();
    const done = s.consumed - this.consumed;
    this.consumed = s.consumed;
    this.inFlightHead = Math.min(this.inFlight.length, this.inFlightHead + done);
    // Compact now and then rather than shifting per packet.
    if (this.inFlightHead > 256) {
      this.inFlight = this.inFlight.slice(this.inFlightHead);
      this.inFlightHead = 0;
    }
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.close();
    this.options.onError(err);
  }
}
