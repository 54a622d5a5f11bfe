/**
 * MPEG-TS demuxer (ISO/IEC 13818-1): 188-byte packets in (any chunking), PES payloads out as access
 * units with 90 kHz PTS/DTS. Pure. Handles PAT/PMT (and their changes), adaptation fields, PES
 * reassembly across packets, continuity-counter errors (the broken PES is dropped, sync is kept) and
 * resynchronisation on lost packet alignment. Every buffer it grows is size-limited.
 */
import { LimitError } from '../../core/errors.js';

export const TS_PACKET_SIZE = 188;
const SYNC_BYTE = 0x47;
const PID_PAT = 0x0000;
const EMPTY = Buffer.alloc(0);
/** A PID's first assembly buffer; it grows (by doubling) to the largest PES seen on the PID. */
const ASSEMBLY_START_SIZE = 64 * 1024;

/** Elementary stream kinds livegate understands (stream_type, ISO/IEC 13818-1 Table 2-34 and registrations). */
export type TsCodec = 'h264' | 'h265' | 'aac' | 'opus' | 'mp3' | 'unknown';

export interface TsTrackInfo {
  pid: number;
  streamType: number;
  codec: TsCodec;
}

export interface TsAccessUnit {
  pid: number;
  codec: TsCodec;
  /** 90 kHz, 33-bit as on the wire (the caller unwraps). */
  pts: number | null;
  dts: number | null;
  /** The PES payload: Annex-B for video, ADTS for AAC, Opus control-header framed for Opus, MPEG audio frames. */
  data: Buffer;
  /** The random access indicator of the first packet's adaptation field. */
  randomAccess: boolean;
  /** A continuity error or discontinuity happened before this unit on its PID. */
  discontinuity: boolean;
}

export interface TsDemuxerEvents {
  tracks?(tracks: TsTrackInfo[]): void;
  unit(au: TsAccessUnit): void;
  /** Something was dropped (why), e.g. a PES cut by a continuity error. */
  warning?(reason: string): void;
}

export interface TsDemuxerOptions {
  /** Largest PES accepted (default 8 MiB). */
  maxPesSize?: number;
  /**
   * A unit's `data` is valid only during its `unit` call: the PES memory of its PID is used again
   * for the next one. For callers that copy what they keep; saves allocating (and the GC collecting)
   * a buffer per PES.
   */
  reuseBuffers?: boolean;
}

interface PesState {
  codec: TsCodec;
  /** The PES so far is its first `size` bytes: the PID's assembly buffer (see `assembly`). */
  buf: Buffer;
  size: number;
  cc: number;
  randomAccess: boolean;
  discontinuity: boolean;
}

function codecOf(streamType: number, descriptors: Buffer): TsCodec {
  switch (streamType) {
    case 0x1b:
      return 'h264';
    case 0x24:
      return 'h265';
    case 0x0f:
      return 'aac';
    case 0x03: // MPEG-1 audio
    case 0x04: // MPEG-2 audio (the low sampling rates)
      return 'mp3';
    case 0x06:
      // Private data: Opus is announced with a registration descriptor (tag 5) "Opus".
      for (let i = 0; i + 2 <= descriptors.length; ) {
        const tag = descriptors[i]!;
        const len = descriptors[i + 1]!;
        if (tag === 0x05 && len >= 4 && descriptors.toString('latin1', i + 2, i + 6) === 'Opus') return 'opus';
        i += 2 + len;
      }
      return 'unknown';
    default:
      return 'unknown';
  }
}

function readTimestamp(b: Buffer, o: number): number {
  // 33 bits in 5 bytes with marker bits (§2.4.3.7).
  return (
    ((b[o]! >> 1) & 0x07) * 0x40000000 +
    ((b[o + 1]! << 22) | ((b[o + 2]! >> 1) << 15) | (b[o + 3]! << 7) | (b[o + 4]! >> 1))
  );
}

export class TsDemuxer {
  private carry: Buffer = EMPTY;
  private pmtPid: number | null = null;
  private readonly tracks = new Map<number, TsTrackInfo>();
  private readonly pes = new Map<number, PesState>();
  private readonly maxPesSize: number;
  private readonly reuseBuffers: boolean;
  /**
   * Per PID, the buffer its PES are assembled in, payloads copied in as they arrive: one buffer kept
   * (grown to the largest PES seen) rather than a subarray per TS packet and a concatenation per PES.
   */
  private readonly assembly = new Map<number, Buffer>();
  private programVersion = -1;

