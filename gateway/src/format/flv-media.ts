/**
 * MediaUnit ⇄ FLV tags: the one place that knows how livegate's canonical units look as FLV tag
 * bodies (legacy FLV for H264/AAC/MP3, Enhanced RTMP for H265/AV1/VP9/Opus). Pure: no I/O.
 *
 * Output bytes are memoised on the unit, so a tag is built once per unit whatever the number of
 * readers, and an ingest session that received FLV bodies pre-fills the memo (zero copy, and
 * byte-exact pass-through).
 */
import { ParseError, UnsupportedError } from '../core/errors.js';
import { makeUnit, TIMESCALE, type AudioTrack, type MediaUnit, type StreamMetadata, type Track, type VideoTrack } from '../core/media-unit.js';
import { parseAudioSpecificConfig, codecString as aacCodecString } from '../codec/aac.js';
import { parseAvcC, parseSps, codecString as avcCodecString } from '../codec/h264.js';
import { convertLengthSize } from '../codec/nal-units.js';
import { parseHvcC, parseH265Sps, codecString as hevcCodecString } from '../codec/h265.js';
import {
  FLV_TAG_AUDIO,
  FLV_TAG_VIDEO,
  buildAudioBody,
  buildFlvTag,
  buildVideoBody,
  parseAudioBody,
  parseVideoBody,
  type AudioBody,
  type VideoBody,
} from './flv/index.js';
import { parseMpegAudioHeader, type MpegAudioHeader } from '../codec/mpeg-audio.js';
import { encodeAmf0, type Amf0Value } from './amf0.js';

const FLV_BODY = Symbol('flv.body');
const FLV_TAG = Symbol('flv.tag');
const MS = TIMESCALE / 1000;

export const VIDEO_TRACK_ID = 0;
export const AUDIO_TRACK_ID = 1;

/** Declares that `body` is this unit's FLV tag body (the ingest received it as such). */
export function presetFlvBody(unit: MediaUnit, body: Buffer): void {
  unit.memo[FLV_BODY] = body;
}

/** FLV timestamp of a unit in milliseconds (32-bit, wrapping as FLV does). */
export function flvTimestamp(unit: MediaUnit): number {
  return Math.round(unit.dts / MS) >>> 0;
}

/** The FLV tag body of a unit (built once, then shared). */
export function flvBodyOf(unit: MediaUnit): Buffer {
  const cached = unit.memo[FLV_BODY] as Buffer | undefined;
  if (cached) return cached;
  const body = buildBody(unit);
  unit.memo[FLV_BODY] = body;
  return body;
}

/** The whole FLV tag of a unit: header, body and PreviousTagSize (built once, then shared). */
export function flvTagOf(unit: MediaUnit): Buffer {
  const cached = unit.memo[FLV_TAG] as Buffer | undefined;
  if (cached) return cached;
  const type = unit.track.kind === 'video' ? FLV_TAG_VIDEO : FLV_TAG_AUDIO;
  const tag = buildFlvTag(type, flvTimestamp(unit), flvBodyOf(unit));
  unit.memo[FLV_TAG] = tag;
  return tag;
}

/**
 * Whether FLV (and so RTMP) can carry a track. VP8 has no FLV mapping that players read (a WHIP
 * publisher's VP8 goes to WebRTC viewers only); FLV readers leave such a track out.
 */
export function flvCarries(track: Track): boolean {
  if (track.kind === 'video') return track.codec !== 'vp8';
  // G.711 reaches FLV readers as the stream's AAC rendition (browsers' FLV players cannot decode it).
  return track.codec !== 'pcmu' && track.codec !== 'pcma';
}

/** Why FLV (and RTMP) readers cannot carry a track, or null when they can (see `flvCarries`). */
export function flvOmits(track: Track): string | null {
  return flvCarries(track) ? null : `FLV and RTMP cannot carry ${track.codec.toUpperCase()} ${track.kind}`;
}

function buildBody(unit: MediaUnit): Buffer {
  const track = unit.track;
  if (track.kind === 'video') {
    if (track.codec === 'vp8') throw new UnsupportedError('FLV cannot carry VP8');
    return buildVideoBody({
      codec: track.codec,
      packetType: 'coded-frames',
      keyframe: unit.keyframe,
      compositionTimeMs: Math.round((unit.pts - unit.dts) / MS),
      data: unit.data,
    });
  }
  if (track.codec === 'pcmu' || track.codec === 'pcma') throw new UnsupportedError('FLV readers get G.711 as AAC');
  return buildAudioBody({ codec: track.codec, packetType: 'coded-frames', data: unit.data, sampleRate: track.sampleRate, channels: track.channels });
}

const sequenceHeaders = new WeakMap<Track, Buffer | null>();

