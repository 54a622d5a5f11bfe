/**
 * H264 RTP depacketizer (RFC 6184), packetization-mode 1: single NAL unit packets (§5.6), STAP-A
 * (§5.7.1) and FU-A (§5.8). Takes payloads in sequence order, as a jitter buffer releases them,
 * and gives back whole access units in livegate's canonical form (4-byte NAL lengths).
 *
 * Hostile input never throws: a malformed packet is counted, the access unit it belongs to is
 * dropped, and the stream waits for the next keyframe (the caller sends a PLI meanwhile).
 */

const NAL_SLICE = 1;
const NAL_IDR = 5;
const NAL_SEI = 6;
const NAL_SPS = 7;
const NAL_PPS = 8;
const NAL_AUD = 9;
const NAL_FILLER = 12;
const STAP_A = 24;
const FU_A = 28;

export const DEFAULT_MAX_UNIT_BYTES = 8 * 1024 * 1024;
const DEFAULT_MAX_NAL_UNITS = 1024;
const DEFAULT_MAX_PACKETS = 16_384;

export interface H264AccessUnit {
  /** NAL units, each with a 4-byte big-endian length prefix; AUD (9) and filler (12) NAL units removed. */
  data: Buffer;
  /** RTP timestamp (90 kHz) of the unit's packets. */
  timestamp: number;
  /** Holds an IDR slice. */
  keyframe: boolean;
  /** The last SPS inside this unit, if any (a view into `data`). */
  sps?: Buffer;
  /** The last PPS inside this unit, if any (a view into `data`). */
  pps?: Buffer;
}

export interface H264DepacketizerOptions {
  /** Largest access unit (with its length prefixes); a larger one is dropped. Default 8 MiB. */
  maxUnitBytes?: number;
  /** Most NAL units in one access unit. Default 1024. */
  maxNalUnits?: number;
  /** Most RTP packets in one access unit (bounds the bookkeeping of tiny packets). Default 16384. */
  maxPackets?: number;
}

export interface H264DepacketizerStats {
  /** Access units returned. */
  units: number;
  /** Access units dropped: damaged by loss, malformed, oversized, or waiting for a keyframe. */
  dropped: number;
  /** Packets that break RFC 6184 packetization-mode 1 (or a broken FU-A run). */
  malformed: number;
  /** Access units over maxUnitBytes / maxNalUnits / maxPackets (also counted in dropped). */
  oversized: number;
}

/** One NAL unit of the open access unit: a view into a payload, or FU-A fragments after a rebuilt header. */
interface Nal {
  type: number;
  parts: Buffer[];
  size: number;
}

interface OpenUnit {
  timestamp: number;
  nals: Nal[];
  /** Bytes of the unit in canonical form (prefixes included). */
  bytes: number;
  packets: number;
  /** Part of the unit is missing or unusable: it will be dropped when it ends. */
  damaged: boolean;
  /** The FU-A in progress, if any. */
  fu: Nal | null;
}

export class H264Depacketizer {
  readonly stats: H264DepacketizerStats = { units: 0, dropped: 0, malformed: 0, oversized: 0 };
  private readonly maxUnitBytes: number;
  private readonly maxNalUnits: number;
  private readonly maxPackets: number;
  private unit: OpenUnit | null = null;
  private keyframeNeeded = true;
  /** A loss reported on an empty (padding) packet applies to the next packet with media. */
  private lossPending = false;
  /** Parameter sets sent on their own (no slice, own timestamp), carried into the next unit. */
  private carried: Nal[] = [];

  constructor(options: H264DepacketizerOptions = {}) {
    this.maxUnitBytes = options.maxUnitBytes ?? DEFAULT_MAX_UNIT_BYTES;
    this.maxNalUnits = options.maxNalUnits ?? DEFAULT_MAX_NAL_UNITS;
    this.maxPackets = options.maxPackets ?? DEFAULT_MAX_PACKETS;
  }

  /** True from a loss that damaged the picture until the next keyframe: the caller asks for one (PLI). */
  get needsKeyframe(): boolean {
    return this.keyframeNeeded;
  }

