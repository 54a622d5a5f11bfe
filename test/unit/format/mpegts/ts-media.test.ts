/**
 * MediaUnit ⇄ MPEG-TS on real ffmpeg 5.1 output (see test/fixtures/README.md): H264 + AAC and Opus
 * in TS, and x265 Annex B put into TS with livegate's muxer. Tracks and their configs, canonical unit
 * data, 90 kHz times across the 33-bit wrap, keyframe waits after a lost packet, round trips through
 * UnitsToTs, and ffprobe (a real peer) reading what UnitsToTs writes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseAudioSpecificConfig } from '../../../../gateway/src/codec/aac.js';
import { unescapeRbsp } from '../../../../gateway/src/codec/bit-reader.js';
import { parseAvcC } from '../../../../gateway/src/codec/h264.js';
import { buildHvcC, parseH265SpsProfile, parseHvcC } from '../../../../gateway/src/codec/h265.js';
import { splitAnnexB, splitLengthPrefixed } from '../../../../gateway/src/codec/nal-units.js';
import { LimitError } from '../../../../gateway/src/core/errors.js';
import { makeUnit, type AudioTrack, type MediaUnit, type Track, type VideoTrack } from '../../../../gateway/src/core/media-unit.js';
import { TS_PACKET_SIZE, TsDemuxer, type TsAccessUnit } from '../../../../gateway/src/format/mpegts/demuxer.js';
import { TsMuxer } from '../../../../gateway/src/format/mpegts/muxer.js';
import { TsToUnits, UnitsToTs, tsCarries, unwrap33 } from '../../../../gateway/src/format/mpegts/ts-media.js';
import { buildOpusHead, opusSamples } from '../../../../gateway/src/codec/opus.js';
import { parseMpegAudioHeader } from '../../../../gateway/src/codec/mpeg-audio.js';
import { accessUnits, buildHvcC as referenceHvcC, nalType as h265Type } from '../../../helpers/hevc.js';
import { requireTools } from '../../../helpers/tools.js';

const H264_AAC = readFileSync(new URL('../../../fixtures/h264-aac.m2t', import.meta.url));
const OPUS = readFileSync(new URL('../../../fixtures/opus.m2t', import.meta.url));
const MP3 = readFileSync(new URL('../../../fixtures/mp3.m2t', import.meta.url));
const MP3_22050 = readFileSync(new URL('../../../fixtures/mp3-22050.m2t', import.meta.url));

/** stream_type of each elementary stream in the first PMT of a TS. */
function streamTypes(ts: Buffer): number[] {
  let pmtPid = -1;
  for (let p = 0; p + TS_PACKET_SIZE <= ts.length; p += TS_PACKET_SIZE) {
    const pid = ((ts[p + 1]! & 0x1f) << 8) | ts[p + 2]!;
    const s = p + 5 + ts[p + 4]!;
    if (pid === 0) pmtPid = ts.readUInt16BE(s + 10) & 0x1fff;
    else if (pid === pmtPid) {
      const end = s + 3 + (ts.readUInt16BE(s + 1) & 0x0fff) - 4;
      const types: number[] = [];
      for (let i = s + 12 + (ts.readUInt16BE(s + 10) & 0x0fff); i < end; i += 5 + (ts.readUInt16BE(i + 3) & 0x0fff)) types.push(ts[i]!);
      return types;
    }
  }
  return [];
}
const HEVC = readFileSync(new URL('../../../fixtures/h265-320x240-aud.hevc', import.meta.url));
const WRAP = 2 ** 33;

interface Ingested {
  tracks: Track[];
  units: MediaUnit[];
  ignored: string[];
  /** The kind of each `ignored` report, in order. */
  kinds: string[];
  /** Conditions reported over, in order. */
  usable: string[];
}

function ingest(data: Buffer, step = data.length): Ingested {
  const out: Ingested = { tracks: [], units: [], ignored: [], kinds: [], usable: [] };
  const t = new TsToUnits({
    track: (tr) => out.tracks.push(tr),
    unit: (u) => out.units.push(u),
    ignored: (r, kind) => {
      out.ignored.push(r);
      out.kinds.push(kind);
    },
    usable: (kind) => out.usable.push(kind),
  });
  for (let i = 0; i < data.length; i += step) t.push(data.subarray(i, i + step), i);
  t.flush();
  return out;
}

