/**
 * The WHEP send path without werift's per-packet objects: once a viewer's DTLS is up with the
 * AES_CM_128_HMAC_SHA1_80 profile, each RTP packet is a header written into a small Buffer and the
 * stream's shared payload, protected and sent by the native addon (native-send.ts: batched
 * sendmmsg) or, without it, by livegate's SrtpSender with one send on the shared media port.
 * werift keeps the rest, fed what it would have recorded: its sender reports (the counters; their
 * SRTCP is livegate's), NACK answers (a history kept in typed arrays, retransmitted through the same
 * path), RTCP in (unprotected by livegate's SRTCP, parsed by werift). Knows werift 0.25.2's sender
 * and DTLS transport fields; like werift-ice.ts, the only place that does.
 */
import { SrtcpContext, SrtpSender, SRTP_AES128_CM_HMAC_SHA1_80, SRTP_MAX_PACKET } from '../../../format/srtp.js';
import { SrtpAuthenticationError, type RTCPeerConnection, type RTCRtpSender } from '../werift.js';
import { SelectedPath } from './werift-ice.js';
import { NativeSrtp } from './native-send.js';
import type { RtpFrame } from '../rtp-units.js';

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
  dtls?: { srtp: { srtpProfile?: number }; extractSessionKeys(keyLength: number, saltLength: number): SessionKeys };
  /** Every RTP packet werift itself sends (NACK answers, RTX) goes through here. */
  sendRtp(payload: Buffer, header: WeriftHeader): Promise<number>;
  /** Its RTCP (sender reports and SDES, every 0.5–1.5 s per sender) goes through here. */
  sendRtcp(packets: { serialize(): Buffer }[]): Promise<void>;
  /** The SRTCP session werift made when DTLS came up: `decrypt` for every RTCP packet the viewer sends. */
  srtcp?: { encrypt(rtcp: Buffer): Buffer; decrypt(srtcp: Buffer): Buffer };
  bytesSent: number;
  packetsSent: number;
}

interface SessionKeys {
  localKey: Buffer;
  localSalt: Buffer;
  remoteKey: Buffer;
  remoteSalt: Buffer;
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
 * wrapRtx); made only when werift asks for one.
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

/**
 * The last HISTORY packets of one track, for werift's NACK answers, kept without an object per packet:
 * numbers in typed arrays and the shared payloads in one array. werift reads it as its `rtpCache`
 * array (`rtpCache[seq % 128]`) through a Proxy that makes the entry asked for.
 */
class PacketHistory {
  private readonly seqs = new Int32Array(HISTORY).fill(-1);
  private readonly timestamps = new Uint32Array(HISTORY);
  private readonly markers = new Uint8Array(HISTORY);
  private readonly payloads: (Buffer | undefined)[] = new Array<Buffer | undefined>(HISTORY).fill(undefined);
  /** Packets werift recorded itself (its own send path, before or beside this one). */
  private readonly werift: (unknown | undefined)[] = new Array<unknown>(HISTORY).fill(undefined);
  /** What werift's sender gets as its `rtpCache`. */
  readonly view: unknown[];

  constructor(private readonly track: TrackHeader) {
    const slot = (key: string | symbol): number => {
      if (typeof key !== 'string') return -1;
      const i = Number(key);
      return Number.isInteger(i) && i >= 0 && i < HISTORY ? i : -1;
    };
    this.view = new Proxy<unknown[]>([], {
      get: (target, key) => {
        const i = slot(key);
        return i < 0 ? Reflect.get(target, key) : this.entry(i);
      },
      set: (target, key, value) => {
        const i = slot(key);
        if (i < 0) return Reflect.set(target, key, value);
        this.werift[i] = value;
        this.seqs[i] = -1;
        return true;
      },
    });
  }

  record(seq: number, ts: number, marker: boolean, payload: Buffer): void {
    const i = seq % HISTORY;
    this.seqs[i] = seq;
    this.timestamps[i] = ts;
    this.markers[i] = marker ? 1 : 0;
    this.payloads[i] = payload;
    this.werift[i] = undefined;
  }

