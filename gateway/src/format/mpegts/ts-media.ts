/**
 * MediaUnit ⇄ MPEG-TS: the one place that knows how livegate's canonical units look inside a
 * transport stream (the SRT ingest and read directions, later HLS). Pure: no I/O, no timers.
 *
 * Ingest (`TsToUnits`), per PES from `TsDemuxer`:
 * - 33-bit PTS/DTS are extended per track into an unbounded 90 kHz timeline: each value is placed at
 *   the extended time nearest to the track's previous one (±2^32 ticks, 13 h), so the wrap at 2^33
 *   works forwards and a small step back across it stays a small step back. A track's first value is
 *   placed nearest to the last time of any track, so tracks stay aligned across a wrap. The timeline
 *   starts at the raw value of the first PES (no rebasing); jumps of the source pass through.
 * - H264/H265: Annex B → 4-byte length prefixes. Access unit delimiters and filler data are dropped;
 *   parameter sets (SPS/PPS, and VPS for H265) are taken OUT of the unit data into the track's
 *   avcC/hvcC: every output (FLV sequence header, WebRTC, `UnitsToTs`) puts them back from the config,
 *   so a unit never carries them twice. A new VideoTrack is emitted when they change. Video starts at
 *   the first keyframe (IDR / IRAP) after its parameter sets, and after a PES the demuxer flags as a
 *   discontinuity it waits for the next keyframe again, so no reader gets a broken GOP. Every unit
 *   dropped while waiting is reported through `ignored` under one kind (`video-config`,
 *   `video-key`), and `usable` says when the wait is over, so the caller can count and summarise.
 * - AAC: one unit per ADTS frame (raw, header removed), timed PES PTS + i·1024 samples; the
 *   AudioSpecificConfig comes from the ADTS header and a new AudioTrack is emitted when it changes.
 * - Opus (control header 0x7FE0 framing, as ffmpeg writes it): one unit per packet, timed by the
 *   durations in the TOC bytes (RFC 6716 §3.1; 20 ms when unreadable). The OpusHead (RFC 7845 §5.1) is
 *   synthesised: 48 kHz, mapping family 0, pre-skip 0 (trims are not carried: a live reader joins
 *   mid-stream), channels from the TOC stereo bit — 1 until a stereo packet is seen, then 2 once
 *   (encoders code some packets of stereo streams as mono). The PMT descriptor is not available from
 *   the demuxer, so it is not used.
 * - MP3 (MPEG-1/2 audio, stream types 0x03/0x04): one unit per frame, timed by the frames' sample
 *   counts; rate and channels from the frame headers.
 * - Only the program's first video (h264/h265) and first audio (aac/opus/mp3) stream are used, as track
 *   ids 0 and 1 (as for FLV); other streams are reported once and dropped. A PES over `maxPesSize`
 *   makes `push` throw the demuxer's LimitError (the session closes).
 *
 * Read (`UnitsToTs`): one program, video on PID 0x100, audio on PID 0x101. The elementary stream
 * bytes of a unit (Annex B with an AUD first and the config's parameter sets in front of keyframes,
 * ADTS, Opus framing, MP3 frames) are memoised on the unit, so they are built once whatever the
 * number of readers; each reader's `UnitsToTs` only packetises (its own continuity counters). Codecs
 * MPEG-TS cannot carry here (av1, vp8, vp9) are skipped: `mux` returns an empty Buffer for them, and
 * `tsCarries` tells readers so beforehand.
 */
import { ParseError } from '../../core/errors.js';
import { TIMESCALE, makeUnit, type AudioTrack, type MediaUnit, type Track, type VideoTrack } from '../../core/media-unit.js';
import {
  adtsToAudioSpecificConfig,
  buildAdtsHeader,
  codecString as aacCodecString,
  parseAdtsHeader,
  parseAudioSpecificConfig,
  type AdtsHeader,
} from '../../codec/aac.js';
import { buildAvcC, codecString as avcCodecString, parseAvcC, parseSps } from '../../codec/h264.js';
import { buildHvcC, codecString as hevcCodecString, parseH265Sps, parseHvcC } from '../../codec/h265.js';
import { joinLengthPrefixed, splitAnnexB, splitLengthPrefixed } from '../../codec/nal-units.js';
import { OPUS_RATE, buildOpusHead, opusSamples } from '../../codec/opus.js';
import { splitMpegAudio, type MpegAudioHeader } from '../../codec/mpeg-audio.js';
import { AUDIO_TRACK_ID, VIDEO_TRACK_ID } from '../flv-media.js';
import { TS_PACKET_SIZE, TsDemuxer, type TsAccessUnit, type TsTrackInfo } from './demuxer.js';
import { TsMuxer, crc32Mpeg2, type TsMuxTrack } from './muxer.js';

