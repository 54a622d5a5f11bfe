/**
 * The WHEP send path without werift's per-packet objects: once a viewer's DTLS is up with the
 * AES_CM_128_HMAC_SHA1_80 profile, each RTP packet is a header written into a small Buffer, the
 * stream's shared payload, SRTP by livegate's SrtpSender and one send on the shared media port.
 * werift keeps the rest: its sender reports (fed the counters it would have kept), NACK answers
 * (fed a light history entry, retransmitted as RTX by werift), RTCP in. Knows werift 0.25.2's
 * sender and DTLS transport fields; like werift-ice.ts, the only place that does.
 */
import { SrtpSender, SRTP_AES128_CM_HMAC_SHA1_80, SRTP_MAX_PACKET } from '../../../format/srtp.js';
import type { RTCPeerConnection, RTCRtpSender } from '../werift.js';
import { sendOnSelectedPath } from './werift-ice.js';

const MID_URI = 'urn:ietf:params:rtp-hdrext:sdes:mid';
/** werift's NACK history (RTP_HISTORY_SIZE in its rtpSender). */
const HISTORY = 128;

interface WeriftSender {
  ssrc: number;
  mid?: string;
  codec?: { payloadType: number };
  headerExtensions: { id: number; uri: string }[];
  rtpCache: unknown[];
  rtpTimestamp: number;
  octetCount: number;
  packetCount: number;
  runRtcp(): Promise<void>;
}

interface WeriftDtls {
  dtls?: { srtp: { srtpProfile?: number }; extractSessionKeys(keyLength: number, saltLength: number): { localKey: Buffer; localSalt: Buffer } };
  /** Every RTP packet werift itself sends (NACK answers, RTX) goes through here. */
  sendRtp(payload: Buffer, header: WeriftHeader): Promise<number>;
}

/** The fields of a header werift hands its transport (an RtpHeader, or a history entry's). */
interface WeriftHeader {
  payloadType: number;
  marker: boolean;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  csrc: number[];
  extensions: { id: number; payload: Buffer }[];
}

/**
 * `h` as an RTP header on the wire, with its extensions in the one-byte form (RFC 8285), or null when
 * they do not fit it (werift's own path serializes those).
 */