  /**
   * Packets in sequence order. Returns the access units this packet completes (marker bit set, or
   * the timestamp changed while a unit was open). Payloads are referenced, not copied, until the
   * unit completes: the caller must not reuse their memory.
   */
  push(payload: Buffer, timestamp: number, marker: boolean, afterLoss: boolean): H264AccessUnit[] {
    const out: H264AccessUnit[] = [];
    if (payload.length === 0) {
      // Padding (RFC 3550 §5.1): it carries no media, but a loss before it is a loss before the next packet.
      if (afterLoss) this.lossPending = true;
      return out;
    }
    const loss = afterLoss || this.lossPending;
    this.lossPending = false;
    let unit = this.unit;
    // A loss may have taken the open unit's tail: it cannot be trusted.
    if (unit && loss) damage(unit);
    if (unit && unit.timestamp !== timestamp) {
      this.finish(unit, out);
      unit = null;
    }
    let fresh = false;
    if (!unit) {
      unit = { timestamp, nals: [], bytes: 0, packets: 0, damaged: false, fu: null };
      this.unit = unit;
      fresh = true;
    }
    if (loss) {
      // Whatever was lost, pictures that follow may refer to it: only a keyframe goes out next.
      this.keyframeNeeded = true;
      // The lost packets may have been this unit's first ones, unless it starts as an access unit
      // starts: then they were the previous unit's, and a keyframe right after a loss is kept (it is
      // often the very keyframe that was asked for).
      if (!fresh || !startsAccessUnit(payload)) damage(unit);
    }
    if (!unit.damaged) this.add(unit, payload);
    if (marker) {
      this.finish(unit, out);
      this.unit = null;
    }
    return out;
  }

  /** Drops the open unit (SSRC change, sender restart); the next keyframe starts over. */
  reset(): void {
    if (this.unit) this.stats.dropped++;
    this.unit = null;
    this.carried = [];
    this.lossPending = false;
    this.keyframeNeeded = true;
  }

  private add(unit: OpenUnit, p: Buffer): void {
    if (++unit.packets > this.maxPackets) return this.oversize(unit);
    const type = p[0]! & 0x1f;
    if (type === FU_A) return this.addFragment(unit, p);
    // §5.8: the fragments of one NAL unit are consecutive; anything between them means a broken run.
    if (unit.fu) return this.malformed(unit);
    if (type >= 1 && type <= 23) {
      this.addNal(unit, { type, parts: [p], size: p.length });
    } else if (type === STAP_A) {
      // §5.7.1: 16-bit size + NAL unit, repeated; padding after the last one is not allowed.
      let pos = 1;
      const nals: Nal[] = [];
      while (pos < p.length) {
        if (pos + 2 > p.length) return this.malformed(unit);
        const size = p.readUInt16BE(pos);
        pos += 2;
        if (size === 0 || pos + size > p.length) return this.malformed(unit);
        const t = p[pos]! & 0x1f;
        if (t === 0 || t >= STAP_A) return this.malformed(unit);
        nals.push({ type: t, parts: [p.subarray(pos, pos + size)], size });
        pos += size;
      }
      if (nals.length === 0) return this.malformed(unit);
      for (const n of nals) this.addNal(unit, n);
    } else {
      // 0 and 30/31 are undefined; 25–27 (STAP-B, MTAP16/24) and 29 (FU-B) are not allowed in mode 1 (§6.3).
      this.malformed(unit);
    }
  }

  /** §5.8 FU-A: indicator (F, NRI, 28), header (S, E, R, type), fragment. */
  private addFragment(unit: OpenUnit, p: Buffer): void {
    if (p.length < 3) return this.malformed(unit);
    const start = (p[1]! & 0x80) !== 0;
    const end = (p[1]! & 0x40) !== 0;
    const type = p[1]! & 0x1f;
    if (type === 0 || type >= STAP_A) return this.malformed(unit);
    if (start) {
      if (unit.fu) return this.malformed(unit); // the previous FU-A never ended
      // The NAL header is not sent: F and NRI come from the indicator, the type from the FU header.
      unit.fu = { type, parts: [Buffer.from([(p[0]! & 0xe0) | type]), p.subarray(2)], size: 1 + p.length - 2 };
      unit.bytes += 4 + unit.fu.size;
    } else {
      if (!unit.fu || unit.fu.type !== type) return this.malformed(unit); // FU-A without its start
      unit.fu.parts.push(p.subarray(2));
      unit.fu.size += p.length - 2;
      unit.bytes += p.length - 2;
    }
    if (unit.bytes > this.maxUnitBytes) return this.oversize(unit);
    if (end) {
      const nal = unit.fu;
      unit.fu = null;
      unit.bytes -= 4 + nal.size; // addNal counts it again
      this.addNal(unit, nal);
    }
  }