const WRAP = 2 ** 33;
const HALF_WRAP = 2 ** 32;
/** 20 ms at 48 kHz: the Opus packet duration assumed when a TOC cannot be read. */
const OPUS_DEFAULT_SAMPLES = 960;
/** Parameter sets kept per type (avcC allows 31 SPS; more than a few means a broken encoder). */
const MAX_PARAMETER_SETS = 16;

/** `t` modulo 2^33, in [0, 2^33). */
export function mod33(t: number): number {
  const m = t % WRAP;
  return m < 0 ? m + WRAP : m;
}

/** The extended time nearest to `ref` whose low 33 bits are `raw` (both directions across the wrap). */
export function unwrap33(raw: number, ref: number): number {
  let d = mod33(raw - ref);
  if (d >= HALF_WRAP) d -= WRAP;
  return ref + d;
}

/** Receives what an MPEG-TS source produces. */
export interface TsUnitSink {
  track(track: Track): void;
  unit(unit: MediaUnit): void;
  /**
   * Something dropped, with why (unsupported stream, video before its parameter sets …). Called for
   * every unit dropped; `kind` names the condition (the same for every unit it drops), so the caller
   * can count and report it rather than log each one. An unsupported stream is reported once.
   */
  ignored(reason: string, kind: string): void;
  /** The condition `kind` is over (parameter sets arrived, the awaited keyframe came). */
  usable?(kind: string): void;
  /** A transport-level problem the demuxer recovered from (continuity error, lost sync). */
  warning?(reason: string): void;
}

export interface TsToUnitsOptions {
  /** Largest PES accepted (passed to TsDemuxer; default 8 MiB). */
  maxPesSize?: number;
}

type VideoCodecTs = 'h264' | 'h265';
type AudioCodecTs = 'aac' | 'opus' | 'mp3';

/** NAL unit types by codec: what is a parameter set, what is dropped, what is a keyframe. */
const H264_SPS = 7;
const H264_PPS = 8;
const H265_VPS = 32;
const H265_SPS = 33;
const H265_PPS = 34;

function nalTypeOf(codec: VideoCodecTs, nal: Buffer): number {
  return codec === 'h264' ? nal[0]! & 0x1f : (nal[0]! >> 1) & 0x3f;
}
/** AUD and filler data: framing only, dropped from canonical units. */
function isDropped(codec: VideoCodecTs, type: number): boolean {
  return codec === 'h264' ? type === 9 || type === 12 : type === 35 || type === 38;
}
function isKeyNal(codec: VideoCodecTs, type: number): boolean {
  return codec === 'h264' ? type === 5 : type >= 16 && type <= 23;
}

function sameList(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  return a.length === b.length && a.every((x, i) => x.equals(b[i]!));
}

/**
 * MPEG-TS packets (any chunking) → tracks and canonical MediaUnits. See the file comment for the
 * timing, parameter-set and keyframe rules.
 */
export class TsToUnits {
  private readonly demuxer: TsDemuxer;
  private receivedAt = 0;
  private videoPid: number | null = null;
  private audioPid: number | null = null;
  private videoCodec: VideoCodecTs | null = null;
  private video: VideoTrack | null = null;
  private audio: AudioTrack | null = null;
  private vps: Buffer[] = [];
  private sps: Buffer[] = [];
  private pps: Buffer[] = [];
  /** Video waits for a keyframe: at the start and after a discontinuity. */
  private needKey = true;
  /** Per PID: the extended DTS of its last PES. */
  private readonly lastTime = new Map<number, number>();
  private lastAnyTime: number | null = null;
  /** Where the next audio PES starts when it has no PTS (end of the previous one). */
  private audioNext: number | null = null;
  /** Streams reported as ignored (once each). */
  private readonly reported = new Set<string>();
  /** Conditions that are dropping units now (for `usable`). */
  private readonly dropping = new Set<string>();