export function serializeRtpHeader(h: WeriftHeader): Buffer | null {
  if (h.csrc.length > 0) return null;
  let extBytes = 0;
  for (const e of h.extensions) {
    if (e.id < 1 || e.id > 14 || e.payload.length < 1 || e.payload.length > 16) return null;
    extBytes += 1 + e.payload.length;
  }
  const words = Math.ceil(extBytes / 4);
  const out = Buffer.alloc(12 + (h.extensions.length > 0 ? 4 + words * 4 : 0));
  out[0] = h.extensions.length > 0 ? 0x90 : 0x80;
  out[1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
  out.writeUInt16BE(h.sequenceNumber & 0xffff, 2);
  out.writeUInt32BE(h.timestamp >>> 0, 4);
  out.writeUInt32BE(h.ssrc >>> 0, 8);
  if (h.extensions.length > 0) {
    out.writeUInt16BE(0xbede, 12);
    out.writeUInt16BE(words, 14);
    let at = 16;
    for (const e of h.extensions) {
      out[at++] = (e.id << 4) | (e.payload.length - 1);
      e.payload.copy(out, at);
      at += e.payload.length;
    }
  }
  return out;
}

/** One sendonly track's RTP header, written in place for each packet. */
class TrackHeader {
  readonly buffer: Buffer;
  readonly extensions: { id: number; payload: Buffer }[];

  constructor(readonly ssrc: number, readonly payloadType: number, mid: { id: number; value: string } | null) {
    if (mid) {
      const value = Buffer.from(mid.value);
      const words = Math.ceil((1 + value.length) / 4);
      this.buffer = Buffer.alloc(12 + 4 + words * 4);
      this.buffer[0] = 0x90;
      this.buffer.writeUInt16BE(0xbede, 12);
      this.buffer.writeUInt16BE(words, 14);
      this.buffer[16] = (mid.id << 4) | (value.length - 1);
      value.copy(this.buffer, 17);
      this.extensions = [{ id: mid.id, payload: value }];
    } else {
      this.buffer = Buffer.alloc(12);
      this.buffer[0] = 0x80;
      this.extensions = [];
    }
    this.buffer.writeUInt32BE(ssrc >>> 0, 8);
  }

  write(seq: number, ts: number, marker: boolean): Buffer {
    const b = this.buffer;
    b[1] = (marker ? 0x80 : 0) | this.payloadType;
    b.writeUInt16BE(seq, 2);
    b.writeUInt32BE(ts >>> 0, 4);
    return b;
  }
}

/**
 * What werift's NACK answer reads from a history entry (see its rtpSender handleRtcpPacket and
 * wrapRtx): one small object per packet sent; the header werift looks at is made only when asked.
 */
class HistoryEntry {
  constructor(
    private readonly track: TrackHeader,
    private readonly seq: number,
    private readonly ts: number,
    private readonly marker: boolean,
    readonly payload: Buffer,
  ) {}

  get header(): object {
    const t = this.track;
    return { sequenceNumber: this.seq, timestamp: this.ts >>> 0, marker: this.marker, payloadType: t.payloadType, ssrc: t.ssrc, csrc: [], extensions: t.extensions, serializeSize: t.buffer.length };
  }
}

export class FastRtpSender {
  private readonly srtp: SrtpSender;
  private readonly tracks = new Map<RTCRtpSender, { header: TrackHeader; werift: WeriftSender }>();
  packetsSent = 0;
  /** Packets werift asked to send (retransmissions) that went through livegate's SRTP. */
  packetsResent = 0;

  private constructor(
    private readonly pc: RTCPeerConnection,
    keys: { localKey: Buffer; localSalt: Buffer },
  ) {
    this.srtp = new SrtpSender(keys.localKey, keys.localSalt);
  }

  /**
   * A fast sender for `pc`'s senders, or null when it cannot be one (DTLS not up, another SRTP profile,
   * no ICE path on the shared ports): werift's own path is used then.
   */
  static attach(pc: RTCPeerConnection, senders: RTCRtpSender[]): FastRtpSender | null {
    const transport = (pc as unknown as { dtlsTransports: WeriftDtls[] }).dtlsTransports[0];
    const dtls = transport?.dtls;
    if (!transport || !dtls || dtls.srtp.srtpProfile !== SRTP_AES128_CM_HMAC_SHA1_80) return null;
    const fast = new FastRtpSender(pc, dtls.extractSessionKeys(16, 14));
    // What werift still sends itself (NACK answers as RTX, or as the packet again) is protected by the
    // same SRTP context and sent the same way: no cipher object per retransmission either.
    const werift = transport.sendRtp.bind(transport);
    transport.sendRtp = (payload, header) => {
      const h = serializeRtpHeader(header);
      if (h && h.length + payload.length <= SRTP_MAX_PACKET) {
        const packet = fast.srtp.protect(h, payload);
        if (sendOnSelectedPath(pc, packet)) {
          fast.packetsResent++;
          return Promise.resolve(packet.length);
        }
      }
      return werift(payload, header);
    };
    for (const sender of senders) {
      const w = sender as unknown as WeriftSender;
      if (w.codec === undefined) continue;
      const midId = w.headerExtensions.find((e) => e.uri === MID_URI)?.id;
      fast.tracks.set(sender, { header: new TrackHeader(w.ssrc, w.codec.payloadType, midId !== undefined && w.mid ? { id: midId, value: w.mid } : null), werift: w });
    }
    return fast;
  }

  /** Sends one packet of `sender`'s track; false when this sender is not handled here (use werift's path). */
  send(sender: RTCRtpSender, seq: number, ts: number, marker: boolean, payload: Buffer): boolean {
    const t = this.tracks.get(sender);
    if (!t) return false;
    const packet = this.srtp.protect(t.header.write(seq, ts, marker), payload);
    if (!sendOnSelectedPath(this.pc, packet)) return false;
    this.packetsSent++;
    // What werift's sender would have recorded: its sender reports and NACK answers read these.
    const w = t.werift;
    w.rtpTimestamp = ts >>> 0;
    w.octetCount += payload.length;
    w.packetCount = (w.packetCount + 1) >>> 0;
    w.rtpCache[seq % HISTORY] = new HistoryEntry(t.header, seq, ts, marker, payload);
    if (w.packetCount === 1) void w.runRtcp();
    return true;
  }
}