const videoOf = (r: Ingested) => r.units.filter((u) => u.track.kind === 'video');
const audioOf = (r: Ingested) => r.units.filter((u) => u.track.kind === 'audio');
const keyIndexes = (units: MediaUnit[]) => units.flatMap((u, i) => (u.keyframe ? [i] : []));
const steps = (units: MediaUnit[]) => units.slice(1).map((u, i) => u.dts - units[i]!.dts);
const summary = (units: MediaUnit[]) => units.map((u) => `${u.track.id}:${u.dts}:${u.pts}:${u.keyframe}:${u.data.toString('base64')}`);

function demuxAus(data: Buffer): TsAccessUnit[] {
  const aus: TsAccessUnit[] = [];
  const d = new TsDemuxer({ unit: (u) => aus.push(u) });
  d.push(data);
  d.flush();
  return aus;
}

/** The fixture's PES re-muxed with livegate's TsMuxer and new times (33-bit wrapping done by the muxer). */
function retime(source: Buffer, time: (au: TsAccessUnit) => { pts: number; dts: number } | null): Buffer {
  const mux = new TsMuxer([
    { pid: 0x100, codec: 'h264' },
    { pid: 0x101, codec: 'aac' },
  ]);
  const parts: Buffer[] = [mux.tables()];
  for (const au of demuxAus(source)) {
    const t = time(au);
    if (!t) continue;
    const key = au.codec === 'h264' && splitAnnexB(au.data).some((n) => (n[0]! & 0x1f) === 5);
    parts.push(mux.mux(au.codec === 'h264' ? 0x100 : 0x101, t.pts, t.dts, au.data, key));
  }
  return Buffer.concat(parts);
}

/** Units → UnitsToTs (configured with `tracks`) → one TS buffer. */
function toTs(tracks: readonly Track[], units: readonly MediaUnit[]): Buffer {
  const w = new UnitsToTs();
  w.setTracks(tracks);
  return Buffer.concat(units.map((u) => w.mux(u)));
}

/** x265 Annex B fixture (AUD per access unit) → TS, 25 fps from PTS 900000. */
function hevcTs(): Buffer {
  const mux = new TsMuxer([{ pid: 0x100, codec: 'h265' }]);
  const aud = Buffer.from([0, 0, 0, 1, 0x46, 0x01, 0x50]);
  return Buffer.concat(
    accessUnits(HEVC).map((nals, i) => {
      const data = Buffer.concat([aud, ...nals.flatMap((n) => [Buffer.from([0, 0, 0, 1]), n])]);
      const key = nals.some((n) => h265Type(n) >= 16 && h265Type(n) <= 23);
      return mux.mux(0x100, 900000 + i * 3600, 900000 + i * 3600, data, key);
    }),
  );
}

