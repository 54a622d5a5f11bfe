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
} from './flv/index.js';
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
  return !(track.kind === 'video' && track.codec === 'vp8');
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
  } else if (track.codec === 'mp3') body = null;
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
  /** A tag that was dropped, with why (unsupported codec, frame before its sequence header …). */
  ignored(reason: string): void;
}

/**
 * FLV tags (from an RTMP publisher or an FLV file) → tracks and canonical MediaUnits.
 * Extends 32-bit millisecond timestamps past their wrap (49.7 days).
 */
export class FlvToUnits {
  private video: VideoTrack | null = null;
  private audio: AudioTrack | null = null;
  private videoLengthSize = 4;
  private lastMs = -1;
  private wraps = 0;

  constructor(private readonly sink: FlvUnitSink) {}

  get tracks(): Track[] {
    return [this.video, this.audio].filter((t): t is Track => t !== null);
  }

  private extend(ms: number): number {
    if (this.lastMs >= 0 && ms < this.lastMs && this.lastMs - ms > 0x8000_0000) this.wraps++;
    this.lastMs = ms;
    return ms + this.wraps * 0x1_0000_0000;
  }

  pushVideo(timestampMs: number, body: Buffer, receivedAt: number): void {
    const v = parseVideoBody(body);
    if (v.codec === 'unknown') return this.sink.ignored(`unsupported video codec ${v.fourCC ?? ''}`.trim());
    if (v.packetType === 'sequence-start') {
      if (this.video && this.video.codec === v.codec && this.video.config?.equals(v.data)) return;
      this.video = videoTrack(v.codec, Buffer.from(v.data));
      if (v.codec === 'h264' || v.codec === 'h265') this.videoLengthSize = lengthSizeOf(v.codec, v.data);
      this.sink.track(this.video);
      return;
    }
    if (v.packetType !== 'coded-frames') return;
    if (v.frameType === 5) return; // video info/command frame: no picture
    const track = this.video;
    if (!track || track.codec !== v.codec) return this.sink.ignored('video frame before its sequence header');
    if (v.data.length === 0) return;
    const ms = this.extend(timestampMs);
    let data = v.data;
    let exact = true;
    if ((track.codec === 'h264' || track.codec === 'h265') && this.videoLengthSize !== 4) {
      data = convertLengthSize(v.data, this.videoLengthSize, 4);
      exact = false;
    }
    const dts = ms * MS;
    const unit = makeUnit(track, dts, dts + v.compositionTimeMs * MS, v.frameType === 1, data, receivedAt);
    if (exact) presetFlvBody(unit, body);
    this.sink.unit(unit);
  }

  pushAudio(timestampMs: number, body: Buffer, receivedAt: number): void {
    const a = parseAudioBody(body);
    if (a.codec !== 'aac' && a.codec !== 'opus' && a.codec !== 'mp3') {
      return this.sink.ignored(`unsupported audio codec ${a.fourCC ?? a.codec}`);
    }
    if (a.packetType === 'sequence-start') {
      if (this.audio && this.audio.codec === a.codec && this.audio.config?.equals(a.data)) return;
      this.audio = audioTrack(a.codec, Buffer.from(a.data), a);
      this.sink.track(this.audio);
      return;
    }
    if (a.packetType !== 'coded-frames' || a.data.length === 0) return;
    if (a.codec === 'mp3' && !this.audio) {
      this.audio = audioTrack('mp3', null, a);
      this.sink.track(this.audio);
    }
    const track = this.audio;
    if (!track || track.codec !== a.codec) return this.sink.ignored('audio frame before its sequence header');
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

interface AudioHeaderInfo {
  soundRate: number;
  stereo: boolean;
}

const FLV_RATES = [5512, 11025, 22050, 44100];

function audioTrack(codec: AudioTrack['codec'], config: Buffer | null, header: AudioHeaderInfo): AudioTrack {
  if (codec === 'aac' && config) {
    const asc = parseAudioSpecificConfig(config);
    return { kind: 'audio', id: AUDIO_TRACK_ID, codec, config, sampleRate: asc.sampleRate, channels: asc.channels, codecString: aacCodecString(asc) };
  }
  if (codec === 'opus' && config && config.length >= 19) {
    // RFC 7845 §5.1 OpusHead: channel count at 9; Opus always decodes at 48 kHz.
    return { kind: 'audio', id: AUDIO_TRACK_ID, codec, config, sampleRate: 48000, channels: config[9] ?? 2, codecString: 'opus' };
  }
  return {
    kind: 'audio',
    id: AUDIO_TRACK_ID,
    codec,
    config,
    sampleRate: FLV_RATES[header.soundRate] ?? 44100,
    channels: header.stereo ? 2 : 1,
    codecString: codec === 'mp3' ? 'mp3' : codec,
  };
}