  private addNal(unit: OpenUnit, nal: Nal): void {
    if (nal.type === NAL_AUD || nal.type === NAL_FILLER) return;
    unit.bytes += 4 + nal.size;
    if (unit.bytes > this.maxUnitBytes || unit.nals.length >= this.maxNalUnits) return this.oversize(unit);
    unit.nals.push(nal);
  }

  private malformed(unit: OpenUnit): void {
    this.stats.malformed++;
    damage(unit);
  }

  private oversize(unit: OpenUnit): void {
    this.stats.oversized++;
    damage(unit);
  }

  private finish(unit: OpenUnit, out: H264AccessUnit[]): void {
    if (unit.fu && !unit.damaged) {
      this.stats.malformed++; // FU-A without its end
      unit.damaged = true;
    }
    if (unit.damaged) {
      this.stats.dropped++;
      this.keyframeNeeded = true;
      this.carried = [];
      return;
    }
    let keyframe = false;
    let vcl = false;
    for (const n of unit.nals) {
      if (n.type === NAL_IDR) keyframe = true;
      if (n.type >= 1 && n.type <= 5) vcl = true;
    }
    if (!vcl) {
      // No picture (e.g. SPS/PPS with a marker of their own): keep the parameter sets for the next unit.
      const ps = unit.nals.filter((n) => n.type === NAL_SPS || n.type === NAL_PPS);
      if (ps.length > 0) this.carried = this.carried.concat(ps).slice(-8);
      return;
    }
    if (this.keyframeNeeded && !keyframe) {
      this.stats.dropped++;
      this.carried = [];
      return;
    }
    let nals = unit.nals;
    if (this.carried.length > 0) {
      const extra = this.carried.reduce((sum, n) => sum + 4 + n.size, 0);
      if (unit.bytes + extra <= this.maxUnitBytes && nals.length + this.carried.length <= this.maxNalUnits) {
        nals = this.carried.concat(nals);
      }
      this.carried = [];
    }
    this.keyframeNeeded = false;
    out.push(assemble(nals, unit.timestamp, keyframe));
    this.stats.units++;
  }
}

/** The unit will be dropped: let go of what was gathered (the rest of it is skipped anyway). */
/**
 * Whether a packet is the first of an access unit: parameter sets, SEI or an AUD, or the start of
 * the picture's first slice (first_mb_in_slice = 0, an Exp-Golomb "1" bit right after the NAL header).
 */
export function startsAccessUnit(p: Buffer): boolean {
  const startsWith = (type: number, next: number | undefined): boolean => {
    if (type === NAL_SPS || type === NAL_PPS || type === NAL_AUD || type === NAL_SEI) return true;
    return (type === NAL_IDR || type === NAL_SLICE) && next !== undefined && (next & 0x80) !== 0;
  };
  const type = p[0]! & 0x1f;
  if (type >= 1 && type <= 23) return startsWith(type, p[1]);
  if (type === STAP_A) return p.length > 4 && startsWith(p[3]! & 0x1f, p[4]);
  if (type === FU_A) return p.length > 2 && (p[1]! & 0x80) !== 0 && startsWith(p[1]! & 0x1f, p[2]);
  return false;
}

function damage(unit: OpenUnit): void {
  unit.damaged = true;
  unit.nals = [];
  unit.fu = null;
}

/** One copy: every NAL unit (single, STAP-A part or FU-A fragments) goes straight into the output. */
function assemble(nals: readonly Nal[], timestamp: number, keyframe: boolean): H264AccessUnit {
  let size = 0;
  for (const n of nals) size += 4 + n.size;
  const data = Buffer.allocUnsafe(size);
  let pos = 0;
  let sps: Buffer | undefined;
  let pps: Buffer | undefined;
  for (const n of nals) {
    data.writeUInt32BE(n.size, pos);
    pos += 4;
    const start = pos;
    for (const part of n.parts) pos += part.copy(data, pos);
    if (n.type === NAL_SPS) sps = data.subarray(start, pos);
    else if (n.type === NAL_PPS) pps = data.subarray(start, pos);
  }
  const unit: H264AccessUnit = { data, timestamp, keyframe };
  if (sps) unit.sps = sps;
  if (pps) unit.pps = pps;
  return unit;
}