  constructor(
    private readonly events: TsDemuxerEvents,
    options: TsDemuxerOptions = {},
  ) {
    this.maxPesSize = options.maxPesSize ?? 8 * 1024 * 1024;
    this.reuseBuffers = options.reuseBuffers ?? false;
  }

  push(chunk: Buffer): void {
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    let pos = 0;
    while (pos + TS_PACKET_SIZE <= buf.length) {
      if (buf[pos] !== SYNC_BYTE) {
        // Lost alignment: find the next sync byte that is followed by another one a packet later.
        const next = this.resync(buf, pos + 1);
        this.events.warning?.(`lost TS sync, skipped ${next - pos} bytes`);
        pos = next;
        continue;
      }
      // By offset, not a subarray per packet: allocations per packet are what the GC pays for.
      this.packet(buf, pos);
      pos += TS_PACKET_SIZE;
    }
    // A copy, as the caller may reuse its chunk; the usual whole-packet chunk leaves nothing.
    this.carry = pos < buf.length ? Buffer.from(buf.subarray(pos)) : EMPTY;
  }

  /** Emits what is buffered (the end of the stream). */
  flush(): void {
    for (const pid of this.pes.keys()) this.emitPes(pid);
  }

  private resync(buf: Buffer, from: number): number {
    for (let i = from; i < buf.length; i++) {
      if (buf[i] === SYNC_BYTE && (i + TS_PACKET_SIZE >= buf.length || buf[i + TS_PACKET_SIZE] === SYNC_BYTE)) return i;
    }
    return buf.length;
  }

