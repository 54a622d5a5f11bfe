/**
 * Stream → FLV byte stream for one reader (HTTP-FLV or WS-FLV). Every tag comes from the unit's
 * memo, so all readers share the same Buffers; this class only decides what to send when.
 */
import { latencyProbe } from '../../core/latency-probe.js';
import type { MediaUnit, StreamMetadata, Track } from '../../core/media-unit.js';
import type { ReaderSink, StreamStart } from '../../core/reader.js';
import { FLV_TAG_AUDIO, FLV_TAG_SCRIPT, FLV_TAG_VIDEO, buildFlvHeader, buildFlvTag } from '../../format/flv/index.js';
import { flvCarries, flvOmits, flvTagOf, metadataBodyOf, sequenceHeaderBodyOf } from '../../format/flv-media.js';

/** Where the FLV bytes go: one HTTP response or one WebSocket. */
export interface FlvTransport {
  /** Sends one piece (an FLV header or one tag). */
  send(bytes: Buffer): void;
  /**
   * Sends one unit's tag. `tag` is shared by every reader; a transport that frames its messages may
   * keep its framed bytes on the unit's memo (see `memoized`) so the framing is done once per unit.
   */
  sendUnit(unit: MediaUnit, tag: Buffer): void;
  backlog(): number;
  beginBatch?(): void;
  endBatch?(): void;
  /** Finishes the response cleanly (end of stream). */
  end(): void;
  /** Aborts the connection, logging `reason`. */
  abort(reason: string): void;
}

export class FlvReader implements ReaderSink {
  private started = false;
  /** Sequence-header timestamps must not go backwards: send later ones at the last unit's time. */
  private lastTimestamp = 0;

  constructor(
    private readonly transport: FlvTransport,
    private readonly protocol: string,
  ) {}

  start(info: StreamStart): void {
    const hasVideo = info.tracks.some((t) => t.kind === 'video' && flvCarries(t)) || hintsVideo(info.metadata);
    const hasAudio = info.tracks.some((t) => t.kind === 'audio') || hintsAudio(info.metadata);
    const unknown = info.tracks.length === 0 && !info.metadata;
    this.transport.send(buildFlvHeader({ audio: hasAudio || unknown, video: hasVideo || unknown }));
    if (info.metadata) this.metadata(info.metadata);
    for (const track of info.tracks) this.sendSequenceHeader(track);
    this.started = true;
  }

  omits(track: Track): string | null {
    return flvOmits(track);
  }

  unit(unit: MediaUnit): void {
    // A track FLV cannot carry (VP8 from a WHIP publisher) is left out: the player gets the rest.
    if (!flvCarries(unit.track)) return;
    const tag = flvTagOf(unit);
    this.lastTimestamp = tag.readUIntBE(4, 3) | (tag[7]! << 24);
    this.transport.sendUnit(unit, tag);
    const probe = latencyProbe();
    if (probe) {
      // In a batch the bytes reach the kernel at endBatch: record then.
      if (this.batching) (this.batchUnits ??= []).push(unit);
      else probe.record(this.protocol, performance.now() - unit.receivedAt);
    }
  }

  trackUpdate(track: Track): void {
    if (this.started) this.sendSequenceHeader(track);
  }

  metadata(meta: StreamMetadata): void {
    // Timestamp 0, always: ffmpeg reads an onMetaData at any other time as a subtitle stream.
    this.transport.send(buildFlvTag(FLV_TAG_SCRIPT, 0, metadataBodyOf(meta)));
  }

  end(): void {
    this.transport.end();
  }

  backlog(): number {
    return this.transport.backlog();
  }

  private batching = false;
  private batchUnits: MediaUnit[] | undefined;

  beginBatch(): void {
    this.batching = true;
    this.transport.beginBatch?.();
  }

  endBatch(): void {
    this.batching = false;
    this.transport.endBatch?.();
    if (this.batchUnits) {
      const now = performance.now();
      for (const u of this.batchUnits) latencyProbe()?.record(this.protocol, now - u.receivedAt);
      this.batchUnits = undefined;
    }
  }

  drop(reason: string): void {
    this.transport.abort(reason);
  }

  private sendSequenceHeader(track: Track): void {
    const body = sequenceHeaderBodyOf(track);
    if (!body) return;
    const type = track.kind === 'video' ? FLV_TAG_VIDEO : FLV_TAG_AUDIO;
    this.transport.send(buildFlvTag(type, this.lastTimestamp >>> 0, body));
  }
}

function hintsVideo(meta: StreamMetadata | null): boolean {
  return meta !== null && meta.videocodecid !== undefined && meta.videocodecid !== 0;
}

function hintsAudio(meta: StreamMetadata | null): boolean {
  return meta !== null && meta.audiocodecid !== undefined && meta.audiocodecid !== 0;
}