  constructor(
    private readonly sink: TsUnitSink,
    options: TsToUnitsOptions = {},
  ) {
    // What a unit keeps of its PES is copied out of it (video re-framed, audio frames copied), so the
    // demuxer may reuse the PES memory.
    this.demuxer = new TsDemuxer(
      { tracks: (t) => this.onTracks(t), unit: (au) => this.onUnit(au), warning: (w) => sink.warning?.(w) },
      { maxPesSize: options.maxPesSize, reuseBuffers: true },
    );
  }

  get tracks(): Track[] {
    return [this.video, this.audio].filter((t): t is Track => t !== null);
  }

  /** Any chunking of 188-byte packets (e.g. 1316-byte SRT payloads). */
  push(chunk: Buffer, receivedAt: number): void {
    this.receivedAt = receivedAt;
    this.demuxer.push(chunk);
  }

  /** Emits what is buffered (end of the stream): the last PES of every stream. */
  flush(): void {
    this.demuxer.flush();
  }

  private once(key: string, reason: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.sink.ignored(reason, key);
  }

  /** A unit dropped while condition `kind` lasts. */
  private drop(kind: string, reason: string): void {
    this.dropping.add(kind);
    this.sink.ignored(reason, kind);
  }

  /** Condition `kind` is over. */
  private clear(kind: string): void {
    if (this.dropping.delete(kind)) this.sink.usable?.(kind);
  }

  private onTracks(tracks: TsTrackInfo[]): void {
    const video = tracks.find((t) => t.codec === 'h264' || t.codec === 'h265');
    const audio = tracks.find((t) => t.codec === 'aac' || t.codec === 'opus' || t.codec === 'mp3');
    const videoPid = video?.pid ?? null;
    const videoCodec = video ? (video.codec as VideoCodecTs) : this.videoCodec;
    if (videoPid !== this.videoPid || videoCodec !== this.videoCodec) {
      // Another video stream: its own parameter sets, from its next keyframe.
      if (videoCodec !== this.videoCodec) {
        this.vps = [];
        this.sps = [];
        this.pps = [];
      }
      this.videoPid = videoPid;
      this.videoCodec = videoCodec;
      this.needKey = true;
    }
    this.audioPid = audio?.pid ?? null;
    for (const t of tracks) {
      if (t.pid === this.videoPid || t.pid === this.audioPid) continue;
      const what = t.codec === 'unknown' ? `unsupported stream type 0x${t.streamType.toString(16)}` : `a second ${t.codec} stream`;
      this.once(`pid:${t.pid}:${t.streamType}`, `${what} on PID ${t.pid} ignored`);
    }
  }

  private onUnit(au: TsAccessUnit): void {
    if (au.pid === this.videoPid && (au.codec === 'h264' || au.codec === 'h265')) this.videoPes(au, au.codec);
    else if (au.pid === this.audioPid && au.codec === 'aac') this.aacPes(au);
    else if (au.pid === this.audioPid && au.codec === 'opus') this.opusPes(au);
    else if (au.pid === this.audioPid && au.codec === 'mp3') this.mp3Pes(au);
  }

  /** 33-bit time → this PID's extended timeline. */
  private extend(pid: number, raw: number): number {
    const ref = this.lastTime.get(pid) ?? this.lastAnyTime;
    const t = ref === null ? raw : unwrap33(raw, ref);
    this.lastTime.set(pid, t);
    this.lastAnyTime = t;
    return t;
  }

