/**
 * Stream → SRT readers. One TsFeed per stream muxes every unit into MPEG-TS once and cuts it into
 * 1316-byte payloads (7 TS packets); every SRT reader of the stream is handed the same payload
 * Buffers (its connection adds only its own 16-byte header, and encrypts when it must). Because one
 * muxer serves everyone, the continuity counters are the same for all readers, and a reader that
 * joins starts on the feed's last random access point (PAT/PMT + keyframe), kept here by reference.
 */
import type { MediaUnit, StreamMetadata, Track } from '../../core/media-unit.js';
import type { ReaderSink, StreamStart } from '../../core/reader.js';
import { TS_PACKET_SIZE } from '../../format/mpegts/demuxer.js';
import { UnitsToTs } from '../../format/mpegts/ts-media.js';
import { LIVE_PAYLOAD_SIZE } from './packet.js';

/** A cached payload and the decode time (90 kHz) of the unit it belongs to. */
export interface CachedPayload {
  payload: Buffer;
  dts: number;
}

/** One SRT reader, as the feed sees it. */
export interface TsFeedReader {
  /** The start: the payloads since the last random access point, with their media times. */
  start(cached: readonly CachedPayload[]): void;
  /** Payloads of one unit; `randomAccess` when a reader may start (or resume) here. */
  payloads(payloads: readonly Buffer[], randomAccess: boolean): void;
  end(reason: string): void;
}

const PAT_PID = 0;
/** The feed's cache of the current GOP is bounded like the core's. */
const MAX_CACHE_BYTES = 32 * 1024 * 1024;

export class TsFeed implements ReaderSink {
  private readonly ts = new UnitsToTs();
  private readonly readers = new Set<TsFeedReader>();
  /** Payloads since the last random access point. */
  private cache: CachedPayload[] = [];
  private cacheBytes = 0;
  private cacheValid = false;
  private ended = false;

  constructor(private readonly onIdle: () => void) {}

  get readerCount(): number {
    return this.readers.size;
  }

  add(reader: TsFeedReader): void {
    this.readers.add(reader);
    if (this.cacheValid && this.cache.length > 0) reader.start(this.cache);
  }

  remove(reader: TsFeedReader): void {
    this.readers.delete(reader);
    if (this.readers.size === 0) this.onIdle();
  }

  start(info: StreamStart): void {
    this.ts.setTracks(info.tracks);
  }

  trackUpdate(_track: Track, tracks: readonly Track[]): void {
    this.ts.setTracks(tracks);
  }

  metadata(_meta: StreamMetadata): void {}

  unit(unit: MediaUnit): void {
    const bytes = this.ts.mux(unit);
    if (bytes.length === 0) return;
    const randomAccess = bytes.length >= TS_PACKET_SIZE && ((bytes[1]! & 0x1f) << 8 | bytes[2]!) === PAT_PID;
    const payloads: Buffer[] = [];
    for (let pos = 0; pos < bytes.length; pos += LIVE_PAYLOAD_SIZE) payloads.push(bytes.subarray(pos, pos + LIVE_PAYLOAD_SIZE));
    if (randomAccess) {
      this.cache = [];
      this.cacheBytes = 0;
      this.cacheValid = true;
    }
    if (this.cacheValid) {
      this.cacheBytes += bytes.length;
      if (this.cacheBytes > MAX_CACHE_BYTES) {
        this.cache = [];
        this.cacheValid = false;
      } else for (const payload of payloads) this.cache.push({ payload, dts: unit.dts });
    }
    for (const r of this.readers) r.payloads(payloads, randomAccess);
  }

  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    const readers = [...this.readers];
    this.readers.clear();
    this.cache = [];
    for (const r of readers) r.end(reason);
  }

  /** The feed never holds bytes back itself: each reader has its own limit. */
  backlog(): number {
    return 0;
  }

  drop(reason: string): void {
    this.end(reason);
  }
}
