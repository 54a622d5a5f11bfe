/**
 * Stream → one RTMP player. Media messages are chunked once per unit (type-0 first chunk, so no
 * per-connection header state is needed) and the same Buffer is written to every player.
 */
import type { MediaUnit, StreamMetadata, Track } from '../../core/media-unit.js';
import type { ReaderSink, StreamStart } from '../../core/reader.js';
import { flvBodyOf, flvCarries, flvOmits, flvTimestamp, sequenceHeaderBodyOf, metadataBodyOf } from '../../format/flv-media.js';
import { chunkMessage } from './chunk-writer.js';

const RTMP_CHUNKS = Symbol('rtmp.chunks');
/** Chunk stream ids as ffmpeg and OBS use them. */
const CSID_AUDIO = 4;
const CSID_VIDEO = 6;
const CSID_DATA = 5;
const MSG_AUDIO = 8;
const MSG_VIDEO = 9;
const MSG_DATA_AMF0 = 18;

/** What the player's connection offers to this reader. */
export interface RtmpPlayerConnection {
  readonly streamId: number;
  readonly chunkSize: number;
  write(bytes: Buffer): void;
  beginBatch(): void;
  endBatch(): void;
  backlog(): number;
  /** Sends end-of-stream (UnpublishNotify + StreamEOF) and closes gracefully. */
  endOfStream(): void;
  abort(reason: string): void;
}

/** The memo is shared by all players, so it only holds the common case (stream id 1, server chunk size). */
const SHARED_STREAM_ID = 1;

export class RtmpReader implements ReaderSink {
  private lastTimestamp = 0;
  private paused = false;

  constructor(
    private readonly conn: RtmpPlayerConnection,
    private readonly sharedChunkSize: number,
  ) {}

  omits(track: Track): string | null {
    return flvOmits(track);
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
  }

  start(info: StreamStart): void {
    if (info.metadata) this.metadata(info.metadata);
    for (const track of info.tracks) this.trackUpdate(track);
  }

  unit(unit: MediaUnit): void {
    // A track FLV cannot carry (VP8 from a WHIP publisher) is left out: the player gets the rest.
    if (this.paused || !flvCarries(unit.track)) return;
    this.lastTimestamp = flvTimestamp(unit);
    if (this.conn.streamId === SHARED_STREAM_ID && this.conn.chunkSize === this.sharedChunkSize) {
      let bytes = unit.memo[RTMP_CHUNKS] as Buffer | undefined;
      if (!bytes) unit.memo[RTMP_CHUNKS] = bytes = this.chunk(unit);
      this.conn.write(bytes);
    } else {
      this.conn.write(this.chunk(unit));
    }
  }

  trackUpdate(track: Track): void {
    const body = sequenceHeaderBodyOf(track);
    if (!body) return;
    const video = track.kind === 'video';
    this.conn.write(
      chunkMessage(
        { csid: video ? CSID_VIDEO : CSID_AUDIO, typeId: video ? MSG_VIDEO : MSG_AUDIO, timestamp: this.lastTimestamp, streamId: this.conn.streamId, payload: body },
        this.conn.chunkSize,
      ),
    );
  }

  metadata(meta: StreamMetadata): void {
    // Timestamp 0, always: ffmpeg (and so VLC, GStreamer's avdemux) reads an onMetaData at any other
    // time as a subtitle stream, and `-map 0 -c copy` to a file then fails on it.
    this.conn.write(
      chunkMessage(
        { csid: CSID_DATA, typeId: MSG_DATA_AMF0, timestamp: 0, streamId: this.conn.streamId, payload: metadataBodyOf(meta) },
        this.conn.chunkSize,
      ),
    );
  }

  end(): void {
    this.conn.endOfStream();
  }

  backlog(): number {
    return this.conn.backlog();
  }

  beginBatch(): void {
    this.conn.beginBatch();
  }

  endBatch(): void {
    this.conn.endBatch();
  }

  drop(reason: string): void {
    this.conn.abort(reason);
  }

  private chunk(unit: MediaUnit): Buffer {
    const video = unit.track.kind === 'video';
    return chunkMessage(
      {
        csid: video ? CSID_VIDEO : CSID_AUDIO,
        typeId: video ? MSG_VIDEO : MSG_AUDIO,
        timestamp: flvTimestamp(unit),
        streamId: this.conn.streamId,
        payload: flvBodyOf(unit),
      },
      this.conn.chunkSize,
    );
  }
}