  private videoPes(au: TsAccessUnit, codec: VideoCodecTs): void {
    if (au.discontinuity) this.needKey = true;
    const keep: Buffer[] = [];
    const vps: Buffer[] = [];
    const sps: Buffer[] = [];
    const pps: Buffer[] = [];
    let keyframe = false;
    for (const nal of splitAnnexB(au.data)) {
      if (nal.length < (codec === 'h264' ? 1 : 2)) continue;
      const type = nalTypeOf(codec, nal);
      if (isDropped(codec, type)) continue;
      let list: Buffer[] | null = null;
      if (type === (codec === 'h264' ? H264_SPS : H265_SPS)) list = sps;
      else if (type === (codec === 'h264' ? H264_PPS : H265_PPS)) list = pps;
      else if (codec === 'h265' && type === H265_VPS) list = vps;
      if (list) {
        if (nal.length <= 0xffff && list.length < MAX_PARAMETER_SETS && !list.some((p) => p.equals(nal))) list.push(Buffer.from(nal));
        continue;
      }
      if (isKeyNal(codec, type)) keyframe = true;
      keep.push(nal);
    }
    if (vps.length || sps.length || pps.length) this.parameterSets(codec, vps, sps, pps);
    const track = this.video;
    if (!track || track.codec !== codec) {
      if (keep.length > 0) this.drop('video-config', `${codec} video before its parameter sets ignored`);
      return;
    }
    this.clear('video-config');
    if (keep.length === 0) return; // parameter sets only
    if (this.needKey) {
      if (!keyframe) {
        this.drop('video-key', 'video waits for a keyframe (stream start or discontinuity)');
        return;
      }
      this.needKey = false;
      this.clear('video-key');
    }
    if (au.pts === null) {
      this.drop('video-pts', 'video PES without a PTS ignored');
      return;
    }
    const dts = this.extend(au.pid, au.dts ?? au.pts);
    const pts = unwrap33(au.pts, dts);
    this.sink.unit(makeUnit(track, dts, pts, keyframe, joinLengthPrefixed(keep), this.receivedAt));
  }

  /** New parameter sets from an access unit: replace those of their type; a new track when they change. */
  private parameterSets(codec: VideoCodecTs, vps: Buffer[], sps: Buffer[], pps: Buffer[]): void {
    const next = { vps: vps.length ? vps : this.vps, sps: sps.length ? sps : this.sps, pps: pps.length ? pps : this.pps };
    if (this.video?.codec === codec && sameList(next.vps, this.vps) && sameList(next.sps, this.sps) && sameList(next.pps, this.pps)) return;
    this.vps = next.vps;
    this.sps = next.sps;
    this.pps = next.pps;
    if (this.sps.length === 0 || this.pps.length === 0 || (codec === 'h265' && this.vps.length === 0)) return;
    try {
      this.video = codec === 'h264' ? h264Track(this.sps, this.pps) : h265Track(this.vps, this.sps, this.pps);
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      this.drop('video-config', `${codec} parameter sets not usable: ${err.message}`);
      return;
    }
    this.sink.track(this.video);
  }

  /** Audio PES start time: its PTS, or where the previous one ended. */
  private audioStart(au: TsAccessUnit): number | null {
    if (au.pts !== null) return this.extend(au.pid, au.pts);
    if (this.audioNext === null) this.drop('audio-pts', 'audio PES without a PTS ignored');
    return this.audioNext;
  }

  private aacPes(au: TsAccessUnit): void {
    const start = this.audioStart(au);
    if (start === null) return;
    const data = au.data;
    let pos = 0;
    let samples = 0;
    let rate = this.audio?.sampleRate ?? 0;
    while (pos < data.length) {
      let header: AdtsHeader;
      try {
        header = parseAdtsHeader(data, pos);
      } catch (err) {
        if (!(err instanceof ParseError)) throw err;
        this.drop('audio-frame', `AAC: ${err.message}, rest of the PES dropped`);
        break;
      }
      if (pos + header.frameLength > data.length) {
        this.drop('audio-frame', 'AAC: ADTS frame truncated, dropped');
        break;
      }
      const frame = data.subarray(pos + header.headerLength, pos + header.frameLength);
      pos += header.frameLength;
      rate = header.sampleRate;
      const at = start + Math.round((samples * TIMESCALE) / rate);
      samples += 1024 * header.rawBlocks;
      if (header.rawBlocks !== 1) {
        this.drop('aac-blocks', 'AAC: ADTS frames with several raw data blocks are not supported, dropped');
        continue;
      }
      if (frame.length === 0) continue;
      const track = this.aacTrack(header);
      this.sink.unit(makeUnit(track, at, at, true, Buffer.from(frame), this.receivedAt));
    }
    this.audioNext = rate > 0 ? start + Math.round((samples * TIMESCALE) / rate) : null;
  }

