/**
 * The unit of media that flows from an ingest session through a Stream to every reader.
 *
 * Times are in one common timescale everywhere in livegate: 90 kHz ticks. It represents
 * FLV/RTMP milliseconds (×90), MPEG-TS and RTP video clocks exactly.
 */
export const TIMESCALE = 90_000;

export type VideoCodec = 'h264' | 'h265' | 'av1' | 'vp8' | 'vp9';
/** `pcmu` / `pcma`: G.711 µ-law / A-law, 8 kHz mono, one byte per sample (RTSP cameras). */
export type AudioCodec = 'aac' | 'opus' | 'mp3' | 'pcmu' | 'pcma';
export type Codec = VideoCodec | AudioCodec;

interface TrackBase {
  /** Index of the track in its stream (0, 1, …). */
  readonly id: number;
}

export interface VideoTrack extends TrackBase {
  readonly kind: 'video';
  readonly codec: VideoCodec;
  /**
   * Decoder configuration record as carried by MP4/FLV: avcC (h264), hvcC (h265), av1C, vpcC.
   * null until the publisher has sent it.
   */
  readonly config: Buffer | null;
  readonly width?: number;
  readonly height?: number;
  /** e.g. "avc1.64001f" (RFC 6381), when known. */
  readonly codecString?: string;
}

export interface AudioTrack extends TrackBase {
  readonly kind: 'audio';
  readonly codec: AudioCodec;
  /** AudioSpecificConfig (aac), OpusHead (opus); null when the codec has none. */
  readonly config: Buffer | null;
  readonly sampleRate: number;
  readonly channels: number;
  readonly codecString?: string;
}

export type Track = VideoTrack | AudioTrack;

/**
 * One access unit of one track. Immutable once published into a Stream and shared by every
 * reader: readers must never modify `data`.
 *
 * Canonical data forms:
 * - h264 / h265: NAL units, each prefixed by a 4-byte big-endian length (AVCC/HVCC form).
 * - av1: low-overhead OBU stream; vp8 / vp9: one frame.
 * - aac: one raw access unit (no ADTS header); opus: one packet; mp3: one frame; pcmu/pcma: the
 *   G.711 bytes of one RTP packet (a sample each).
 */
export interface MediaUnit {
  readonly track: Track;
  /** Decode timestamp, 90 kHz ticks. */
  readonly dts: number;
  /** Presentation timestamp, 90 kHz ticks. */
  readonly pts: number;
  /** Random access point (IDR / IRAP for video; always true for audio). */
  readonly keyframe: boolean;
  readonly data: Buffer;
  /** performance.now() when the ingest session finished receiving this unit (latency probes). */
  readonly receivedAt: number;
  /**
   * Per-unit memo for output formats: an output muxer stores the bytes it made for this unit under
   * its own symbol so that the work is done once per unit, not once per reader. An ingest session
   * may pre-fill it with the bytes it received when they are already in that format.
   */
  readonly memo: { [key: symbol]: unknown };
}

export function makeUnit(
  track: Track,
  dts: number,
  pts: number,
  keyframe: boolean,
  data: Buffer,
  receivedAt: number = performance.now(),
): MediaUnit {
  return { track, dts, pts, keyframe, data, receivedAt, memo: {} };
}

/** Stream-level metadata (FLV onMetaData and similar) as plain values. */
export type MetadataValue =
  | number
  | boolean
  | string
  | null
  | undefined
  | Date
  | MetadataValue[]
  | { [key: string]: MetadataValue };
export type StreamMetadata = { [key: string]: MetadataValue };