  private entry(i: number): unknown {
    const seq = this.seqs[i]!;
    if (seq < 0) return this.werift[i];
    return new HistoryEntry(this.track, seq, this.timestamps[i]!, this.markers[i] === 1, this.payloads[i]!);
  }
}

export class FastRtpSender {
  private readonly srtp: SrtpSender;
  /** The addon's context when it is built (native-send.ts): SRTP and sendmmsg in C++. */
  private readonly native: NativeSrtp | null;
  /** The peer's socket address for the native path, made again when the nominated pair changes (null: not UDP). */
  private nativePath: { pair: object; address: Buffer | null } | null = null;
  private readonly tracks = new Map<RTCRtpSender, { header: TrackHeader; history: PacketHistory; werift: WeriftSender }>();
  packetsSent = 0;
  /** Packets werift asked to send (retransmissions) that went through livegate's SRTP. */
  packetsResent = 0;

  private constructor(
    private readonly path: SelectedPath,
    keys: SessionKeys,
  ) {
    this.srtp = new SrtpSender(keys.localKey, keys.localSalt);
    this.native = NativeSrtp.create(keys.localKey, keys.localSalt);
  }

  /** Whether packets go through the native addon (SRTP in C++, sendmmsg). */
  get nativeSend(): boolean {
    return this.native !== null;
  }

  /**
   * Protects and sends one RTP packet on the selected path: queued for the batch's sendmmsg when it
   * is UDP and the addon is there, else protected here and sent at once (ICE-TCP, or no addon). Both
   * use one SRTP context per viewer (the rollover counters must agree).
   */
  private protectAndSend(header: Buffer, payload: Buffer): boolean {
    const native = this.native;
    if (native) {
      const pair = this.path.pair();
      if (!pair) return false;
      const address = this.nativeAddress(native, pair);
      if (address) {
        const fd = this.path.fd(pair);
        return fd >= 0 && native.queue(fd, address, header, payload);
      }
      if (header.length + payload.length > SRTP_MAX_PACKET) return false;
      return this.path.send(native.protect(header, payload));
    }
    if (header.length + payload.length > SRTP_MAX_PACKET) return false;
    return this.path.send(this.srtp.protect(header, payload));
  }

  /** The peer's socket address on nominated pair `pair` for the native path, or null when it is not UDP. */
  private nativeAddress(native: NativeSrtp, pair: object): Buffer | null {
    let path = this.nativePath;
    if (path?.pair !== pair) {
      const udp = this.path.udp(pair);
      path = this.nativePath = { pair, address: udp ? native.address(udp.address, udp.port) : null };
    }
    return path.address;
  }

  /**
   * A fast sender for `pc`'s senders, or null when it cannot be one (DTLS not up, another SRTP profile,
   * no ICE path on the shared ports): werift's own path is used then.
   */
  static attach(pc: RTCPeerConnection, senders: RTCRtpSender[]): FastRtpSender | null {
    const transport = (pc as unknown as { dtlsTransports: WeriftDtls[] }).dtlsTransports[0];
    const dtls = transport?.dtls;
    const path = SelectedPath.of(pc);
    if (!transport || !dtls || !path || dtls.srtp.srtpProfile !== SRTP_AES128_CM_HMAC_SHA1_80) return null;
    const keys = dtls.extractSessionKeys(16, 14);
    const fast = new FastRtpSender(path, keys);
    FastRtpSender.takeRtcp(transport, path, keys);
    // What werift still sends itself (NACK answers as RTX, or as the packet again) is protected by the
    // same SRTP context and sent the same way: no cipher object per retransmission either.
    const werift = transport.sendRtp.bind(transport);
    transport.sendRtp = (payload, header) => {
      const h = serializeRtpHeader(header);
      if (h && fast.protectAndSend(h, payload)) {
        fast.packetsResent++;
        return Promise.resolve(h.length + payload.length + 10);
      }
      return werift(payload, header);
    };
    for (const sender of senders) {
      const w = sender as unknown as WeriftSender;
      if (w.codec === undefined) continue;
      const midId = w.headerExtensions.find((e) => e.uri === MID_URI)?.id;
      const header = new TrackHeader(w.ssrc, w.codec.payloadType, midId !== undefined && w.mid ? { id: midId, value: w.mid } : null);
      const history = new PacketHistory(header);
      w.rtpCache = history.view;
      fast.tracks.set(sender, { header, history, werift: w });
    }
    return fast;
  }