  private aacTrack(header: AdtsHeader): AudioTrack {
    const asc = adtsToAudioSpecificConfig(header);
    if (this.audio && this.audio.codec === 'aac' && this.audio.config?.equals(asc)) return this.audio;
    const c = parseAudioSpecificConfig(asc);
    // Channel configuration 0 (layout in a PCE inside the frames): stereo is the usual guess.
    this.audio = { kind: 'audio', id: AUDIO_TRACK_ID, codec: 'aac', config: asc, sampleRate: c.sampleRate, channels: c.channels || 2, codecString: aacCodecString(c) };
    this.sink.track(this.audio);
    return this.audio;
  }

  private opusPes(au: TsAccessUnit): void {
    const start = this.audioStart(au);
    if (start === null) return;
    const data = au.data;
    let pos = 0;
    let samples = 0;
    while (pos < data.length) {
      // opus_control_header: 11-bit prefix 0x3ff, start/end trim and extension flags, au_size.
      if (pos + 2 > data.length || data[pos] !== 0x7f || (data[pos + 1]! & 0xe0) !== 0xe0) {
        this.drop('audio-frame', 'Opus: control header not found, rest of the PES dropped');
        break;
      }
      const flags = data[pos + 1]!;
      pos += 2;
      let size = 0;
      let b = 0xff;
      while (b === 0xff && pos < data.length) {
        b = data[pos++]!;
        size += b;
      }
      if (flags & 0x10) pos += 2; // start trim
      if (flags & 0x08) pos += 2; // end trim
      if (flags & 0x04 && pos < data.length) pos += 1 + data[pos]!; // control extension
      if (b === 0xff || pos + size > data.length) {
        this.drop('audio-frame', 'Opus: packet truncated, dropped');
        break;
      }
      const packet = data.subarray(pos, pos + size);
      pos += size;
      if (packet.length === 0) continue;
      const at = start + Math.round((samples * TIMESCALE) / OPUS_RATE);
      samples += opusSamples(packet) ?? OPUS_DEFAULT_SAMPLES;
      const track = this.opusTrack((packet[0]! & 0x04) !== 0 ? 2 : 1);
      this.sink.unit(makeUnit(track, at, at, true, Buffer.from(packet), this.receivedAt));
    }
    this.audioNext = start + Math.round((samples * TIMESCALE) / OPUS_RATE);
  }

  private opusTrack(packetChannels: number): AudioTrack {
    const current = this.audio;
    if (current && current.codec === 'opus' && current.channels >= packetChannels) return current;
    this.audio = { kind: 'audio', id: AUDIO_TRACK_ID, codec: 'opus', config: buildOpusHead(packetChannels), sampleRate: OPUS_RATE, channels: packetChannels, codecString: 'opus' };
    this.sink.track(this.audio);
    return this.audio;
  }
  /** MPEG-1/2 audio (MP3): one unit per frame, timed by the frames' sample counts. */
  private mp3Pes(au: TsAccessUnit): void {
    const start = this.audioStart(au);
    if (start === null) return;
    const { frames, rest } = splitMpegAudio(au.data);
    let samples = 0;
    let rate = 0;
    for (const { header, frame } of frames) {
      rate = header.sampleRate;
      const at = start + Math.round((samples * TIMESCALE) / rate);
      samples += header.samplesPerFrame;
      this.sink.unit(makeUnit(this.mp3Track(header), at, at, true, Buffer.from(frame), this.receivedAt));
    }
    if (rest.length > 0) this.drop('audio-frame', 'MP3: bytes that are not a whole MPEG audio frame, dropped');
    this.audioNext = rate > 0 ? start + Math.round((samples * TIMESCALE) / rate) : null;
  }

  private mp3Track(h: MpegAudioHeader): AudioTrack {
    const current = this.audio;
    if (current && current.codec === 'mp3' && current.sampleRate === h.sampleRate && current.channels === h.channels) return current;
    this.audio = { kind: 'audio', id: AUDIO_TRACK_ID, codec: 'mp3', config: null, sampleRate: h.sampleRate, channels: h.channels, codecString: 'mp3' };
    this.sink.track(this.audio);
    return this.audio;
  }
}

