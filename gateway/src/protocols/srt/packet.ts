/**
 * SRT packet codec (draft-sharabayko-srt-01 §3): the 16-byte header shared by data and control
 * packets, and the control information fields (CIF) livegate sends and reads. Pure: bytes in,
 * objects out, and back.
 */
import { ParseError } from '../../core/errors.js';

export const HEADER_SIZE = 16;
/** Largest UDP payload livegate accepts (MTU 1500 − IP − UDP); anything bigger is not SRT. */
export const MAX_PACKET_SIZE = 1500;
/** Live mode carries 7 TS packets per data packet (1316 bytes), as every SRT encoder does. */
export const LIVE_PAYLOAD_SIZE = 1316;

/** §3.2 Table 1: control types. */
export const ControlType = {
  Handshake: 0x0000,
  Keepalive: 0x0001,
  Ack: 0x0002,
  Nak: 0x0003,
  CongestionWarning: 0x0004,
  Shutdown: 0x0005,
  AckAck: 0x0006,
  DropReq: 0x0007,
  PeerError: 0x0008,
  UserDefined: 0x7fff,
} as const;

/** Subtypes of UserDefined used for in-band key refresh (§3.2.2, HaiCrypt). */
export const UserSubtype = { KmReq: 3, KmRsp: 4 } as const;

/** Sequence numbers are 31 bits (§3.1) and wrap. */
export const SEQ_MAX = 0x7fffffff;
export const MSGNO_MAX = 0x03ffffff;

export function seqNext(s: number, n = 1): number {
  return (s + n) & SEQ_MAX;
}
/** b − a in the circular 31-bit space: positive when b is after a. */
export function seqDiff(a: number, b: number): number {
  let d = (b - a) & SEQ_MAX;
  if (d > 0x3fffffff) d -= 0x80000000;
  return d;
}

export interface DataPacket {
  readonly control: false;
  seq: number;
  /** PP bits: 3 = a whole message in one packet (always, in live mode). */
  position: number;
  inOrder: boolean;
  /** KK: 0 clear, 1 even key, 2 odd key. */
  key: number;
  retransmitted: boolean;
  msgno: number;
  timestamp: number;
  destId: number;
  payload: Buffer;
}

export interface ControlPacket {
  readonly control: true;
  type: number;
  subtype: number;
  /** Type-specific information (ACK number, message number …). */
  info: number;
  timestamp: number;
  destId: number;
  cif: Buffer;
}

export type Packet = DataPacket | ControlPacket;

/** Parses one UDP datagram. Throws ParseError on anything that cannot be an SRT packet. */
export function parsePacket(b: Buffer): Packet {
  if (b.length < HEADER_SIZE) throw new ParseError(`SRT packet of ${b.length} bytes is shorter than its header`);
  if (b.length > MAX_PACKET_SIZE) throw new ParseError(`SRT packet of ${b.length} bytes is over ${MAX_PACKET_SIZE}`);
  const w0 = b.readUInt32BE(0);
  const w1 = b.readUInt32BE(4);
  const timestamp = b.readUInt32BE(8);
  const destId = b.readUInt32BE(12);
  if (w0 & 0x80000000) {
    return { control: true, type: (w0 >>> 16) & 0x7fff, subtype: w0 & 0xffff, info: w1, timestamp, destId, cif: b.subarray(HEADER_SIZE) };
  }
  return {
    control: false,
    seq: w0,
    position: w1 >>> 30,
    inOrder: ((w1 >>> 29) & 1) === 1,
    key: (w1 >>> 27) & 3,
    retransmitted: ((w1 >>> 26) & 1) === 1,
    msgno: w1 & MSGNO_MAX,
    timestamp,
    destId,
    payload: b.subarray(HEADER_SIZE),
  };
}

/** The 16-byte header of a data packet (the payload goes beside it, shared, in the same send). */
export function dataHeader(seq: number, msgno: number, key: number, retransmitted: boolean, timestamp: number, destId: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_SIZE);
  h.writeUInt32BE(seq & SEQ_MAX, 0);
  // PP=11 (solo message), O=0, KK, R, msgno (§3.1).
  h.writeUInt32BE(((3 << 30) | ((key & 3) << 27) | ((retransmitted ? 1 : 0) << 26) | (msgno & MSGNO_MAX)) >>> 0, 4);
  h.writeUInt32BE(timestamp >>> 0, 8);
  h.writeUInt32BE(destId >>> 0, 12);
  return h;
}

/** Sets the R flag of an already built data header (retransmission of the same bytes). */
export function markRetransmitted(header: Buffer): void {
  header[4] = header[4]! | 0x04;
}