  /**
   * RTCP both ways through livegate's SRTCP (format/srtp.ts), not a cipher and an HMAC object per
   * packet: the sender reports werift writes are protected and sent on the selected path, and the
   * viewer's receiver reports, NACKs and PLIs unprotected before werift parses them. A packet that
   * does not unprotect is dropped as werift drops it (SrtpAuthenticationError); one livegate cannot
   * protect (over 1,500 bytes) goes through werift's own SRTCP.
   */
  private static takeRtcp(transport: WeriftDtls, path: SelectedPath, keys: SessionKeys): void {
    const srtcp = transport.srtcp;
    if (!srtcp) return;
    const outbound = new SrtcpContext(keys.localKey, keys.localSalt);
    const inbound = new SrtcpContext(keys.remoteKey, keys.remoteSalt);
    const werift = srtcp.encrypt.bind(srtcp);
    srtcp.encrypt = (rtcp) => (rtcp.length >= 8 && rtcp.length <= SRTP_MAX_PACKET ? outbound.protect(rtcp) : werift(rtcp));
    srtcp.decrypt = (packet) => {
      try {
        return inbound.unprotect(packet);
      } catch (err) {
        throw new SrtpAuthenticationError((err as Error).message);
      }
    };
    transport.sendRtcp = (packets) => {
      const packet = srtcp.encrypt(packets.length === 1 ? packets[0]!.serialize() : Buffer.concat(packets.map((p) => p.serialize())));
      transport.bytesSent += packet.length;
      transport.packetsSent++;
      path.send(packet);
      return Promise.resolve();
    };
  }

  /** Sends one packet of `sender`'s track; false when this sender is not handled here (use werift's path). */
  send(sender: RTCRtpSender, seq: number, ts: number, marker: boolean, payload: Buffer): boolean {
    const t = this.tracks.get(sender);
    if (!t) return false;
    if (!this.protectAndSend(t.header.write(seq, ts, marker), payload)) return false;
    t.history.record(seq, ts, marker, payload);
    this.counted(t.werift, ts, payload.length, 1);
    return true;
  }

  /**
   * Sends a whole frame of `sender`'s track, numbered from `seq` on, in one call to the native addon;
   * answers how many of its packets went (0 without the addon, or on ICE-TCP: send them one by one).
   */
  sendFrame(sender: RTCRtpSender, seq: number, ts: number, frame: RtpFrame): number {
    const t = this.tracks.get(sender);
    const native = this.native;
    const pair = this.path.pair();
    if (!t || !native || !pair) return 0;
    const address = this.nativeAddress(native, pair);
    const fd = address ? this.path.fd(pair) : -1;
    if (fd < 0) return 0;
    const payloads = frame.payloads;
    const n = native.queueFrame(fd, address!, t.header.write(seq, ts, false), payloads, frame.marker);
    let bytes = n === payloads.length ? frame.bytes : 0;
    for (let i = 0; i < n; i++) {
      t.history.record((seq + i) & 0xffff, ts, frame.marker && i === payloads.length - 1, payloads[i]!);
      if (n < payloads.length) bytes += payloads[i]!.length;
    }
    if (n > 0) this.counted(t.werift, ts, bytes, n);
    return n;
  }

  /** What werift's sender would have recorded: its sender reports read these. */
  private counted(w: WeriftSender, ts: number, bytes: number, packets: number): void {
    this.packetsSent += packets;
    w.rtpTimestamp = ts >>> 0;
    w.octetCount += bytes;
    const first = w.packetCount === 0;
    w.packetCount = (w.packetCount + packets) >>> 0;
    if (first) void w.runRtcp();
  }
}
