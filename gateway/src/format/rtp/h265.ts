/**
 * H265 RTP payload format (RFC 7798) without DONL (sprop-max-don-diff 0, what cameras, ffmpeg and
 * GStreamer send): single NAL unit packets, aggregation packets (AP, type 48) and fragmentation
 * units (FU, type 49). The depacketizer returns access units in canonical form (4-byte length
 * prefixes), hostile input is counted and dropped, never thrown; the packetizer makes payloads once
 * per access unit. Pure.
 */
import { H265Nal, isIrap, nalType } from '../../codec/h265.js';

const AP = 48;
const FU = 49;
const PACI = 50;
/** RFC 7798 §4.4.2: type 39/40 are SEI; AUD (35) and filler data (38) are not kept. */
const NAL_FILLER = 38;

export interface H265AccessUnit {
  /** NAL units with 4-byte length prefixes; AUD and filler data removed. */
  data: Buffer;
  timestamp: number;
  /** Holds an IRAP picture (IDR, CRA, BLA). */
  keyframe: boolean;
  vps?: Buffer;
  sps?: Buffer;
  pps?: Buffer;
}

export interface H265DepacketizerStats {
  units: number;
  dropped: number;
  malformed: number;
  oversized: number;
}

const MAX_UNIT_BYTES = 8 * 1024 * 1024;
const MAX_NALS = 1024;

interface OpenUnit {
  timestamp: number;
  nals: Buffer[][];
  bytes: number;
  damaged: boolean;
  /** The fragments of the NAL unit being reassembled (its rebuilt 2-byte header first). */
  fu: Buffer[] | null;
}

export class H265Depacketizer {
  readonly stats: H265DepacketizerStats = { units: 0, dropped: 0, malformed: 0, oversized: 0 };
  private unit: OpenUnit | null = null;
  private keyframeNeeded = true;
  /** Parameter sets sent with their own timestamp, carried into the next picture. */
  private carried: Buffer[][] = [];

  get needsKeyframe(): boolean {
    return this.keyframeNeeded;
  }

  push(payload: Buffer, timestamp: number, marker: boolean, afterLoss: boolean): H265AccessUnit[] {
    const out: H265AccessUnit[] = [];
    if (payload.length === 0) return out;
    let unit = this.unit;
    if (unit && afterLoss) damage(unit);
    if (unit && unit.timestamp !== timestamp) {
      this.finish(unit, out);
      unit = null;
    }
    if (!unit) unit = this.unit = { timestamp, nals: [], bytes: 0, damaged: false, fu: null };
    if (afterLoss) {
      this.keyframeNeeded = true;
      // A fresh unit that starts with a whole NAL unit or an FU start lost nothing of its own.
      if (unit.nals.length > 0 || unit.fu || !startsNal(payload)) damage(unit);
    }
    if (!unit.damaged) this.add(unit, payload);
    if (marker) {
      this.finish(unit, out);
      this.unit = null;
    }
    return out;
  }

  reset(): void {
    this.unit = null;
    this.carried = [];
    this.keyframeNeeded = true;
  }

  private add(unit: OpenUnit, p: Buffer): void {
    if (p.length < 3) return this.malformed(unit);
    const type = nalType(p[0]!);
    if (type === FU) {
      const fuHeader = p[2]!;
      const start = (fuHeader & 0x80) !== 0;
      const end = (fuHeader & 0x40) !== 0;
      const inner = fuHeader & 0x3f;
      if (inner === AP || inner === FU || inner === PACI) return this.malformed(unit);
      if (start) {
        if (unit.fu) return this.malformed(unit);
        unit.fu = [Buffer.from([(p[0]! & 0x81) | (inner << 1), p[1]!]), p.subarray(3)];
        unit.bytes += 6;
      } else {
        if (!unit.fu) return this.malformed(unit);
        unit.fu.push(p.subarray(3));
      }
      unit.bytes += p.length - 3;
      if (unit.bytes > MAX_UNIT_BYTES) return this.oversize(unit);
      if (end) {
        const nal = unit.fu;
        unit.fu = null;
        this.addNal(unit, nal, false);
      }
      return;
    }
    if (unit.fu) return this.malformed(unit);
    if (type === AP) {
      let pos = 2;
      const nals: Buffer[] = [];
      while (pos < p.length) {
        if (pos + 2 > p.length) return this.malformed(unit);
        const size = p.readUInt16BE(pos);
        pos += 2;
        if (size < 2 || pos + size > p.length) return this.malformed(unit);
        nals.push(p.subarray(pos, pos + size));
        pos += size;
      }
      if (nals.length < 1) return this.malformed(unit);
      for (const n of nals) this.addNal(unit, [n], true);
      return;
    }
    if (type === PACI || type > PACI) return this.malformed(unit);
    this.addNal(unit, [p], true);
  }

