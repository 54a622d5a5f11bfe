/**
 * SRT publish → Stream: the payloads an SRT publisher sends are MPEG-TS (7 packets each, by
 * convention); TsToUnits turns them into tracks and canonical units for the stream.
 */
import { IgnoredMediaReport } from '../../core/ignored-media.js';
import type { Logger } from '../../core/log.js';
import type { MediaUnit, Track } from '../../core/media-unit.js';
import type { Stream } from '../../core/stream.js';
import { TsToUnits } from '../../format/mpegts/ts-media.js';

export class SrtToStream {
  private readonly ts: TsToUnits;
  private pending: MediaUnit[] = [];
  ignored = 0;
  /** Continuity errors and lost TS sync seen in what the publisher sent. */
  transportErrors = 0;

  /** What is dropped, reported once and then counted every 10 s while it lasts. */
  readonly report: IgnoredMediaReport;

  constructor(
    private readonly stream: Stream,
    log: Logger,
  ) {
    const report = (this.report = new IgnoredMediaReport(log));
    this.ts = new TsToUnits({
      track: (track: Track) => {
        this.flushUnits();
        stream.setTrack(track);
      },
      unit: (unit) => this.pending.push(unit),
      ignored: (reason, kind) => {
        this.ignored++;
        report.ignored(reason, kind);
      },
      usable: (kind) => report.usable(kind),
      warning: (reason) => {
        this.transportErrors++;
        report.ignored(reason, 'transport');
      },
    });
  }

  /** One SRT payload, in order, at its delivery time. */
  push(payload: Buffer, receivedAt: number): void {
    this.ts.push(payload, receivedAt);
    this.flushUnits();
  }

  /**
   * Like `push`, but the units go out together once the current turn of the event loop is done
   * (a caller reading many payloads in one turn: one fan-out, one write per reader for all of them).
   */
  pushBatched(payload: Buffer, receivedAt: number): void {
    this.ts.push(payload, receivedAt);
    if (this.pending.length === 0 || this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flushUnits();
    });
  }

  private flushQueued = false;

  /** The publisher is gone: what the demuxer still holds goes out. */
  end(): void {
    this.ts.flush();
    this.flushUnits();
  }

  private flushUnits(): void {
    if (this.pending.length === 0) return;
    const units = this.pending;
    this.pending = [];
    this.stream.pushMany(units);
  }
}
