/**
 * MPEG-TS muxer (ISO/IEC 13818-1) for the read direction (SRT read, later HLS): PAT/PMT before every
 * keyframe, PES with PTS/DTS, PCR on the video PID, continuity counters, stuffing through the
 * adaptation field. Pure: access units in, 188-byte packets out (one Buffer per call).
 */
import type { TsCodec } from './demuxer.js';
import { TS_PACKET_SIZE } from './demuxer.js';

export interface TsMuxTrack {
  pid: number;
  codec: Exclude<TsCodec, 'unknown'>;
  /** stream_type when it is not the codec's usual one (MPEG-2 audio, 0x04, for MP3 below 32 kHz). */
  streamType?: number;
}

const PMT_PID = 0x1000;
const PROGRAM = 1;
/** ISO/IEC 13818-1 Table 2-34 (Opus: private data with a registration descriptor, ETSI TS 102 366-ish as ffmpeg writes it). */
const STREAM_TYPES: { [codec: string]: number } = { h264: 0x1b, h265: 0x24, aac: 0x0f, opus: 0x06, mp3: 0x03 };
const STREAM_IDS: { [codec: string]: number } = { h264: 0xe0, h265: 0xe0, aac: 0xc0, opus: 0xbd, mp3: 0xc0 };

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32/MPEG-2 of PSI sections (Annex A). */
export function crc32Mpeg2(b: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of b) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ byte) & 0xff]!) >>> 0;
  return crc >>> 0;
}

function writeTimestamp(b: Buffer, o: number, marker: number, ts: number): void {
  const t = ts % 2 ** 33;
  const high = Math.floor(t / 2 ** 30) & 0x07;
  const low = t % 2 ** 30;
  b[o] = (marker << 4) | (high << 1) | 1;
  b[o + 1] = (low >>> 22) & 0xff;
  b[o + 2] = (((low >>> 15) & 0x7f) << 1) | 1;
  b[o + 3] = (low >>> 7) & 0xff;
  b[o + 4] = ((low & 0x7f) << 1) | 1;
}

export class TsMuxer {
  private readonly cc = new Map<number, number>();
  private readonly pcrPid: number;

  constructor(private readonly tracks: readonly TsMuxTrack[]) {
    if (tracks.length === 0) throw new RangeError('a TS program needs a track');
    this.pcrPid = (tracks.find((t) => t.codec === 'h264' || t.codec === 'h265') ?? tracks[0]!).pid;
  }

  private nextCc(pid: number): number {
    const c = ((this.cc.get(pid) ?? 15) + 1) & 0x0f;
    this.cc.set(pid, c);
    return c;
  }

  /** A PSI section in one packet (pointer field 0, stuffing 0xff). */
  private psiPacket(pid: number, section: Buffer): Buffer {
    const p = Buffer.alloc(TS_PACKET_SIZE, 0xff);
    p[0] = 0x47;
    p.writeUInt16BE(0x4000 | pid, 1);
    p[3] = 0x10 | this.nextCc(pid);
    p[4] = 0;
    section.copy(p, 5);
    return p;
  }

  private section(tableId: number, idExt: number, body: Buffer): Buffer {
    const length = 5 + body.length + 4;
    const s = Buffer.alloc(3 + length);
    s[0] = tableId;
    s.writeUInt16BE(0xb000 | length, 1);
    s.writeUInt16BE(idExt, 3);
    s[5] = 0xc1; // version 0, current
    s[6] = 0;
    s[7] = 0;
    body.copy(s, 8);
    s.writeUInt32BE(crc32Mpeg2(s.subarray(0, s.length - 4)), s.length - 4);
    return s;
  }

