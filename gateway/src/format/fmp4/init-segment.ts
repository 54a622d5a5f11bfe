/**
 * The fMP4/CMAF initialization segment (ISO/IEC 14496-12, 14496-15, 14496-14, Opus in ISOBMFF):
 * ftyp + moov with one trak per track (sample entry avc1/hvc1 with avcC/hvcC, mp4a with esds, Opus
 * with dOps) and mvex/trex, so every sample comes in movie fragments.
 */
import type { AudioTrack, Track, VideoTrack } from '../../core/media-unit.js';
import { box, fullBox, u, UNITY_MATRIX } from './boxes.js';

/** Track timescales: video on the common 90 kHz clock, audio on its sample rate. */
export function timescaleOf(track: Track): number {
  return track.kind === 'video' ? 90_000 : track.sampleRate;
}

/** The codecs an init segment can describe. */
export function fmp4Carries(track: Track): boolean {
  return track.kind === 'video' ? track.codec === 'h264' || track.codec === 'h265' : track.codec === 'aac' || track.codec === 'opus';
}

/** MP4 track ids are 1-based. */
export const mp4TrackId = (track: Track): number => track.id + 1;

export function initSegment(tracks: readonly Track[]): Buffer {
  const ftyp = box('ftyp', Buffer.from('iso6', 'latin1'), u([4, 0x200]), Buffer.from('iso6cmfcmp41', 'latin1'));
  const nextTrackId = Math.max(0, ...tracks.map(mp4TrackId)) + 1;
  const mvhd = fullBox(
    'mvhd',
    0,
    0,
    u([4, 0], [4, 0], [4, 1000], [4, 0], [4, 0x00010000], [2, 0x0100], [2, 0], [4, 0], [4, 0]),
    UNITY_MATRIX,
    Buffer.alloc(24),
    u([4, nextTrackId]),
  );
  const mvex = box('mvex', ...tracks.map((t) => fullBox('trex', 0, 0, u([4, mp4TrackId(t)], [4, 1], [4, 0], [4, 0], [4, 0]))));
  return Buffer.concat([ftyp, box('moov', mvhd, ...tracks.map(trak), mvex)]);
}

function trak(track: Track): Buffer {
  const video = track.kind === 'video';
  const width = video ? (track.width ?? 0) : 0;
  const height = video ? (track.height ?? 0) : 0;
  const tkhd = fullBox(
    'tkhd',
    0,
    3, // enabled, in movie
    u([4, 0], [4, 0], [4, mp4TrackId(track)], [4, 0], [4, 0], [4, 0], [4, 0], [2, 0], [2, 0], [2, video ? 0 : 0x0100], [2, 0]),
    UNITY_MATRIX,
    u([4, width * 0x10000], [4, height * 0x10000]),
  );
  const mdhd = fullBox('mdhd', 0, 0, u([4, 0], [4, 0], [4, timescaleOf(track)], [4, 0], [2, 0x55c4 /* 'und' */], [2, 0]));
  const handler = video ? 'vide' : 'soun';
  const name = video ? 'livegate video' : 'livegate audio';
  const hdlr = fullBox('hdlr', 0, 0, u([4, 0]), Buffer.from(handler, 'latin1'), Buffer.alloc(12), Buffer.from(name + '\0', 'latin1'));
  const mediaHeader = video ? fullBox('vmhd', 0, 1, u([2, 0], [2, 0], [2, 0], [2, 0])) : fullBox('smhd', 0, 0, u([2, 0], [2, 0]));
  const dinf = box('dinf', fullBox('dref', 0, 0, u([4, 1]), fullBox('url ', 0, 1)));
  const stbl = box(
    'stbl',
    fullBox('stsd', 0, 0, u([4, 1]), video ? videoSampleEntry(track) : audioSampleEntry(track)),
    fullBox('stts', 0, 0, u([4, 0])),
    fullBox('stsc', 0, 0, u([4, 0])),
    fullBox('stsz', 0, 0, u([4, 0], [4, 0])),
    fullBox('stco', 0, 0, u([4, 0])),
  );
  return box('trak', tkhd, box('mdia', mdhd, hdlr, box('minf', mediaHeader, dinf, stbl)));
}

