/**
 * AAC in RTP as `mpeg4-generic` in AAC-hbr mode (RFC 3640 §3.2, §3.3.6): what ffmpeg, GStreamer and
 * most cameras send. A payload is a 16-bit AU-headers-length (in bits), AU headers of 13-bit size +
 * 3-bit index(-delta), then the access units; an AU larger than one packet is fragmented over
 * packets with the same timestamp, the marker on its last. Pure; hostile input never throws: a
 * malformed packet is counted and dropped with any fragment in progress.
 */

/** The SDP `fmtp` parameters that AAC-hbr fixes (RFC 3640 §3.3.6). */
export const AAC_HBR_FMTP = 'streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3';
/** Largest AAC access unit accepted (13-bit sizes: 8191). */
const MAX_AU = 8191;
/** Most AUs in one packet. */
const MAX_AUS_PER_PACKET = 64;
/** One AU header: 13-bit size, 3-bit index. */
const HEADER_BITS = 16;

export interface AacAccessUnit {
  data: Buffer;
  /** RTP timestamp of this AU (the packet's, plus 1024 per AU before it: one AAC-LC frame each). */
  timestamp: number;
}

export class AacHbrDepacketizer {
  /** Packets dropped as malformed. */
  malformed = 0;
  private fragment: { parts: Buffer[]; size: number; expected: number; timestamp: number } | null = null;

  constructor(
    /** Samples per AU (1024 for AAC-LC; 2048 for HE-AAC as signalled at the core rate). */
    private readonly samplesPerUnit = 1024,
  ) {}

  /** One RTP payload in sequence order; `lost` when packets before it were lost (drops a fragment). */
  push(payload: Buffer, timestamp: number, marker: boolean, lost = false): AacAccessUnit[] {
    if (lost) this.fragment = null;
    if (payload.length < 2) return this.bad();
    const headerBits = payload.readUInt16BE(0);
    if (headerBits === 0 || headerBits % HEADER_BITS !== 0) return this.bad();
    const count = headerBits / HEADER_BITS;
    const dataStart = 2 + count * 2;
    if (count > MAX_AUS_PER_PACKET || dataStart > payload.length) return this.bad();
    const sizes: number[] = [];
    for (let i = 0; i < count; i++) sizes.push(payload.readUInt16BE(2 + i * 2) >>> 3);

    // A fragment: one AU header whose size is more than this packet carries (RFC 3640 §3.2.3.1).
    const carried = payload.length - dataStart;
    if (count === 1 && (sizes[0]! > carried || this.fragment)) {
      const size = sizes[0]!;
      if (size > MAX_AU) return this.bad();
      let f = this.fragment;
      if (f && (f.expected !== size || f.timestamp !== timestamp)) f = null;
      if (!f) f = this.fragment = { parts: [], size: 0, expected: size, timestamp };
      f.parts.push(payload.subarray(dataStart));
      f.size += carried;
      if (f.size > size) return this.bad();
      if (!marker && f.size < size) return [];
      this.fragment = null;
      if (f.size !== size) return this.bad();
      return [{ data: f.parts.length === 1 ? f.parts[0]! : Buffer.concat(f.parts), timestamp }];
    }

    const units: AacAccessUnit[] = [];
    let at = dataStart;
    for (let i = 0; i < count; i++) {
      const size = sizes[i]!;
      if (size === 0 || at + size > payload.length) return this.bad();
      units.push({ data: payload.subarray(at, at + size), timestamp: (timestamp + i * this.samplesPerUnit) >>> 0 });
      at += size;
    }
    return units;
  }

  private bad(): [] {
    this.malformed++;
    this.fragment = null;
    return [];
  }
}

/**
 * RTP payloads for one AAC AU: one packet when it fits in `maxPayload`, else fragments (each with the
 * AU's full size in its header; the caller sets the marker on the last).
 */
export function packetizeAacHbr(au: Buffer, maxPayload = 1200): Buffer[] {
  if (au.length > MAX_AU) throw new RangeError(`an AAC frame of ${au.length} bytes is over ${MAX_AU}`);
  const header = Buffer.from([0x00, HEADER_BITS, au.length >>> 5, (au.length & 0x1f) << 3]);
  const room = maxPayload - header.length;
  const out: Buffer[] = [];
  for (let at = 0; at < au.length || out.length === 0; at += room) out.push(Buffer.concat([header, au.subarray(at, at + room)]));
  return out;
}
