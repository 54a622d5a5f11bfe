/**
 * Stream → SRT readers. The TS muxing is done once per stream: a TsMuxReader, attached to the
 * stream before its first SRT reader (so the stream hands it every unit first), muxes each unit into
 * MPEG-TS and cuts it into 1316-byte payloads (7 TS packets), kept on the unit's memo. Every SRT
 * reader is then an ordinary reader of the stream (the core's keyframe start and slow-reader rules
 * apply) that hands those same payload Buffers to its connection, which adds only its own 16-byte
 * header (and encrypts, when it must). One muxer for everyone also means the continuity counters are
 * the same for every reader.
 */
import type { MediaUnit, StreamMetadata, Track } from '../../core/media-unit.js';
import type { ReaderSink, StreamStart } from '../../core/reader.js';
import { tsCarries, UnitsToTs } from '../../format/mpegts/ts-media.js';
import { LIVE_PAYLOAD_SIZE } from './packet.js';

const NONE: readonly Buffer[] = [];

/**
 * Muxes every unit of a stream into TS payloads, once. Writes nothing anywhere. Each muxer keeps its
 * payloads under its own memo key: a later muxer of the same stream (after every SRT reader had
 * left) counts continuity afresh, so it must not reuse an earlier one's bytes.
 */
export class TsMuxReader implements ReaderSink {
  private readonly ts = new UnitsToTs();
  private readonly key = Symbol('srt.tsPayloads');

  /** The unit's TS payloads, once this muxer has seen it. */
  payloadsOf(unit: MediaUnit): readonly Buffer[] | undefined {
    return unit.memo[this.key] as readonly Buffer[] | undefined;
  }

  start(info: StreamStart): void {
    this.ts.setTracks(info.tracks);
  }

  trackUpdate(_track: Track, tracks: readonly Track[]): void {
    this.ts.setTracks(tracks);
  }

  unit(unit: MediaUnit): void {
    if (unit.memo[this.key]) return;
    const bytes = this.ts.mux(unit);
    if (bytes.length === 0) {
      unit.memo[this.key] = NONE;
      return;
    }
    const payloads: Buffer[] = [];
    for (let pos = 0; pos < bytes.length; pos += LIVE_PAYLOAD_SIZE) payloads.push(bytes.subarray(pos, pos + LIVE_PAYLOAD_SIZE));
    unit.memo[this.key] = payloads;
  }

  metadata(_meta: StreamMetadata): void {}
  end(): void {}
  drop(): void {}
  backlog(): number {
    return 0;
  }
}

/** What an SRT reader needs of its connection. */
export interface SrtReaderConnection {
  /** Queues one payload, due at `sourceUs` (µs, local clock). */
  write(payload: Buffer, nowUs: number, sourceUs: number): void;
  backlog(): number;
  close(reason: string): void;
}

/** A new reader's cached GOP is sent this much faster than real time (as WHEP paces it). */
export const GOP_SPEEDUP = 4;

/** One SRT reader of a stream. */
export class SrtReader implements ReaderSink {
  /** While the stream replays its cached GOP (synchronously, in `addReader`). */
  private replay: { startUs: number; firstDts: number | null } | null = null;

  constructor(
    private readonly conn: SrtReaderConnection,
    private readonly mux: TsMuxReader,
  ) {}

  start(): void {
    this.replay = { startUs: performance.now() * 1000, firstDts: null };
    // The replay happens in the same turn of the event loop; live units come later.
    queueMicrotask(() => (this.replay = null));
  }

  unit(unit: MediaUnit): void {
    const payloads = this.mux.payloadsOf(unit);
    if (!payloads || payloads.length === 0) return;
    const now = performance.now() * 1000;
    let due = now;
    const replay = this.replay;
    if (replay) {
      // The cached GOP is spread out by source time, not sent in one burst that would overflow
      // buffers on the way and leave no time to retransmit what is lost.
      replay.firstDts ??= unit.dts;
      // Audio muxed late can be older than the keyframe: it is due at once.
      due = replay.startUs + (Math.max(0, unit.dts - replay.firstDts) * 100) / 9 / GOP_SPEEDUP;
    }
    for (const p of payloads) this.conn.write(p, now, due);
  }

  trackUpdate(): void {}
  metadata(): void {}

  omits(track: Track): string | null {
    return tsCarries(track) ? null : `MPEG-TS (SRT) cannot carry ${track.codec.toUpperCase()} ${track.kind}`;
  }

  end(reason: string): void {
    this.conn.close(`stream ended: ${reason}`);
  }

  backlog(): number {
    return this.conn.backlog();
  }

  drop(reason: string): void {
    this.conn.close(reason);
  }
}