function h264Track(sps: Buffer[], pps: Buffer[]): VideoTrack {
  const config = buildAvcC({ sps, pps });
  let width: number | undefined;
  let height: number | undefined;
  let codecString: string | undefined;
  try {
    const info = parseSps(sps[0]!);
    ({ width, height } = info);
    codecString = avcCodecString(info);
  } catch (err) {
    // An SPS we cannot fully parse is still passed through: decoders may know better.
    if (!(err instanceof ParseError)) throw err;
  }
  return { kind: 'video', id: VIDEO_TRACK_ID, codec: 'h264', config, width, height, codecString };
}

function h265Track(vps: Buffer[], sps: Buffer[], pps: Buffer[]): VideoTrack {
  const config = buildHvcC(vps, sps, pps);
  const codecString = hevcCodecString(parseHvcC(config));
  let width: number | undefined;
  let height: number | undefined;
  try {
    ({ width, height } = parseH265Sps(sps[0]!));
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
  }
  return { kind: 'video', id: VIDEO_TRACK_ID, codec: 'h265', config, width, height, codecString };
}

// ---------------------------------------------------------------------------------------------
// Read direction

export const TS_VIDEO_PID = 0x100;

/** Whether `UnitsToTs` can carry a track: H264, H265, AAC, Opus and MP3. */
export function tsCarries(track: Track): boolean {
  return track.kind === 'video' ? track.codec === 'h264' || track.codec === 'h265' : true;
}
export const TS_AUDIO_PID = 0x101;
/** An audio-only program has no keyframes to hang PAT/PMT on: repeat them this often (90 kHz). */
const AUDIO_ONLY_TABLE_INTERVAL = TIMESCALE / 2;

const TS_ES = Symbol('mpegts.es');
const EMPTY = Buffer.alloc(0);
const H264_AUD = Buffer.from([0x09, 0xf0]); // primary_pic_type 7: any slice type
const H265_AUD = Buffer.from([0x46, 0x01, 0x50]); // type 35, tid 1, pic_type 2: I, P, B

const parameterSetCache = new WeakMap<VideoTrack, readonly Buffer[]>();

/** The parameter sets of a track's avcC / hvcC, in record order ([] when it has none or is broken). */
function parameterSetsOf(track: VideoTrack): readonly Buffer[] {
  let ps = parameterSetCache.get(track);
  if (ps) return ps;
  ps = [];
  if (track.config) {
    try {
      if (track.codec === 'h264') {
        const c = parseAvcC(track.config);
        ps = [...c.sps, ...c.pps, ...(c.spsExt ?? [])];
      } else if (track.codec === 'h265') {
        ps = parseHvcC(track.config).nalArrays.flatMap((a) => a.nalus);
      }
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
    }
  }
  parameterSetCache.set(track, ps);
  return ps;
}

/** Length-prefixed → Annex B: an AUD first, then (keyframes) the config's parameter sets, then the NAL units. */
function annexBOf(unit: MediaUnit, track: VideoTrack, codec: VideoCodecTs): Buffer | null {
  let nals: Buffer[];
  try {
    nals = splitLengthPrefixed(unit.data);
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    return null;
  }
  const aud = codec === 'h264' ? H264_AUD : H265_AUD;
  const spsType = codec === 'h264' ? H264_SPS : H265_SPS;
  let inBand = false;
  let size = 4 + aud.length;
  const body: Buffer[] = [];
  for (const n of nals) {
    if (n.length === 0) continue;
    const type = nalTypeOf(codec, n);
    if (codec === 'h264' ? type === 9 : type === 35) continue; // ours goes first
    if (type === spsType) inBand = true;
    body.push(n);
    size += 4 + n.length;
  }
  const params = unit.keyframe && !inBand ? parameterSetsOf(track) : [];
  for (const p of params) size += 4 + p.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  const put = (n: Buffer): void => {
    out.writeUInt32BE(1, pos);
    n.copy(out, pos + 4);
    pos += 4 + n.length;
  };
  put(aud);
  for (const p of params) put(p);
  for (const n of body) put(n);
  return out;
}

const adtsCache = new WeakMap<AudioTrack, { objectType: number; samplingFrequencyIndex: number; channelConfiguration: number } | null>();

