/**
 * Derived audio tracks. A stream's audio in another codec (the AAC rendition of an Opus source for
 * FLV and RTMP players, the Opus rendition of an AAC source for WebRTC viewers) is a rendition of the
 * stream: made by the first reader that asks for it (`Stream.addReader(…, { audio: […] })`), shared by
 * every reader that needs it, stopped a linger after the last. How a rendition is made (a transcoder)
 * is given to the registry by whoever builds the gateway: the core and the protocols never know.
 */
import type { AudioCodec, AudioTrack, MediaUnit, StreamMetadata } from './media-unit.js';
import type { Stream } from './stream.js';

/** What a reader of a rendition is told. */
export interface RenditionSubscriber {
  /** The rendition's track (a new object when its configuration changes). */
  track(track: AudioTrack): void;
  /** New units, in order; several at once when they were made together. */
  units(units: readonly MediaUnit[]): void;
  /** The rendition is over (the stream ended, the transcoder failed, the source codec changed). */
  stopped(reason: string): void;
}

/** What a reader needs of a rendition. */
export interface RenditionSource {
  /** The rendition's track, once it has its configuration. */
  readonly track: AudioTrack | null;
  /** Units kept for readers that join (those with dts ≥ `fromDts`), oldest first. */
  recent(fromDts: number): MediaUnit[];
  /** Starts the rendition on first use; returns the unsubscribe function (the last one starts the linger). */
  subscribe(sub: RenditionSubscriber): () => void;
  /**
   * How much later than its input the rendition's units leave (ms, smoothed): a reader that must
   * keep its other tracks in step with it (WebRTC lip sync) holds them back by as much.
   */
  readonly delayMs?: number;
}

/** The rendition as the API shows it. */
export interface RenditionView {
  from: AudioCodec;
  to: AudioCodec;
  /** Readers using it. */
  readers: number;
  framesIn: number;
  framesOut: number;
  /** Input dropped because the transcoder fell behind. */
  framesDropped?: number;
}

/** One running rendition of one stream. */
export interface AudioRendition extends RenditionSource {
  readonly from: AudioCodec;
  readonly to: AudioCodec;
  /** Stopped for good: the stream makes a new one for the next reader that asks. */
  readonly isClosed: boolean;
  /** Started (a reader asked) and not stopped. */
  readonly running: boolean;
  view(): RenditionView;
}

/** How to make renditions from one codec into another: given to the registry at start. */
export interface RenditionMaker {
  readonly from: AudioCodec;
  readonly to: AudioCodec;
  make(stream: Stream): AudioRendition;
  /**
   * The track readers are told of before the rendition has given its own: the configuration it will
   * have, so a player's probe finds the audio (and FLV its sequence header) before the first frame.
   */
  placeholder(source: AudioTrack): AudioTrack;
  /** onMetaData as readers of the rendition see it (naming the codec they get). */
  metadata?(meta: StreamMetadata): StreamMetadata;
}

/** What a reader asks of the stream: the audio codecs it can play (others come as a rendition where one can be made). */
export interface ReaderWants {
  readonly audio?: readonly AudioCodec[];
}