describe('MPEG-TS → MediaUnits', () => {
  test('H264 + AAC: tracks with their configs, 50 canonical video units with keyframes at 0 and 25, AAC every 1024 samples', () => {
    const r = ingest(H264_AAC);
    assert.deepEqual(r.ignored, []);
    const video = r.tracks.find((t): t is VideoTrack => t.kind === 'video')!;
    const audio = r.tracks.find((t): t is AudioTrack => t.kind === 'audio')!;
    assert.equal(r.tracks.length, 2, 'each track announced once');
    assert.deepEqual([video.id, video.codec, video.width, video.height], [0, 'h264', 320, 240]);
    assert.match(video.codecString!, /^avc1\.[0-9a-f]{6}$/);
    const avcc = parseAvcC(video.config!);
    assert.deepEqual([avcc.lengthSize, avcc.sps.length, avcc.pps.length], [4, 1, 1]);
    assert.deepEqual([audio.id, audio.codec, audio.sampleRate, audio.channels, audio.codecString], [1, 'aac', 48000, 1, 'mp4a.40.2']);
    assert.equal(parseAudioSpecificConfig(audio.config!).sampleRate, 48000);

    const v = videoOf(r);
    assert.equal(v.length, 50);
    assert.deepEqual(keyIndexes(v), [0, 25]);
    assert.ok(v.every((u) => u.track === video));
    for (const u of v) {
      // Parameter sets live in the avcC, AUDs are framing: neither is in the unit data.
      const types = splitLengthPrefixed(u.data).map((n) => n[0]! & 0x1f);
      assert.ok(types.length > 0 && types.every((t) => t !== 7 && t !== 8 && t !== 9), types.join(','));
      assert.equal(u.keyframe, types.includes(5));
      assert.equal(u.pts, u.dts, 'no B-frames in the fixture');
    }
    assert.deepEqual(new Set(steps(v)), new Set([3600]));
    assert.equal(v[0]!.dts, 127920, 'the timeline starts at the raw PTS');

    const a = audioOf(r);
    assert.ok(a.length >= 90 && a.length <= 96, `${a.length} AAC units in 2 s`);
    assert.deepEqual(new Set(steps(a)), new Set([1920]));
    assert.ok(a.every((u) => u.keyframe && u.pts === u.dts && u.data[0] !== 0xff), 'raw frames, no ADTS');
  });

  test('the same tracks and units whatever the chunking (1316-byte SRT payloads, 7 bytes)', () => {
    const whole = ingest(H264_AAC);
    for (const step of [1316, 7, 188]) {
      const r = ingest(H264_AAC, step);
      assert.deepEqual(summary(r.units), summary(whole.units), `step ${step}`);
      assert.deepEqual(r.tracks, whole.tracks);
    }
  });

  test('receivedAt is the time of the chunk that completed the unit', () => {
    const r = ingest(H264_AAC, 1316);
    assert.ok(r.units.every((u) => u.receivedAt % 1316 === 0));
    for (let i = 1; i < r.units.length; i++) assert.ok(r.units[i]!.receivedAt >= r.units[i - 1]!.receivedAt);
  });

  test('Opus: one unit per packet, 20 ms apart (TOC), synthesised OpusHead', () => {
    const r = ingest(OPUS, 1316);
    assert.deepEqual(r.ignored, []);
    assert.equal(r.tracks.length, 1);
    const t = r.tracks[0] as AudioTrack;
    assert.deepEqual([t.id, t.codec, t.sampleRate, t.channels, t.codecString], [1, 'opus', 48000, 1, 'opus']);
    assert.deepEqual(t.config, buildOpusHead(1));
    assert.equal(t.config!.toString('latin1', 0, 8), 'OpusHead');
    assert.deepEqual([t.config![8], t.config![9], t.config!.readUInt32LE(12), t.config![18]], [1, 1, 48000, 0]);
    // ffmpeg puts 5 packets (100 ms) in a PES: more units than PES, each one Opus packet.
    const pesCount = demuxAus(OPUS).length;
    assert.ok(r.units.length >= pesCount * 4, `${r.units.length} packets from ${pesCount} PES`);
    assert.ok(r.units.every((u) => opusSamples(u.data) === 960), 'every packet 20 ms');
    assert.deepEqual(new Set(steps(r.units)), new Set([1800]));
    assert.equal(r.units[0]!.dts, 126000);
    assert.equal(r.units[5]!.dts, demuxAus(OPUS)[1]!.pts, 'a PES starts where the previous one ended');
  });

  test('MP3 (MPEG-1 audio, 44.1 kHz; MPEG-2 audio, 22.05 kHz): one unit per frame, 1152 or 576 samples apart', () => {
    for (const [ts, rate, samples] of [[MP3, 44100, 1152], [MP3_22050, 22050, 576]] as const) {
      const r = ingest(ts, 1316);
      assert.deepEqual(r.ignored, []);
      assert.equal(r.tracks.length, 1);
      const t = r.tracks[0] as AudioTrack;
      assert.deepEqual([t.id, t.codec, t.sampleRate, t.channels, t.config], [1, 'mp3', rate, 1, null]);
      assert.ok(r.units.length >= 10);
      for (const u of r.units) assert.equal(parseMpegAudioHeader(u.data).frameLength, u.data.length, 'a whole frame per unit');
      assert.deepEqual(new Set(steps(r.units).map((d) => Math.abs(d - (samples * 90000) / rate) <= 1)), new Set([true]));
    }
  });

  test('Opus TOC durations (RFC 6716 §3.1)', () => {
    assert.equal(opusSamples(Buffer.from([0x78])), 960); // hybrid FB 20 ms, one frame
    assert.equal(opusSamples(Buffer.from([0xfc])), 960); // CELT FB 20 ms, stereo
    assert.equal(opusSamples(Buffer.from([0x01])), 960); // SILK NB 10 ms, two frames
    assert.equal(opusSamples(Buffer.from([0x83, 0x03])), 360); // CELT 2.5 ms × 3
    assert.equal(opusSamples(Buffer.from([0x1b, 0x03])), null); // SILK 60 ms × 3 = 180 ms: invalid
    assert.equal(opusSamples(Buffer.from([0x03])), null); // code 3 without its count byte
  });

  test('33-bit wrap: a stream that starts 1 s before 2^33 stays monotonic with the same steps, PTS−DTS kept across it', () => {
    const aus = demuxAus(H264_AAC);
    const first = Math.min(...aus.map((a) => a.dts!));
    const shift = (t: number) => t - first + WRAP - 90000;
    // Video gets a composition offset of 2 frames, so PTS wraps 80 ms before DTS does.
    const wrapped = retime(H264_AAC, (au) => ({ dts: shift(au.dts!), pts: shift(au.pts!) + (au.codec === 'h264' ? 7200 : 0) }));
    const r = ingest(wrapped, 1316);
    assert.deepEqual(r.ignored, []);
    const v = videoOf(r);
    const a = audioOf(r);
    assert.equal(v.length, 50);
    assert.deepEqual(keyIndexes(v), [0, 25]);
    assert.deepEqual(new Set(steps(v)), new Set([3600]));
    assert.deepEqual(new Set(steps(a)), new Set([1920]));
    assert.ok(v.every((u) => u.pts - u.dts === 7200));
    assert.ok(v[0]!.dts < WRAP && v[v.length - 1]!.dts > WRAP, 'the video crosses the wrap');
    assert.ok(a[0]!.dts < WRAP && a[a.length - 1]!.dts > WRAP, 'the audio crosses the wrap');
    // Tracks stay aligned as in the original.
    const orig = ingest(H264_AAC);
    assert.equal(v[0]!.dts - a[0]!.dts, videoOf(orig)[0]!.dts - audioOf(orig)[0]!.dts);
    for (const kind of ['video', 'audio'] as const) {
      const data = (x: Ingested) => x.units.filter((u) => u.track.kind === kind).map((u) => u.data.toString('base64'));
      assert.deepEqual(data(r), data(orig), kind);
    }
  });

  test('unwrap33: nearest extended time in both directions', () => {
    assert.equal(unwrap33(100, WRAP - 100), WRAP + 100); // forwards across the wrap
    assert.equal(unwrap33(WRAP - 100, WRAP + 100), WRAP - 100); // a step back across it
    assert.equal(unwrap33(WRAP - 100, 100), -100); // a step back below the first wrap
    assert.equal(unwrap33(5, 3 * WRAP + 1), 3 * WRAP + 5);
    assert.equal(unwrap33(90000, 0), 90000);
  });

  test('a stream joined mid-GOP: units before the parameter sets are ignored, each reported under one kind, then the end of it', () => {
    let video = 0;
    const ts = retime(H264_AAC, (au) => (au.codec === 'h264' && video++ < 3 ? null : { pts: au.pts!, dts: au.dts! }));
    const r = ingest(ts);
    const v = videoOf(r);
    assert.equal(v.length, 25);
    assert.ok(v[0]!.keyframe);
    // Every video unit of the first GOP but the three cut away came before the parameter sets.
    assert.equal(r.ignored.length, 22, r.ignored.join('; '));
    assert.deepEqual(new Set(r.kinds), new Set(['video-config']));
    assert.match(r.ignored[0]!, /parameter sets/);
    assert.deepEqual(r.usable, ['video-config'], 'the condition is reported over once the parameter sets came');
    assert.equal(audioOf(r).length, audioOf(ingest(H264_AAC)).length, 'audio is not held back');
  });

  test('a lost packet in the middle of a video PES: only the rest of that GOP waits for the next keyframe, audio goes on', () => {
    const full = ingest(H264_AAC);
    const pidOf = (i: number) => ((H264_AAC[i * TS_PACKET_SIZE + 1]! & 0x1f) << 8) | H264_AAC[i * TS_PACKET_SIZE + 2]!;
    const pusiOf = (i: number) => (H264_AAC[i * TS_PACKET_SIZE + 1]! & 0x40) !== 0;
    let idx = 100;
    while (pidOf(idx) !== 256 || pusiOf(idx)) idx++;
    const lost = Buffer.concat([H264_AAC.subarray(0, TS_PACKET_SIZE * idx), H264_AAC.subarray(TS_PACKET_SIZE * (idx + 1))]);
    for (const step of [lost.length, 1316, 7]) {
      const r = ingest(lost, step);
      const fullVideo = videoOf(full).map((u) => u.dts);
      const got = new Set(videoOf(r).map((u) => u.dts));
      const missing = fullVideo.flatMap((d, i) => (got.has(d) ? [] : [i]));
      assert.ok(missing.length > 0);
      const k = missing[0]!;
      assert.ok(k > 0 && k < 25, `broken unit ${k} is in the first GOP`);
      assert.deepEqual(missing, Array.from({ length: 25 - k }, (_, i) => k + i), 'from the broken unit to the next keyframe');
      assert.deepEqual(summary(videoOf(r).slice(k)), summary(videoOf(full).slice(25)));
      assert.deepEqual(summary(audioOf(r)), summary(audioOf(full)));
      const waits = r.kinds.filter((k) => k === 'video-key').length;
      assert.equal(waits, 25 - k - 1, 'each unit dropped while waiting for the keyframe is reported');
      assert.deepEqual(r.usable, ['video-key'], 'and the end of the wait once');
    }
  });

  test('garbage: resync without loss, random packets never throw', () => {
    const cut = TS_PACKET_SIZE * 40;
    const noisy = Buffer.concat([H264_AAC.subarray(0, cut), Buffer.from('deadbeef47474747', 'hex'), H264_AAC.subarray(cut)]);
    assert.deepEqual(summary(ingest(noisy, 1316).units), summary(ingest(H264_AAC).units));
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 30; i++) {
      const junk = Buffer.from(Array.from({ length: 188 * 20 }, rand));
      for (let j = 0; j < junk.length; j += 188) junk[j] = 0x47;
      ingest(Buffer.concat([H264_AAC.subarray(0, 188 * 3), junk]), 1316); // real PAT/PMT, then noise
    }
    // Valid framing, broken payloads: PES bytes scrambled after the PES header.
    const scrambled = Buffer.from(H264_AAC);
    for (let p = 0; p < scrambled.length; p += 188) if ((scrambled[p + 1]! & 0x40) === 0) for (let j = p + 4; j < p + 188; j++) scrambled[j] = rand();
    ingest(scrambled, 1316);
  });

  test('maxPesSize bounds the PES the demuxer assembles', () => {
    const t = new TsToUnits({ track: () => {}, unit: () => {}, ignored: () => {} }, { maxPesSize: 1000 });
    assert.throws(() => t.push(H264_AAC, 0), LimitError);
    const big = new TsToUnits({ track: () => {}, unit: () => {}, ignored: () => {} }, { maxPesSize: 4000 });
    assert.doesNotThrow(() => big.push(H264_AAC, 0), 'the largest PES of the fixture is under 4000 bytes');
  });

  test('H265: VPS/SPS/PPS into an hvcC (buildHvcC ⇄ parseHvcC), 50 units with keyframes at 0 and 25', () => {
    const r = ingest(hevcTs(), 1316);
    assert.deepEqual(r.ignored, []);
    assert.equal(r.tracks.length, 1);
    const t = r.tracks[0] as VideoTrack;
    assert.deepEqual([t.id, t.codec, t.width, t.height], [0, 'h265', 320, 240]);
    assert.match(t.codecString!, /^hvc1\.1\.6\.L\d+/);
    const first = accessUnits(HEVC)[0]!;
    const ps = (type: number) => first.filter((n) => h265Type(n) === type);
    // The same record as the test helper's independent construction, except profile_tier_level:
    // the helper copies the SPS bytes as they are, emulation prevention bytes (00 00 03) included,
    // where the record wants the RBSP bits.
    const reference = referenceHvcC(ps(32)[0]!, ps(33)[0]!, ps(34)[0]!);
    assert.deepEqual(t.config!.subarray(13), reference.subarray(13));
    assert.deepEqual([t.config![0], t.config!.subarray(1, 13)], [1, unescapeRbsp(ps(33)[0]!).subarray(3, 15)]);
    const hvcc = parseHvcC(t.config!);
    assert.equal(hvcc.lengthSize, 4);
    assert.deepEqual(hvcc.nalArrays.map((a) => a.type), [32, 33, 34]);
    assert.deepEqual(hvcc.nalArrays.map((a) => a.nalus), [ps(32), ps(33), ps(34)]);
    const p = parseH265SpsProfile(ps(33)[0]!);
    assert.deepEqual([hvcc.generalProfileIdc, hvcc.generalLevelIdc, p.chromaFormatIdc, p.bitDepthLuma], [p.generalProfileIdc, p.generalLevelIdc, 1, 8]);
    // Two VPS/SPS/PPS sets and a multi-layer header round trip as well.
    const two = buildHvcC(ps(32), [ps(33)[0]!, ps(33)[0]!], ps(34));
    assert.deepEqual(parseHvcC(two).nalArrays.map((a) => a.nalus.length), [1, 2, 1]);

    const v = videoOf(r);
    assert.equal(v.length, 50);
    assert.deepEqual(keyIndexes(v), [0, 25]);
    assert.deepEqual(new Set(steps(v)), new Set([3600]));
    for (const u of v) {
      const types = splitLengthPrefixed(u.data).map((n) => (n[0]! >> 1) & 0x3f);
      assert.ok(types.length > 0 && types.every((x) => x < 32 || x > 35), types.join(','));
    }
  });
});