  /** PAT + PMT. */
  tables(): Buffer {
    const pat = this.section(0x00, 1, Buffer.from([PROGRAM >> 8, PROGRAM & 0xff, 0xe0 | (PMT_PID >> 8), PMT_PID & 0xff]));
    const es: Buffer[] = [];
    for (const t of this.tracks) {
      const desc = t.codec === 'opus' ? Buffer.from([0x05, 4, ...Buffer.from('Opus'), 0x7f, 2, 0x80, 2]) : Buffer.alloc(0);
      const e = Buffer.alloc(5);
      e[0] = t.streamType ?? STREAM_TYPES[t.codec]!;
      e.writeUInt16BE(0xe000 | t.pid, 1);
      e.writeUInt16BE(0xf000 | desc.length, 3);
      es.push(e, desc);
    }
    const head = Buffer.alloc(4);
    head.writeUInt16BE(0xe000 | this.pcrPid, 0);
    head.writeUInt16BE(0xf000, 2);
    const pmt = this.section(0x02, PROGRAM, Buffer.concat([head, ...es]));
    return Buffer.concat([this.psiPacket(0, pat), this.psiPacket(PMT_PID, pmt)]);
  }

  /**
   * One access unit (Annex-B video, ADTS AAC, framed Opus) with 90 kHz times. Keyframes get PAT/PMT
   * in front and the random access indicator; the PCR track carries a PCR on every PES start.
   */
  mux(pid: number, pts: number, dts: number, data: Buffer, keyframe: boolean): Buffer {
    const track = this.tracks.find((t) => t.pid === pid);
    if (!track) throw new RangeError(`no track with PID ${pid}`);
    const withDts = dts !== pts;
    const pesHeader = Buffer.alloc(9 + (withDts ? 10 : 5));
    pesHeader.writeUIntBE(1, 0, 3);
    pesHeader[3] = STREAM_IDS[track.codec]!;
    const pesLength = pesHeader.length - 6 + data.length;
    // Video PES may be unbounded (0); audio lengths always fit in 16 bits.
    pesHeader.writeUInt16BE(pesLength > 0xffff ? 0 : pesLength, 4);
    pesHeader[6] = 0x80;
    pesHeader[7] = withDts ? 0xc0 : 0x80;
    pesHeader[8] = withDts ? 10 : 5;
    writeTimestamp(pesHeader, 9, withDts ? 3 : 2, pts);
    if (withDts) writeTimestamp(pesHeader, 14, 1, dts);
    const pes = Buffer.concat([pesHeader, data]);
    const out: Buffer[] = keyframe && (track.codec === 'h264' || track.codec === 'h265') ? [this.tables()] : [];
    let pos = 0;
    let first = true;
    while (pos < pes.length) {
      const p = Buffer.alloc(TS_PACKET_SIZE, 0xff);
      p[0] = 0x47;
      p.writeUInt16BE((first ? 0x4000 : 0) | pid, 1);
      const pcr = first && pid === this.pcrPid;
      const rai = first && keyframe;
      // Adaptation field: flags byte (+ PCR 6 bytes) when needed, then stuffing for the last packet.
      let afLen = pcr || rai ? 1 + (pcr ? 6 : 0) : -1;
      const room = TS_PACKET_SIZE - 4 - (afLen >= 0 ? 1 + afLen : 0);
      const take = Math.min(room, pes.length - pos);
      if (take < room) afLen = Math.max(afLen, 0) + (room - take) - (afLen < 0 ? 1 : 0);
      let o = 4;
      if (afLen >= 0) {
        p[3] = 0x30 | this.nextCc(pid);
        p[4] = afLen;
        o = 5;
        if (afLen > 0) {
          p[5] = (rai ? 0x40 : 0) | (pcr ? 0x10 : 0);
          o = 6;
          if (pcr) {
            const base = (dts - 63000 + 2 ** 33) % 2 ** 33; // PCR a little ahead of decoding (700 ms)
            p.writeUInt32BE(Math.floor(base / 2), 6);
            p[10] = ((base % 2) << 7) | 0x7e;
            p[11] = 0;
            o = 12;
          }
          o = 5 + afLen; // the rest of the field is stuffing (already 0xff)
        }
      } else {
        p[3] = 0x10 | this.nextCc(pid);
      }
      pes.copy(p, o, pos, pos + take);
      pos += take;
      first = false;
      out.push(p);
    }
    return Buffer.concat(out);
  }
}