  private addNal(unit: OpenUnit, parts: Buffer[], count: boolean): void {
    const t = nalType(parts[0]![0]!);
    if (t === H265Nal.Aud || t === NAL_FILLER) {
      if (!count) unit.bytes -= 4 + size(parts);
      return;
    }
    if (count) unit.bytes += 4 + size(parts);
    if (unit.bytes > MAX_UNIT_BYTES || unit.nals.length >= MAX_NALS) return this.oversize(unit);
    unit.nals.push(parts);
  }

  private malformed(unit: OpenUnit): void {
    this.stats.malformed++;
    damage(unit);
  }

  private oversize(unit: OpenUnit): void {
    this.stats.oversized++;
    damage(unit);
  }

  private finish(unit: OpenUnit, out: H265AccessUnit[]): void {
    if (unit.fu && !unit.damaged) {
      this.stats.malformed++;
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
      const t = nalType(n[0]![0]!);
      if (t < 32) vcl = true;
      if (isIrap(t)) keyframe = true;
    }
    if (!vcl) {
      const ps = unit.nals.filter((n) => {
        const t = nalType(n[0]![0]!);
        return t === H265Nal.Vps || t === H265Nal.Sps || t === H265Nal.Pps;
      });
      if (ps.length > 0) this.carried = this.carried.concat(ps).slice(-8);
      return;
    }
    if (this.keyframeNeeded && !keyframe) {
      this.stats.dropped++;
      this.carried = [];
      return;
    }
    const nals = this.carried.length > 0 ? this.carried.concat(unit.nals) : unit.nals;
    this.carried = [];
    this.keyframeNeeded = false;
    out.push(assemble(nals, unit.timestamp, keyframe));
    this.stats.units++;
  }
}

function size(parts: readonly Buffer[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/** A packet that begins a NAL unit (not an FU continuation). */
function startsNal(p: Buffer): boolean {
  if (p.length < 3) return false;
  return nalType(p[0]!) !== FU || (p[2]! & 0x80) !== 0;
}

function damage(unit: OpenUnit): void {
  unit.damaged = true;
  unit.nals = [];
  unit.fu = null;
}

function assemble(nals: readonly Buffer[][], timestamp: number, keyframe: boolean): H265AccessUnit {
  let total = 0;
  for (const n of nals) total += 4 + size(n);
  const data = Buffer.allocUnsafe(total);
  const unit: H265AccessUnit = { data, timestamp, keyframe };
  let pos = 0;
  for (const n of nals) {
    data.writeUInt32BE(size(n), pos);
    pos += 4;
    const start = pos;
    for (const part of n) pos += part.copy(data, pos);
    const t = nalType(data[start]!);
    if (t === H265Nal.Vps) unit.vps = data.subarray(start, pos);
    else if (t === H265Nal.Sps) unit.sps = data.subarray(start, pos);
    else if (t === H265Nal.Pps) unit.pps = data.subarray(start, pos);
  }
  return unit;
}

/** Payloads of one access unit (NAL units without prefixes): single NAL unit packets, or FUs. */
export function packetizeH265(nals: readonly Buffer[], maxPayload = 1200): { payload: Buffer; marker: boolean }[] {
  if (maxPayload < 16) throw new RangeError('maxPayload too small');
  const out: { payload: Buffer; marker: boolean }[] = [];
  for (const nal of nals) {
    if (nal.length < 3) continue;
    const t = nalType(nal[0]!);
    if (t === H265Nal.Aud) continue;
    if (nal.length <= maxPayload) {
      out.push({ payload: nal, marker: false });
      continue;
    }
    const h0 = (nal[0]! & 0x81) | (FU << 1);
    const h1 = nal[1]!;
    const chunk = maxPayload - 3;
    for (let pos = 2; pos < nal.length; pos += chunk) {
      const end = Math.min(nal.length, pos + chunk);
      const b = Buffer.allocUnsafe(3 + end - pos);
      b[0] = h0;
      b[1] = h1;
      b[2] = (pos === 2 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | t;
      nal.copy(b, 3, pos, end);
      out.push({ payload: b, marker: false });
    }
  }
  if (out.length > 0) out[out.length - 1]!.marker = true;
  return out;
}