describe('MediaUnits → MPEG-TS', () => {
  test('H264 + AAC round trip: the same data, times and keyframes; parameter sets and AUD in the TS', () => {
    const src = ingest(H264_AAC);
    const ts = toTs(src.tracks, src.units);
    assert.equal(ts.length % TS_PACKET_SIZE, 0);
    const back = ingest(ts, 7);
    assert.deepEqual(back.ignored, []);
    assert.deepEqual(
      back.tracks.map((t) => [t.kind, t.codec, t.config?.toString('hex')]),
      src.tracks.map((t) => [t.kind, t.codec, t.config?.toString('hex')]),
    );
    for (const kind of ['video', 'audio'] as const) {
      const a = src.units.filter((u) => u.track.kind === kind);
      const b = back.units.filter((u) => u.track.kind === kind);
      assert.deepEqual(summary(b), summary(a), kind);
    }
    // On the wire: AUD first, SPS/PPS from the avcC in front of each keyframe only.
    const video = demuxAus(ts).filter((au) => au.codec === 'h264');
    const types = video.map((au) => splitAnnexB(au.data).map((n) => n[0]! & 0x1f));
    assert.deepEqual(types[0], [9, 7, 8, 6, 5]);
    assert.deepEqual(types[25], [9, 7, 8, 5]);
    assert.deepEqual(types[1], [9, 1]);
    assert.ok(video[0]!.randomAccess && video[25]!.randomAccess && !video[1]!.randomAccess);
  });

  test('the elementary stream bytes are built once per unit and shared by every UnitsToTs', () => {
    const src = ingest(H264_AAC);
    const a = toTs(src.tracks, src.units);
    const b = toTs(src.tracks, src.units);
    assert.ok(a.equals(b), 'readers get identical packets');
    assert.ok(src.units.every((u) => Object.getOwnPropertySymbols(u.memo).length === 1));
  });

  test('across the 33-bit wrap: times modulo 2^33 on the wire, the same extended times back', () => {
    const src = ingest(H264_AAC);
    const base = WRAP - 90000 - videoOf(src)[0]!.dts;
    const shifted = src.units.map((u) => makeUnit(u.track, u.dts + base, u.pts + base, u.keyframe, u.data, 0));
    const ts = toTs(src.tracks, shifted);
    assert.ok(demuxAus(ts).every((au) => au.pts! < WRAP && au.pts! >= 0));
    const back = ingest(ts, 1316);
    assert.deepEqual(summary(back.units.filter((u) => u.track.kind === 'video')), summary(shifted.filter((u) => u.track.kind === 'video')));
    assert.deepEqual(summary(back.units.filter((u) => u.track.kind === 'audio')), summary(shifted.filter((u) => u.track.kind === 'audio')));
  });

  test('Opus round trip, and PAT/PMT repeated in an audio-only program', () => {
    const src = ingest(OPUS);
    const ts = toTs(src.tracks, src.units);
    const back = ingest(ts, 1316);
    assert.deepEqual(back.ignored, []);
    assert.deepEqual(back.tracks, src.tracks);
    assert.deepEqual(summary(back.units), summary(src.units));
    let pats = 0;
    for (let p = 0; p < ts.length; p += TS_PACKET_SIZE) if (((ts[p + 1]! & 0x1f) << 8 | ts[p + 2]!) === 0) pats++;
    assert.equal(pats, 1 + Math.floor((src.units.length - 1) * 1800 / 45000), 'PAT every 0.5 s');
  });

  test('MP3 round trip: stream type 0x03 at MPEG-1 rates, 0x04 at MPEG-2 rates (as ffmpeg writes them)', () => {
    for (const [fixture, type] of [[MP3, 0x03], [MP3_22050, 0x04]] as const) {
      const src = ingest(fixture);
      assert.deepEqual(streamTypes(fixture), [type], 'ffmpeg\'s own choice');
      const ts = toTs(src.tracks, src.units);
      assert.deepEqual(streamTypes(ts), [type]);
      const back = ingest(ts, 1316);
      assert.deepEqual(back.ignored, []);
      assert.deepEqual(back.tracks, src.tracks);
      assert.deepEqual(summary(back.units), summary(src.units));
    }
  });

  test('H265 round trip: VPS/SPS/PPS from the hvcC in front of keyframes', () => {
    const src = ingest(hevcTs());
    const ts = toTs(src.tracks, src.units);
    const back = ingest(ts, 7);
    assert.deepEqual(back.tracks, src.tracks);
    assert.deepEqual(summary(back.units), summary(src.units));
    const types = demuxAus(ts).map((au) => splitAnnexB(au.data).map((n) => (n[0]! >> 1) & 0x3f));
    assert.deepEqual(types[0]!.slice(0, 4), [35, 32, 33, 34]);
    assert.equal(types[1]![0], 35);
    assert.ok(!types[1]!.includes(33));
  });

  test('codecs MPEG-TS cannot carry here are skipped; units of tracks not in the program give nothing', () => {
    const w = new UnitsToTs();
    assert.equal(w.tables().length, 0);
    assert.equal(w.mux(makeUnit({ kind: 'video', id: 0, codec: 'h264', config: null }, 0, 0, true, Buffer.alloc(8))).length, 0, 'not configured');
    const av1: Track = { kind: 'video', id: 0, codec: 'av1', config: null };
    const vp8: Track = { kind: 'video', id: 0, codec: 'vp8', config: null };
    w.setTracks([av1]);
    assert.deepEqual(w.streams, []);
    assert.equal(w.mux(makeUnit(av1, 0, 0, true, Buffer.from([0x12, 0]))).length, 0);
    assert.deepEqual([av1, vp8].map(tsCarries), [false, false], 'readers are told beforehand');
    const opus: Track = { kind: 'audio', id: 1, codec: 'opus', config: buildOpusHead(2), sampleRate: 48000, channels: 2 };
    w.setTracks([av1, opus]);
    assert.deepEqual(w.streams, [{ pid: 0x101, codec: 'opus' }]);
    assert.equal(w.mux(makeUnit(av1, 0, 0, true, Buffer.from([0x12, 0]))).length, 0);
    // Broken length prefixes: skipped, not thrown.
    const h264: Track = { kind: 'video', id: 0, codec: 'h264', config: null };
    w.setTracks([h264]);
    assert.equal(w.mux(makeUnit(h264, 0, 0, true, Buffer.from([0, 0, 0, 9, 1]))).length, 0);
  });

  test('a track added later: PMT version bumped, continuity counters continue, the receiver picks up the new stream', () => {
    const src = ingest(H264_AAC);
    const video = src.tracks.find((t) => t.kind === 'video')!;
    const w = new UnitsToTs();
    w.setTracks([video]);
    const parts: Buffer[] = [];
    const half = src.units.findIndex((u) => u.track.kind === 'video' && u.keyframe && u.dts > videoOf(src)[0]!.dts);
    for (const u of src.units.slice(0, half)) parts.push(w.mux(u));
    w.setTracks(src.tracks);
    for (const u of src.units.slice(half)) parts.push(w.mux(u));
    const ts = Buffer.concat(parts);
    const warnings: string[] = [];
    const d = new TsDemuxer({ unit: () => {}, warning: (x) => warnings.push(x) });
    d.push(ts);
    assert.deepEqual(warnings, []);
    const back = ingest(ts);
    assert.equal(videoOf(back).length, 50);
    assert.deepEqual(summary(audioOf(back)), summary(src.units.slice(half).filter((u) => u.track.kind === 'audio')));
  });

  test('ffprobe reads what UnitsToTs writes: H264 320x240 with 50 frames and AAC 48 kHz with every frame; H265; Opus; MP3', (t) => {
    if (!requireTools(t, 'ffprobe')) return;
    const dir = mkdtempSync(join(tmpdir(), 'livegate-ts-media-'));
    const probe = (name: string, ts: Buffer) => {
      const file = join(dir, name);
      writeFileSync(file, ts);
      const r = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-show_streams', '-of', 'json', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '', `no complaints from ffprobe on ${name}`);
      return (JSON.parse(r.stdout) as { streams: { codec_name: string; width?: number; height?: number; sample_rate?: string; channels?: number; nb_read_frames?: string }[] }).streams;
    };
    const src = ingest(H264_AAC);
    const streams = probe('h264-aac.ts', toTs(src.tracks, src.units));
    const v = streams.find((s) => s.codec_name === 'h264')!;
    const a = streams.find((s) => s.codec_name === 'aac')!;
    assert.deepEqual([v.width, v.height, v.nb_read_frames], [320, 240, '50']);
    assert.deepEqual([a.sample_rate, a.nb_read_frames], ['48000', String(audioOf(src).length)]);

    const hevc = ingest(hevcTs());
    const h = probe('h265.ts', toTs(hevc.tracks, hevc.units)).find((s) => s.codec_name === 'hevc')!;
    assert.deepEqual([h.width, h.height, h.nb_read_frames], [320, 240, '50']);

    const opus = ingest(OPUS);
    const o = probe('opus.ts', toTs(opus.tracks, opus.units)).find((s) => s.codec_name === 'opus')!;
    assert.deepEqual([o.sample_rate, o.nb_read_frames], ['48000', String(opus.units.length)]);

    const mp3 = ingest(MP3);
    const m = probe('mp3.ts', toTs(mp3.tracks, mp3.units)).find((s) => s.codec_name === 'mp3')!;
    assert.deepEqual([m.sample_rate, m.channels, m.nb_read_frames], ['44100', 1, String(mp3.units.length)]);
  });
});