/** The sequence-header tag body of a track (AVC/HEVC/AV1 record, AudioSpecificConfig …), or null. */
export function sequenceHeaderBodyOf(track: Track): Buffer | null {
  let body = sequenceHeaders.get(track);
  if (body !== undefined) return body;
  if (!track.config) body = null;
  else if (track.kind === 'video') {
    body =
      track.codec === 'vp8'
        ? null
        : buildVideoBody({ codec: track.codec, packetType: 'sequence-start', keyframe: true, compositionTimeMs: 0, data: track.config });
  } else if (track.codec === 'mp3' || track.codec === 'pcmu' || track.codec === 'pcma') body = null;
  else {
    body = buildAudioBody({ codec: track.codec, packetType: 'sequence-start', data: track.config, sampleRate: track.sampleRate, channels: track.channels });
  }
  sequenceHeaders.set(track, body);
  return body;
}

const metadataBodies = new WeakMap<StreamMetadata, Buffer>();

/** The `onMetaData` script tag body for stream metadata (encoded once per metadata object). */
export function metadataBodyOf(meta: StreamMetadata): Buffer {
  let body = metadataBodies.get(meta);
  if (!body) {
    body = encodeAmf0('onMetaData', meta as Amf0Value);
    metadataBodies.set(meta, body);
  }
  return body;
}

/** Receives what an FLV source produces. */
export interface FlvUnitSink {
  track(track: Track): void;
  unit(unit: MediaUnit): void;
  /**
   * A tag was dropped, with why. Called for every dropped tag; `kind` names the condition and is the
   * same for every tag it drops (e.g. `video-config` while video waits for a usable sequence header),
   * so the caller can count and report it rather than log each tag.
   */
  ignored(reason: string, kind: IgnoredKind): void;
  /** The condition `kind` is over (a usable sequence header arrived). */
  usable?(kind: IgnoredKind): void;
}

/** Why FLV tags are dropped. */
export type IgnoredKind = 'video-codec' | 'video-config' | 'video-tag' | 'audio-codec' | 'audio-config' | 'audio-tag';

/**
 * FLV tags (from an RTMP publisher or an FLV file) → tracks and canonical MediaUnits.
 * Extends 32-bit millisecond timestamps past their wrap (49.7 days).
 *
 * A sequence header that cannot be used (empty, truncated or malformed: ffmpeg sends an empty
 * AudioSpecificConfig first when it relays MPEG-TS or ADTS input with `-c copy`, and the real one with
 * the first frame) is dropped and reported; the track stays as it was (or absent) until a usable one
 * arrives, and frames of that track are dropped meanwhile. A malformed tag body is dropped likewise.
 * Nothing here ends the session: the FLV framing around a bad body is intact.
 */
export class FlvToUnits {
  private video: VideoTrack | null = null;
  private audio: AudioTrack | null = null;
  private videoLengthSize = 4;
  private lastMs = -1;
  private wraps = 0;
  /** Conditions that dropped something and are not over yet. */
  private readonly dropping = new Set<IgnoredKind>();

  constructor(private readonly sink: FlvUnitSink) {}

  private drop(reason: string, kind: IgnoredKind): void {
    this.dropping.add(kind);
    this.sink.ignored(reason, kind);
  }

  private over(kind: IgnoredKind): void {
    if (this.dropping.delete(kind)) this.sink.usable?.(kind);
  }

  get tracks(): Track[] {
    return [this.video, this.audio].filter((t): t is Track => t !== null);
  }

  private extend(ms: number): number {
    if (this.lastMs >= 0 && ms < this.lastMs && this.lastMs - ms > 0x8000_0000) this.wraps++;
    this.lastMs = ms;
    return ms + this.wraps * 0x1_0000_0000;
  }

  pushVideo(timestampMs: number, body: Buffer, receivedAt: number): void {
    let v: VideoBody;
    try {
      v = parseVideoBody(body);
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      return this.drop(`malformed video tag: ${err.message}`, 'video-tag');
    }
    if (v.codec === 'unknown') return this.drop(`unsupported video codec ${v.fourCC ?? ''}`.trim(), 'video-codec');
    if (v.packetType === 'sequence-start') {
      if (this.video && this.video.codec === v.codec && this.video.config?.equals(v.data)) return;
      let track: VideoTrack;
      let lengthSize = 4;
      try {
        if (v.data.length === 0) throw new ParseError('empty decoder configuration');
        if (v.codec === 'h264' || v.codec === 'h265') lengthSize = lengthSizeOf(v.codec, v.data);
        track = videoTrack(v.codec, Buffer.from(v.data));
      } catch (err) {
        if (!(err instanceof ParseError)) throw err;
        return this.drop(`${v.codec} sequence header not usable (${err.message}): waiting for a usable one`, 'video-config');
      }
      this.video = track;
      this.videoLengthSize = lengthSize;
      this.over('video-config');
      this.sink.track(track);
      return;
    }
    if (v.packetType !== 'coded-frames') return;
    if (v.frameType === 5) return; // video info/command frame: no picture
    const track = this.video;
    if (!track || track.codec !== v.codec) return this.drop(`${v.codec} video frame before a usable sequence header`, 'video-config');
    if (v.data.length === 0) return;
    const ms = this.extend(timestampMs);
    let data = v.data;
    let exact = true;
    if ((track.codec === 'h264' || track.codec === 'h265') && this.videoLengthSize !== 4) {
      try {
        data = convertLengthSize(v.data, this.videoLengthSize, 4);
      } catch (err) {
        if (!(err instanceof ParseError)) throw err;
        return this.drop(`malformed video tag: ${err.message}`, 'video-tag');
      }
      exact = false;
    }
    const dts = ms * MS;
    const unit = makeUnit(track, dts, dts + v.compositionTimeMs * MS, v.frameType === 1, data, receivedAt);
    if (exact) presetFlvBody(unit, body);
    this.sink.unit(unit);
  }

