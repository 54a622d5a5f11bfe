/**
 * SRT publish → Stream: the payloads an SRT publisher sends are MPEG-TS (7 packets each, by
 * convention); TsToUnits turns them into tracks and canonical units for the stream.
 */
import type { MediaUnit, Track } from '../../core/media-unit.js';
import type { Stream } from '../../core/stream.js';
import { TsToUnits } from '../../format/mpegts/ts-media.js';

export class SrtToStream {
  private readonly ts: TsToUnits;
  private pending: MediaUnit[] = [];
  ignored = 0;
  /** Continuity errors and lost TS sync seen in what the publisher sent. */
  transportErrors = 0;

  constructor(
    private readonly stream: Stream,
    onIgnored: (reason: string) => void,
  ) {
    this.ts = new TsToUnits({
      track: (track: Track) => {
        this.flushUnits();
        stream.setTrack(track);
      },
      unit: (unit) => this.pending.push(unit),
      ignored: (reason) => {
        this.ignored++;
        onIgnored(reason);
      },
      warning: (reason) => {
        if (this.transportErrors++ === 0) onIgnored(reason);
      },
    });
  }

  /** One SRT payload, in order, at its delivery time. */
  push(payload: Buffer, receivedAt: number): void {
    this.ts.push(payload, receivedAt);
    this.flushUnits();
  }

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