function adtsParamsOf(track: AudioTrack): { objectType: number; samplingFrequencyIndex: number; channelConfiguration: number } | null {
  let p = adtsCache.get(track);
  if (p !== undefined) return p;
  p = null;
  if (track.config) {
    try {
      const c = parseAudioSpecificConfig(track.config);
      // ADTS has 2 bits of profile (object types 1–4) and no explicit rate. HE-AAC gives its core
      // (AAC LC at the core rate) here: decoders find the SBR implicitly.
      if (c.objectType >= 1 && c.objectType <= 4 && c.samplingFrequencyIndex < 13) p = c;
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
    }
  }
  adtsCache.set(track, p);
  return p;
}

/** Raw AAC → one ADTS frame; Opus → control header + packet; MP3 frames as they are. */
function audioEsOf(unit: MediaUnit, track: AudioTrack): Buffer | null {
  if (track.codec === 'aac') {
    const p = adtsParamsOf(track);
    if (!p || unit.data.length + 7 > 0x1fff) return null;
    const out = Buffer.allocUnsafe(7 + unit.data.length);
    buildAdtsHeader(p, unit.data.length).copy(out, 0);
    unit.data.copy(out, 7);
    return out;
  }
  if (track.codec === 'opus') {
    const n = unit.data.length;
    const sizeBytes = Math.floor(n / 255) + 1;
    const out = Buffer.allocUnsafe(2 + sizeBytes + n);
    out[0] = 0x7f;
    out[1] = 0xe0; // no trims, no extension
    out.fill(0xff, 2, 2 + sizeBytes - 1);
    out[2 + sizeBytes - 1] = n % 255;
    unit.data.copy(out, 2 + sizeBytes);
    return out;
  }
  // MP3: the frames as they are (each carries its own header).
  if (track.codec === 'mp3') return unit.data;
  return null;
}

/** The elementary stream bytes of a unit as carried in one PES (built once per unit, then shared). */
function esOf(unit: MediaUnit): Buffer | null {
  const cached = unit.memo[TS_ES] as Buffer | null | undefined;
  if (cached !== undefined) return cached;
  const track = unit.track;
  let es: Buffer | null = null;
  if (track.kind === 'video') {
    if (track.codec === 'h264' || track.codec === 'h265') es = annexBOf(unit, track, track.codec);
  } else es = audioEsOf(unit, track);
  unit.memo[TS_ES] = es;
  return es;
}

/**
 * MediaUnits → MPEG-TS packets for one output program (one reader). PAT/PMT go before the first unit
 * after (re)configuration, before every video keyframe and, in audio-only programs, every 0.5 s.
 * A reconfiguration that changes the streams bumps the PMT version and keeps the continuity
 * counters going, so a receiver sees one continuous stream.
 */
export class UnitsToTs {
  private muxer: TsMuxer | null = null;
  private layout: TsMuxTrack[] = [];
  private videoCodec: VideoCodecTs | null = null;
  private audioCodec: AudioCodecTs | null = null;
  private audioStreamType: number | undefined;
  private readonly lastCc = new Map<number, number>();
  private ccOffset = new Map<number, number>();
  private pmtVersion = 0;
  private pmtPid = -1;
  private needTables = true;
  private lastTablesAt: number | null = null;