  pushAudio(timestampMs: number, body: Buffer, receivedAt: number): void {
    let a: AudioBody;
    try {
      a = parseAudioBody(body);
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      return this.drop(`malformed audio tag: ${err.message}`, 'audio-tag');
    }
    if (a.codec !== 'aac' && a.codec !== 'opus' && a.codec !== 'mp3') {
      return this.drop(`unsupported audio codec ${a.fourCC ?? a.codec}`, 'audio-codec');
    }
    if (a.packetType === 'sequence-start') {
      if (a.codec === 'mp3') return; // MP3 needs no configuration
      if (this.audio && this.audio.codec === a.codec && this.audio.config?.equals(a.data)) return;
      let track: AudioTrack;
      try {
        track = audioTrack(a.codec, Buffer.from(a.data));
      } catch (err) {
        if (!(err instanceof ParseError)) throw err;
        return this.drop(`${a.codec} sequence header not usable (${err.message}): waiting for a usable one`, 'audio-config');
      }
      this.audio = track;
      this.over('audio-config');
      this.sink.track(track);
      return;
    }
    if (a.packetType !== 'coded-frames' || a.data.length === 0) return;
    if (a.codec === 'mp3' && this.audio?.codec !== 'mp3') {
      // MP3 has no sequence header: its frames say what they are.
      let header: MpegAudioHeader;
      try {
        header = parseMpegAudioHeader(a.data);
      } catch (err) {
        if (!(err instanceof ParseError)) throw err;
        return this.drop(`malformed MP3 frame: ${err.message}`, 'audio-tag');
      }
      this.audio = mp3Track(header);
      this.sink.track(this.audio);
    }
    const track = this.audio;
    if (!track || track.codec !== a.codec) return this.drop(`${a.codec} audio frame before a usable sequence header`, 'audio-config');
    const dts = this.extend(timestampMs) * MS;
    const unit = makeUnit(track, dts, dts, true, a.data, receivedAt);
    presetFlvBody(unit, body);
    this.sink.unit(unit);
  }
}

function lengthSizeOf(codec: 'h264' | 'h265', record: Buffer): number {
  return codec === 'h264' ? parseAvcC(record).lengthSize : parseHvcC(record).lengthSize;
}

function videoTrack(codec: VideoTrack['codec'], config: Buffer): VideoTrack {
  let width: number | undefined;
  let height: number | undefined;
  let codecString: string | undefined;
  try {
    if (codec === 'h264') {
      const avcc = parseAvcC(config);
      const sps = avcc.sps[0];
      if (!sps) throw new ParseError('avcC has no SPS');
      const info = parseSps(sps);
      width = info.width;
      height = info.height;
      codecString = avcCodecString(info);
    } else if (codec === 'h265') {
      const hvcc = parseHvcC(config);
      codecString = hevcCodecString(hvcc);
      const sps = hvcc.nalArrays.find((a) => a.type === 33)?.nalus[0];
      if (sps) ({ width, height } = parseH265Sps(sps));
    }
  } catch (err) {
    // A record we cannot fully parse is still passed through: players may know better.
    if (!(err instanceof ParseError)) throw err;
  }
  return { kind: 'video', id: VIDEO_TRACK_ID, codec, config, width, height, codecString };
}

/** Throws ParseError for a configuration no decoder could use (the caller waits for a usable one). */
function audioTrack(codec: 'aac' | 'opus', config: Buffer): AudioTrack {
  if (codec === 'aac') {
    const asc = parseAudioSpecificConfig(config);
    if (asc.sampleRate <= 0) throw new ParseError(`AudioSpecificConfig sample rate ${asc.sampleRate}`);
    // Channel configuration 0 (layout in a PCE inside the frames): stereo is the usual guess.
    return { kind: 'audio', id: AUDIO_TRACK_ID, codec, config, sampleRate: asc.sampleRate, channels: asc.channels || 2, codecString: aacCodecString(asc) };
  }
  // RFC 7845 §5.1 OpusHead: "OpusHead", version, channel count at 9; Opus always decodes at 48 kHz.
  if (config.length < 19 || config.toString('latin1', 0, 8) !== 'OpusHead') throw new ParseError('not an OpusHead');
  const channels = config[9]!;
  if (channels === 0) throw new ParseError('OpusHead with 0 channels');
  return { kind: 'audio', id: AUDIO_TRACK_ID, codec, config, sampleRate: 48000, channels, codecString: 'opus' };
}

function mp3Track(h: MpegAudioHeader): AudioTrack {
  return { kind: 'audio', id: AUDIO_TRACK_ID, codec: 'mp3', config: null, sampleRate: h.sampleRate, channels: h.channels, codecString: 'mp3' };
}
