/**
 * RTMP publish → Stream: audio/video messages are FLV tag bodies, so they go through FlvToUnits
 * (which keeps the received body as the unit's FLV form: zero copy, byte-exact for players).
 */
import { IgnoredMediaReport } from '../../core/ignored-media.js';
import type { Logger } from '../../core/log.js';
import type { MediaUnit, StreamMetadata, Track } from '../../core/media-unit.js';
import type { Stream } from '../../core/stream.js';
import { FlvToUnits } from '../../format/flv-media.js';
import type { Amf0Value } from '../../format/amf0.js';

export class RtmpToStream {
  private readonly flv: FlvToUnits;
  /** Units of the current socket read, fanned out together by `flush`. */
  private pending: MediaUnit[] = [];
  ignoredTags = 0;
  /** What is dropped (a codec FLV readers cannot take, frames before a usable sequence header …). */
  readonly ignored: IgnoredMediaReport;

  constructor(
    private readonly stream: Stream,
    log: Logger,
  ) {
    const ignored = (this.ignored = new IgnoredMediaReport(log));
    this.flv = new FlvToUnits({
      track: (track: Track) => {
        this.flush();
        stream.setTrack(track);
      },
      unit: (unit: MediaUnit) => this.pending.push(unit),
      ignored: (reason, kind) => {
        this.ignoredTags++;
        ignored.ignored(reason, kind);
      },
      usable: (kind) => ignored.usable(kind),
    });
  }

  audio(timestamp: number, payload: Buffer, receivedAt: number): void {
    this.flv.pushAudio(timestamp, payload, receivedAt);
  }

  video(timestamp: number, payload: Buffer, receivedAt: number): void {
    this.flv.pushVideo(timestamp, payload, receivedAt);
  }

  /** Fans out what the last socket read produced (call after each read). */
  flush(): void {
    if (this.pending.length === 0) return;
    const units = this.pending;
    this.pending = [];
    this.stream.pushMany(units);
  }

  /** `flush` once the current turn of the event loop is done (after every message of one socket read). */
  flushSoon(): void {
    if (this.pending.length === 0 || this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  private flushQueued = false;

  /** Data messages: `onMetaData` (after the session stripped `@setDataFrame`) becomes stream metadata. */
  data(values: readonly Amf0Value[]): void {
    if (values[0] !== 'onMetaData') return;
    this.flush();
    const meta = values[1];
    if (meta && typeof meta === 'object' && !Array.isArray(meta) && !(meta instanceof Date)) {
      this.stream.setMetadata({ ...meta } as StreamMetadata);
    }
  }
}