  /**
   * (Re)configures the program from a stream's tracks: the first h264/h265 track as video (PID
   * 0x100), the first aac/opus track as audio (PID 0x101); other tracks are skipped. New Track
   * objects with the same codecs (new parameter sets) change nothing: keyframes take theirs from
   * their own unit's track.
   */
  setTracks(tracks: readonly Track[]): void {
    const video = tracks.find((t): t is VideoTrack => t.kind === 'video' && (t.codec === 'h264' || t.codec === 'h265'));
    const audio = tracks.find((t): t is AudioTrack => t.kind === 'audio' && (t.codec === 'aac' || t.codec === 'opus' || t.codec === 'mp3'));
    const videoCodec = (video?.codec as VideoCodecTs | undefined) ?? null;
    const audioCodec = (audio?.codec as AudioCodecTs | undefined) ?? null;
    // ISO/IEC 13818-1 Table 2-34: MP3 at the MPEG-2 (low) sampling rates is "MPEG-2 audio".
    const audioStreamType = audio?.codec === 'mp3' && audio.sampleRate < 32000 ? 0x04 : undefined;
    if (this.muxer && videoCodec === this.videoCodec && audioCodec === this.audioCodec && audioStreamType === this.audioStreamType) return;
    this.audioStreamType = audioStreamType;
    this.videoCodec = videoCodec;
    this.audioCodec = audioCodec;
    const layout: TsMuxTrack[] = [];
    if (videoCodec) layout.push({ pid: TS_VIDEO_PID, codec: videoCodec });
    if (audioCodec) layout.push({ pid: TS_AUDIO_PID, codec: audioCodec, ...(audioStreamType ? { streamType: audioStreamType } : {}) });
    if (this.muxer) {
      // The new muxer counts from 0 on every PID: shift its counters to follow ours.
      this.pmtVersion = (this.pmtVersion + 1) & 0x1f;
      this.ccOffset = new Map([...this.lastCc].map(([pid, cc]) => [pid, (cc + 1) & 0x0f]));
    }
    this.layout = layout;
    this.muxer = layout.length > 0 ? new TsMuxer(layout) : null;
    this.needTables = true;
  }

  /** The tracks `setTracks` chose, as TS streams. */
  get streams(): readonly TsMuxTrack[] {
    return this.layout;
  }

  /** PAT + PMT of the current program, to send now (empty when nothing is configured). */
  tables(): Buffer {
    if (!this.muxer) return EMPTY;
    this.needTables = false;
    return this.fix(this.muxer.tables());
  }

  /** Whole 188-byte packets for one unit; empty when the unit's codec is not in the program or cannot be carried. */
  mux(unit: MediaUnit): Buffer {
    const muxer = this.muxer;
    if (!muxer) return EMPTY;
    const track = unit.track;
    let pid: number;
    if (track.kind === 'video' && track.codec === this.videoCodec) pid = TS_VIDEO_PID;
    else if (track.kind === 'audio' && track.codec === this.audioCodec) pid = TS_AUDIO_PID;
    else return EMPTY;
    const es = esOf(unit);
    if (!es) return EMPTY;
    const dts = Math.round(unit.dts);
    const videoKey = pid === TS_VIDEO_PID && unit.keyframe; // the muxer puts PAT/PMT before these
    let tables = this.needTables && !videoKey;
    if (!this.videoCodec && (this.lastTablesAt === null || Math.abs(dts - this.lastTablesAt) >= AUDIO_ONLY_TABLE_INTERVAL)) tables = true;
    if (tables || videoKey) this.lastTablesAt = dts;
    this.needTables = false;
    const packets = this.fix(muxer.mux(pid, mod33(Math.round(unit.pts)), mod33(dts), es, unit.keyframe));
    return tables ? Buffer.concat([this.fix(muxer.tables()), packets]) : packets;
  }

  /** Continuity counters shifted after a reconfiguration, PMT version set; learns the PMT PID from the PAT. */
  private fix(out: Buffer): Buffer {
    for (let o = 0; o + TS_PACKET_SIZE <= out.length; o += TS_PACKET_SIZE) {
      const pid = ((out[o + 1]! & 0x1f) << 8) | out[o + 2]!;
      let cc = out[o + 3]! & 0x0f;
      const offset = this.ccOffset.get(pid);
      if (offset) {
        cc = (cc + offset) & 0x0f;
        out[o + 3] = (out[o + 3]! & 0xf0) | cc;
      }
      this.lastCc.set(pid, cc);
      if ((out[o + 1]! & 0x40) === 0) continue;
      if (pid === 0) {
        const s = o + 5 + out[o + 4]!;
        this.pmtPid = out.readUInt16BE(s + 10) & 0x1fff; // first program's PID
      } else if (pid === this.pmtPid && this.pmtVersion !== 0) {
        const s = o + 5 + out[o + 4]!;
        const length = ((out[s + 1]! & 0x0f) << 8) | out[s + 2]!;
        out[s + 5] = (out[s + 5]! & 0xc1) | (this.pmtVersion << 1);
        const crcAt = s + 3 + length - 4;
        out.writeUInt32BE(crc32Mpeg2(out.subarray(s, crcAt)), crcAt);
      }
    }
    return out;
  }
}