export function controlPacket(type: number, subtype: number, info: number, timestamp: number, destId: number, cif?: Buffer): Buffer {
  const b = Buffer.allocUnsafe(HEADER_SIZE + (cif?.length ?? 0));
  b.writeUInt32BE((0x80000000 | ((type & 0x7fff) << 16) | (subtype & 0xffff)) >>> 0, 0);
  b.writeUInt32BE(info >>> 0, 4);
  b.writeUInt32BE(timestamp >>> 0, 8);
  b.writeUInt32BE(destId >>> 0, 12);
  cif?.copy(b, HEADER_SIZE);
  return b;
}

/** §3.2.4 full ACK. A light ACK carries only `lastAcked`. */
export interface AckInfo {
  /** The first sequence number not yet received (everything before it is acknowledged). */
  lastAcked: number;
  rttUs?: number;
  rttVarUs?: number;
  availableBuffer?: number;
  packetsPerSecond?: number;
  capacityPps?: number;
  bytesPerSecond?: number;
}

export function encodeAck(a: AckInfo): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt32BE(a.lastAcked & SEQ_MAX, 0);
  b.writeUInt32BE((a.rttUs ?? 100_000) >>> 0, 4);
  b.writeUInt32BE((a.rttVarUs ?? 50_000) >>> 0, 8);
  b.writeUInt32BE((a.availableBuffer ?? 8192) >>> 0, 12);
  b.writeUInt32BE((a.packetsPerSecond ?? 0) >>> 0, 16);
  b.writeUInt32BE((a.capacityPps ?? 0) >>> 0, 20);
  b.writeUInt32BE((a.bytesPerSecond ?? 0) >>> 0, 24);
  return b;
}

export function decodeAck(cif: Buffer): AckInfo {
  if (cif.length < 4) throw new ParseError(`ACK of ${cif.length} bytes`);
  const a: AckInfo = { lastAcked: cif.readUInt32BE(0) & SEQ_MAX };
  if (cif.length >= 16) {
    a.rttUs = cif.readUInt32BE(4);
    a.rttVarUs = cif.readUInt32BE(8);
    a.availableBuffer = cif.readUInt32BE(12);
  }
  if (cif.length >= 28) {
    a.packetsPerSecond = cif.readUInt32BE(16);
    a.capacityPps = cif.readUInt32BE(20);
    a.bytesPerSecond = cif.readUInt32BE(24);
  }
  return a;
}

/** A closed range of lost sequence numbers (first === last for one packet). */
export interface SeqRange {
  first: number;
  last: number;
}

/**
 * Appendix A loss list: a single number, or a range as (first | 0x80000000, last). At most
 * `maxBytes` of it are written; the rest waits for the next NAK.
 */
export function encodeLossList(ranges: readonly SeqRange[], maxBytes = MAX_PACKET_SIZE - 28 - HEADER_SIZE): Buffer {
  const words: number[] = [];
  for (const r of ranges) {
    const need = r.first === r.last ? 1 : 2;
    if ((words.length + need) * 4 > maxBytes) break;
    if (need === 1) words.push(r.first & SEQ_MAX);
    else words.push((r.first | 0x80000000) >>> 0, r.last & SEQ_MAX);
  }
  const b = Buffer.allocUnsafe(words.length * 4);
  words.forEach((w, i) => b.writeUInt32BE(w, i * 4));
  return b;
}

/** Decodes a loss list; a range is capped so a hostile NAK cannot name millions of packets. */
export function decodeLossList(cif: Buffer, maxRanges = 4096): SeqRange[] {
  const out: SeqRange[] = [];
  for (let i = 0; i + 4 <= cif.length && out.length < maxRanges; i += 4) {
    const w = cif.readUInt32BE(i);
    if (w & 0x80000000) {
      if (i + 8 > cif.length) throw new ParseError('loss list range without its end');
      const first = w & SEQ_MAX;
      const last = cif.readUInt32BE(i + 4) & SEQ_MAX;
      i += 4;
      if (seqDiff(first, last) < 0) throw new ParseError(`loss list range ${first}..${last} runs backwards`);
      out.push({ first, last });
    } else out.push({ first: w, last: w });
  }
  return out;
}

/** §3.2.9 Message Drop Request CIF: first and last sequence number of the dropped message. */
export function encodeDropRequest(first: number, last: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(first & SEQ_MAX, 0);
  b.writeUInt32BE(last & SEQ_MAX, 4);
  return b;
}

export function decodeDropRequest(cif: Buffer): SeqRange {
  if (cif.length < 8) throw new ParseError(`drop request of ${cif.length} bytes`);
  return { first: cif.readUInt32BE(0) & SEQ_MAX, last: cif.readUInt32BE(4) & SEQ_MAX };
}
