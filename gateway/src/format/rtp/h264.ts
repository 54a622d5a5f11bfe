/**
 * H264 RTP payload format (RFC 6184), packetization-mode 1: single NAL unit packets, STAP-A for
 * the parameter sets in front of a keyframe, FU-A for NAL units larger than the payload limit.
 * Pure: it makes payloads once per access unit; the RTP header (sequence number, SSRC, timestamp)
 * is added per viewer by whoever sends them.
 */
import { ParseError } from '../../core/errors.js';

export const DEFAULT_MAX_PAYLOAD = 1200;
const NAL_SPS = 7;
const NAL_PPS = 8;
const NAL_AUD = 9;
const NAL_IDR = 5;
const STAP_A = 24;
const FU_A = 28;

export interface RtpPayload {
  payload: Buffer;
  /** RTP marker bit: set on the last packet of an access unit (RFC 6184 §5.1). */
  marker: boolean;
}

export interface H264PacketizeOptions {
  maxPayload?: number;
  /** Parameter sets to send (as one STAP-A) before every IDR that does not carry its own. */
  sps?: Buffer;
  pps?: Buffer;
}

/** Packetizes one access unit given as NAL units (no start codes, no length prefixes). */
export function packetizeH264(nals: readonly Buffer[], options: H264PacketizeOptions = {}): RtpPayload[] {
  const max = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  if (max < 16) throw new RangeError('maxPayload too small');
  const units = nals.filter((n) => n.length > 0 && (n[0]! & 0x1f) !== NAL_AUD);
  const out: RtpPayload[] = [];
  const isIdr = units.some((n) => (n[0]! & 0x1f) === NAL_IDR);
  const hasSps = units.some((n) => (n[0]! & 0x1f) === NAL_SPS);
  let params: Buffer[] = [];
  if (isIdr && !hasSps && options.sps && options.pps) params = [options.sps, options.pps];
  else {
    // Parameter sets already in the access unit go together in one STAP-A as well.
    params = units.filter((n) => {
      const t = n[0]! & 0x1f;
      return t === NAL_SPS || t === NAL_PPS;
    });
  }
  const rest = units.filter((n) => {
    const t = n[0]! & 0x1f;
    return t !== NAL_SPS && t !== NAL_PPS;
  });
  if (params.length > 0) {
    const stapSize = 1 + params.reduce((s, n) => s + 2 + n.length, 0);
    if (stapSize <= max) out.push({ payload: stapA(params), marker: false });
    else for (const p of params) pushNal(out, p, max);
  }
  for (const nal of rest) pushNal(out, nal, max);
  if (out.length > 0) out[out.length - 1]!.marker = true;
  return out;
}

/** §5.7.1 STAP-A: one NAL header (F = OR, NRI = max), then 16-bit size + NAL unit for each. */
function stapA(nals: readonly Buffer[]): Buffer {
  let nri = 0;
  let f = 0;
  let size = 1;
  for (const n of nals) {
    nri = Math.max(nri, n[0]! & 0x60);
    f |= n[0]! & 0x80;
    size += 2 + n.length;
  }
  const b = Buffer.allocUnsafe(size);
  b[0] = f | nri | STAP_A;
  let pos = 1;
  for (const n of nals) {
    b.writeUInt16BE(n.length, pos);
    n.copy(b, pos + 2);
    pos += 2 + n.length;
  }
  return b;
}

/** A single NAL unit packet (§5.6), or FU-A fragments (§5.8) when it does not fit. */
function pushNal(out: RtpPayload[], nal: Buffer, max: number): void {
  if (nal.length <= max) {
    out.push({ payload: nal, marker: false });
    return;
  }
  const indicator = (nal[0]! & 0xe0) | FU_A;
  const type = nal[0]! & 0x1f;
  const chunk = max - 2;
  for (let pos = 1; pos < nal.length; pos += chunk) {
    const end = Math.min(nal.length, pos + chunk);
    const b = Buffer.allocUnsafe(2 + end - pos);
    b[0] = indicator;
    b[1] = (pos === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | type;
    nal.copy(b, 2, pos, end);
    out.push({ payload: b, marker: false });
  }
}

/**
 * Reassembles NAL units from the payloads of one access unit, in sequence order. Throws ParseError
 * on a broken FU-A run or a STAP-A whose sizes overrun the packet.
 */
export function depacketizeH264(payloads: readonly Buffer[], maxNalSize = 4 * 1024 * 1024): Buffer[] {
  const nals: Buffer[] = [];
  let fu: Buffer[] | null = null;
  let fuSize = 0;
  for (const p of payloads) {
    if (p.length < 1) throw new ParseError('empty H264 RTP payload');
    const type = p[0]! & 0x1f;
    if (type === FU_A) {
      if (p.length < 3) throw new ParseError('FU-A packet too short');
      const start = (p[1]! & 0x80) !== 0;
      const end = (p[1]! & 0x40) !== 0;
      if (start) {
        fu = [Buffer.from([(p[0]! & 0xe0) | (p[1]! & 0x1f)])];
        fuSize = 1;
      } else if (!fu) throw new ParseError('FU-A continuation without a start');
      fu.push(p.subarray(2));
      fuSize += p.length - 2;
      if (fuSize > maxNalSize) throw new ParseError('FU-A NAL unit too large');
      if (end) {
        nals.push(Buffer.concat(fu, fuSize));
        fu = null;
      }
    } else if (type === STAP_A) {
      let pos = 1;
      while (pos + 2 <= p.length) {
        const size = p.readUInt16BE(pos);
        pos += 2;
        if (size === 0 || pos + size > p.length) throw new ParseError('STAP-A NAL size overruns the packet');
        nals.push(p.subarray(pos, pos + size));
        pos += size;
      }
    } else if (type >= 1 && type <= 23) {
      nals.push(p);
    } else {
      throw new ParseError(`H264 RTP payload type ${type} is not supported (packetization-mode 1)`);
    }
  }
  if (fu) throw new ParseError('FU-A run without an end');
  return nals;
}