  /** The 188-byte packet at `at` in `b`. */
  private packet(b: Buffer, at: number): void {
    const pusi = (b[at + 1]! & 0x40) !== 0;
    const pid = ((b[at + 1]! & 0x1f) << 8) | b[at + 2]!;
    const afc = (b[at + 3]! >> 4) & 0x03;
    const cc = b[at + 3]! & 0x0f;
    let pos = 4;
    let randomAccess = false;
    let discontinuity = false;
    if (afc === 2 || afc === 3) {
      const len = b[at + 4]!;
      if (len > 183) {
        this.events.warning?.(`PID ${pid}: adaptation field of ${len} bytes, packet skipped`);
        return;
      }
      if (len > 0) {
        discontinuity = (b[at + 5]! & 0x80) !== 0;
        randomAccess = (b[at + 5]! & 0x40) !== 0;
      }
      pos = 5 + len;
    }
    if (afc === 0 || afc === 2 || pos >= TS_PACKET_SIZE) return; // no payload
    const start = at + pos;
    const end = at + TS_PACKET_SIZE;
    if (pid === PID_PAT) return this.pat(b.subarray(start, end), pusi);
    if (pid === this.pmtPid) return this.pmt(b.subarray(start, end), pusi);
    const track = this.tracks.get(pid);
    if (!track) return;
    let state = this.pes.get(pid);
    let ccError = false;
    if (state && !discontinuity && ((state.cc + 1) & 0x0f) !== cc) {
      if (state.cc === cc) return; // a duplicate packet (§2.4.3.3): ignore it
      this.events.warning?.(`continuity error on PID ${pid}: expected ${(state.cc + 1) & 0x0f}, got ${cc}; PES dropped`);
      this.pes.delete(pid);
      state = undefined;
      ccError = true;
      if (!pusi) {
        this.pendingDiscontinuity.add(pid);
        return;
      }
    }
    const length = end - start;
    if (pusi) {
      if (state) this.emitPes(pid);
      let buf = this.assembly.get(pid);
      if (!buf) this.assembly.set(pid, (buf = Buffer.allocUnsafe(ASSEMBLY_START_SIZE)));
      b.copy(buf, 0, start, end);
      state = {
        codec: track.codec,
        buf,
        size: length,
        cc,
        randomAccess,
        discontinuity: this.pendingDiscontinuity.delete(pid) || discontinuity || ccError,
      };
      this.pes.set(pid, state);
      return;
    }
    if (!state) return; // the middle of a PES we never saw start
    state.cc = cc;
    const size = state.size + length;
    if (size > this.maxPesSize) {
      this.pes.delete(pid);
      throw new LimitError(`PES on PID ${pid} over ${this.maxPesSize} bytes`);
    }
    if (size > state.buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(2 * state.buf.length, size), this.maxPesSize));
      state.buf.copy(grown, 0, 0, state.size);
      state.buf = grown;
      this.assembly.set(pid, grown);
    }
    b.copy(state.buf, state.size, start, end);
    state.size = size;
  }

  private readonly pendingDiscontinuity = new Set<number>();

  private emitPes(pid: number): void {
    const state = this.pes.get(pid);
    this.pes.delete(pid);
    if (!state) return;
    const assembled = state.buf.subarray(0, state.size);
    // Unless the caller copies what it keeps, the unit gets a copy of its own (exactly its size).
    const pes = this.reuseBuffers ? assembled : Buffer.from(assembled);
    // §2.4.3.6 PES header: start code 00 00 01, stream id, length, flags, header length.
    if (pes.length < 9 || pes[0] !== 0 || pes[1] !== 0 || pes[2] !== 1) {
      this.events.warning?.(`PID ${pid}: PES without a start code dropped`);
      return;
    }
    const flags = pes[7]!;
    const headerLength = pes[8]!;
    if (9 + headerLength > pes.length) {
      this.events.warning?.(`PID ${pid}: truncated PES header dropped`);
      return;
    }
    let pts: number | null = null;
    let dts: number | null = null;
    if (flags & 0x80 && headerLength >= 5) pts = readTimestamp(pes, 9);
    if ((flags & 0xc0) === 0xc0 && headerLength >= 10) dts = readTimestamp(pes, 14);
    const pesLength = pes.readUInt16BE(4);
    const end = pesLength > 0 ? Math.min(pes.length, 6 + pesLength) : pes.length;
    this.events.unit({
      pid,
      codec: state.codec,
      pts,
      dts: dts ?? pts,
      data: pes.subarray(9 + headerLength, end),
      randomAccess: state.randomAccess,
      discontinuity: state.discontinuity,
    });
  }

  /** A PSI section (PAT/PMT) in one packet, as every muxer livegate meets writes them. */
  private section(payload: Buffer, pusi: boolean): Buffer | null {
    if (!pusi || payload.length < 1) return null;
    const pointer = payload[0]!;
    const start = 1 + pointer;
    if (start + 3 > payload.length) return null;
    const length = ((payload[start + 1]! & 0x0f) << 8) | payload[start + 2]!;
    if (start + 3 + length > payload.length || length < 9) return null; // multi-packet sections: not supported
    return payload.subarray(start, start + 3 + length);
  }

  private pat(payload: Buffer, pusi: boolean): void {
    const s = this.section(payload, pusi);
    if (!s || s[0] !== 0x00) return;
    const end = s.length - 4; // CRC
    for (let i = 8; i + 4 <= end; i += 4) {
      const program = s.readUInt16BE(i);
      const pid = s.readUInt16BE(i + 2) & 0x1fff;
      if (program !== 0) {
        this.pmtPid = pid;
        return;
      }
    }
  }

  private pmt(payload: Buffer, pusi: boolean): void {
    const s = this.section(payload, pusi);
    if (!s || s[0] !== 0x02) return;
    const version = (s[5]! >> 1) & 0x1f;
    if (version === this.programVersion) return;
    this.programVersion = version;
    const infoLength = s.readUInt16BE(10) & 0x0fff;
    const end = s.length - 4;
    this.tracks.clear();
    for (let i = 12 + infoLength; i + 5 <= end; ) {
      const streamType = s[i]!;
      const pid = s.readUInt16BE(i + 1) & 0x1fff;
      const esInfo = s.readUInt16BE(i + 3) & 0x0fff;
      const descriptors = s.subarray(i + 5, Math.min(end, i + 5 + esInfo));
      this.tracks.set(pid, { pid, streamType, codec: codecOf(streamType, descriptors) });
      i += 5 + esInfo;
    }
    for (const pid of this.assembly.keys()) if (!this.tracks.has(pid)) this.assembly.delete(pid);
    this.events.tracks?.([...this.tracks.values()]);
  }
}
