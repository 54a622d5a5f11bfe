/**
 * RTCP (RFC 3550 §6.4) as RTSP peers exchange it: sender reports (A/V sync: NTP ↔ RTP timestamp)
 * and receiver reports (loss and jitter seen by a player). Compound packets are walked with their
 * lengths checked; anything else (SDES, BYE, APP, feedback) is skipped. Pure.
 */

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_BYE = 203;

export interface SenderReport {
  type: 'sr';
  ssrc: number;
  /** 64-bit NTP timestamp (seconds since 1900 in the high 32 bits). */
  ntp: bigint;
  rtpTimestamp: number;
  packets: number;
  octets: number;
}

export interface ReportBlock {
  ssrc: number;
  fractionLost: number;
  /** Cumulative packets lost (24-bit signed). */
  lost: number;
  highestSequence: number;
  /** Interarrival jitter in RTP timestamp units. */
  jitter: number;
}

export interface ReceiverReport {
  type: 'rr';
  ssrc: number;
  blocks: ReportBlock[];
}

export interface ByePacket {
  type: 'bye';
  ssrcs: number[];
}

export type RtcpPacket = SenderReport | ReceiverReport | ByePacket;

/** Most packets read out of one compound packet. */
const MAX_PACKETS = 16;

function blocks(buf: Buffer, at: number, count: number, end: number): ReportBlock[] {
  const out: ReportBlock[] = [];
  for (let i = 0; i < count && at + 24 <= end; i++, at += 24) {
    out.push({
      ssrc: buf.readUInt32BE(at),
      fractionLost: buf[at + 4]!,
      lost: (buf.readIntBE(at + 5, 3)),
      highestSequence: buf.readUInt32BE(at + 8),
      jitter: buf.readUInt32BE(at + 12),
    });
  }
  return out;
}

/** The SR, RR and BYE packets of a compound RTCP packet; stops at the first malformed length. */
export function parseRtcp(buf: Buffer): RtcpPacket[] {
  const out: RtcpPacket[] = [];
  let pos = 0;
  while (pos + 4 <= buf.length && out.length < MAX_PACKETS) {
    const b0 = buf[pos]!;
    if (b0 >> 6 !== 2) break;
    const count = b0 & 0x1f;
    const type = buf[pos + 1]!;
    const end = pos + (buf.readUInt16BE(pos + 2) + 1) * 4;
    if (end > buf.length) break;
    if (type === RTCP_SR && end - pos >= 28) {
      out.push({
        type: 'sr',
        ssrc: buf.readUInt32BE(pos + 4),
        ntp: buf.readBigUInt64BE(pos + 8),
        rtpTimestamp: buf.readUInt32BE(pos + 16),
        packets: buf.readUInt32BE(pos + 20),
        octets: buf.readUInt32BE(pos + 24),
      });
    } else if (type === RTCP_RR && end - pos >= 8) {
      out.push({ type: 'rr', ssrc: buf.readUInt32BE(pos + 4), blocks: blocks(buf, pos + 8, count, end) });
    } else if (type === RTCP_BYE) {
      const ssrcs: number[] = [];
      for (let i = 0, at = pos + 4; i < count && at + 4 <= end; i++, at += 4) ssrcs.push(buf.readUInt32BE(at));
      out.push({ type: 'bye', ssrcs });
    }
    pos = end;
  }
  return out;
}

/** NTP time of a wall-clock instant (ms since the Unix epoch). */
export function ntpOf(unixMs: number): bigint {
  const seconds = Math.floor(unixMs / 1000);
  const fraction = Math.floor(((unixMs - seconds * 1000) / 1000) * 2 ** 32);
  return (BigInt(seconds + 2_208_988_800) << 32n) | BigInt(fraction >>> 0);
}

/** A sender report with no report blocks (28 bytes). */
export function buildSenderReport(sr: Omit<SenderReport, 'type'>): Buffer {
  const b = Buffer.allocUnsafe(28);
  b[0] = 0x80;
  b[1] = RTCP_SR;
  b.writeUInt16BE(6, 2);
  b.writeUInt32BE(sr.ssrc >>> 0, 4);
  b.writeBigUInt64BE(BigInt.asUintN(64, sr.ntp), 8);
  b.writeUInt32BE(sr.rtpTimestamp >>> 0, 16);
  b.writeUInt32BE(sr.packets >>> 0, 20);
  b.writeUInt32BE(sr.octets >>> 0, 24);
  return b;
}

/** A receiver report with one block per source (8 + 24 × n bytes). */
export function buildReceiverReport(ssrc: number, reports: readonly ReportBlock[]): Buffer {
  const n = Math.min(reports.length, 31);
  const b = Buffer.alloc(8 + 24 * n);
  b[0] = 0x80 | n;
  b[1] = RTCP_RR;
  b.writeUInt16BE(1 + 6 * n, 2);
  b.writeUInt32BE(ssrc >>> 0, 4);
  for (let i = 0; i < n; i++) {
    const r = reports[i]!;
    const at = 8 + 24 * i;
    b.writeUInt32BE(r.ssrc >>> 0, at);
    b[at + 4] = r.fractionLost & 0xff;
    b.writeIntBE(Math.max(-0x800000, Math.min(0x7fffff, r.lost)), at + 5, 3);
    b.writeUInt32BE(r.highestSequence >>> 0, at + 8);
    b.writeUInt32BE(r.jitter >>> 0, at + 12);
    // LSR and DLSR stay 0: no round-trip estimate is asked of the publisher.
  }
  return b;
}