function videoSampleEntry(track: VideoTrack): Buffer {
  const config = Buffer.from(track.config ?? Buffer.alloc(0));
  // Samples carry NAL units with 4-byte lengths (livegate's canonical form): the record says so.
  if (track.codec === 'h264' && config.length > 4) config[4] = config[4]! | 0x03;
  if (track.codec === 'h265' && config.length > 21) config[21] = config[21]! | 0x03;
  const compressor = Buffer.alloc(32);
  const fields = u(
    [4, 0], [2, 0], [2, 1], // reserved, data_reference_index
    [2, 0], [2, 0], [4, 0], [4, 0], [4, 0], // pre_defined, reserved, pre_defined
    [2, track.width ?? 0], [2, track.height ?? 0],
    [4, 0x00480000], [4, 0x00480000], [4, 0], [2, 1], // 72 dpi, reserved, frame_count
  );
  const tail = u([2, 0x0018], [2, 0xffff]); // depth, pre_defined = -1
  const record = track.codec === 'h264' ? box('avcC', config) : box('hvcC', config);
  return box(track.codec === 'h264' ? 'avc1' : 'hvc1', fields, compressor, tail, record);
}

function audioSampleEntry(track: AudioTrack): Buffer {
  const rate = track.codec === 'opus' ? 48_000 : track.sampleRate;
  const fields = u([4, 0], [2, 0], [2, 1], [4, 0], [4, 0], [2, track.channels], [2, 16], [2, 0], [2, 0], [4, (rate * 0x10000) % 2 ** 32]);
  if (track.codec === 'opus') return box('Opus', fields, dOps(track));
  return box('mp4a', fields, esds(track.config ?? Buffer.alloc(0)));
}

/** An MPEG-4 descriptor: tag, length in the 4-byte expandable form, body. */
function descriptor(tag: number, ...body: Buffer[]): Buffer {
  const length = body.reduce((n, b) => n + b.length, 0);
  const header = Buffer.from([tag, 0x80 | ((length >> 21) & 0x7f), 0x80 | ((length >> 14) & 0x7f), 0x80 | ((length >> 7) & 0x7f), length & 0x7f]);
  return Buffer.concat([header, ...body]);
}

function esds(asc: Buffer): Buffer {
  const decoderConfig = descriptor(0x04, u([1, 0x40 /* MPEG-4 audio */], [1, (0x05 << 2) | 1 /* audio stream */], [3, 0], [4, 0], [4, 0]), descriptor(0x05, asc));
  const es = descriptor(0x03, u([2, 0], [1, 0]), decoderConfig, descriptor(0x06, Buffer.from([0x02])));
  return fullBox('esds', 0, 0, es);
}

/** dOps from an OpusHead (RFC 7845 §5.1, little-endian) or, without one, from the track. */
function dOps(track: AudioTrack): Buffer {
  const head = track.config;
  const ok = head && head.length >= 19 && head.toString('latin1', 0, 8) === 'OpusHead';
  const channels = ok ? head[9]! : track.channels;
  const preSkip = ok ? head.readUInt16LE(10) : 312;
  const inputRate = ok ? head.readUInt32LE(12) : 48_000;
  const gain = ok ? head.readInt16LE(16) : 0;
  const family = ok ? head[18]! : 0;
  const fields = u([1, 0], [1, channels], [2, preSkip], [4, inputRate], [2, gain], [1, family]);
  // Mapping family 0 has no table; the others carry stream count, coupled count and the mapping.
  return family !== 0 && ok ? box('dOps', fields, head.subarray(19)) : box('dOps', fields);
}
