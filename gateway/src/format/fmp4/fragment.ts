/**
 * One movie fragment (ISO/IEC 14496-12 §8.8): moof (mfhd, then per track traf with tfhd, tfdt and
 * trun with per-sample duration, size, flags and composition offset) followed by one mdat holding the
 * samples of every track, track after track. The sample data Buffers are referenced, not copied,
 * until the final concat.
 */
import { box, fullBox, u } from './boxes.js';

export interface FragmentSample {
  /** In the track's timescale. */
  duration: number;
  /** Presentation minus decode time, in the track's timescale (may be negative). */
  compositionOffset: number;
  /** A sync sample (keyframe; every audio sample). */
  sync: boolean;
  data: Buffer;
}

export interface TrackRun {
  /** The MP4 track id (1-based, as in the init segment). */
  trackId: number;
  /** Decode time of the first sample, in the track's timescale. */
  baseDecodeTime: number;
  samples: readonly FragmentSample[];
}

/** sample_flags: depends on nothing (sync), or depends on others and is not a sync sample. */
const SYNC_FLAGS = 0x02000000;
const NON_SYNC_FLAGS = 0x01010000;
/** tfhd: base data offset is the start of the moof. */
const DEFAULT_BASE_IS_MOOF = 0x020000;
/** trun: data-offset, sample-duration, sample-size, sample-flags, sample-composition-time-offset. */
const TRUN_FLAGS = 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800;

/** moof + mdat for `runs` (tracks without samples are left out). */
export function fragment(sequenceNumber: number, runs: readonly TrackRun[]): Buffer {
  const present = runs.filter((r) => r.samples.length > 0);
  const mfhd = fullBox('mfhd', 0, 0, u([4, sequenceNumber]));
  // The trun data offsets depend on the moof's size, which does not depend on them: size first.
  const trafSizes = present.map((r) => 8 + 16 + 20 + 12 + 8 + r.samples.length * 16);
  const moofSize = 8 + mfhd.length + trafSizes.reduce((a, b) => a + b, 0);
  let dataOffset = moofSize + 8;
  const trafs: Buffer[] = [];
  const data: Buffer[] = [];
  let mdatSize = 8;
  for (const r of present) {
    const tfhd = fullBox('tfhd', 0, DEFAULT_BASE_IS_MOOF, u([4, r.trackId]));
    const tfdt = fullBox('tfdt', 1, 0, u([8, r.baseDecodeTime]));
    const table = Buffer.alloc(8 + r.samples.length * 16);
    table.writeUInt32BE(r.samples.length, 0);
    table.writeInt32BE(dataOffset, 4);
    let o = 8;
    for (const s of r.samples) {
      // Out-of-range values from a broken source are clamped: a fragment is always written.
      table.writeUInt32BE(Math.min(0xffffffff, Math.max(0, Math.round(s.duration))), o);
      table.writeUInt32BE(s.data.length, o + 4);
      table.writeUInt32BE(s.sync ? SYNC_FLAGS : NON_SYNC_FLAGS, o + 8);
      table.writeInt32BE(Math.min(0x7fffffff, Math.max(-0x80000000, Math.round(s.compositionOffset))), o + 12);
      o += 16;
      data.push(s.data);
      dataOffset += s.data.length;
      mdatSize += s.data.length;
    }
    // Version 1: signed composition offsets.
    trafs.push(box('traf', tfhd, tfdt, fullBox('trun', 1, TRUN_FLAGS, table)));
  }
  const moof = box('moof', mfhd, ...trafs);
  if (moof.length !== moofSize) throw new Error(`moof is ${moof.length} bytes, expected ${moofSize}`);
  const mdatHeader = Buffer.alloc(8);
  mdatHeader.writeUInt32BE(mdatSize, 0);
  mdatHeader.write('mdat', 4, 'latin1');
  return Buffer.concat([moof, mdatHeader, ...data]);
}
