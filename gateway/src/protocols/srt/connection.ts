/**
 * One established SRT live connection (draft-sharabayko-srt-01 §4): both halves (receiver and
 * sender), the control traffic between them — full ACK every 10 ms and ACKACK for RTT, immediate
 * and periodic NAK, keepalive, shutdown, drop requests — payload encryption with even/odd keys and
 * in-band key refresh, and the peer idle timeout. No sockets: packets go out through `transmit`,
 * time comes in as µs, so it is tested with no network at all.
 */
import { randomBytes } from 'node:crypto';
import { describeError } from '../../core/errors.js';
import { cryptPayload, decodeKeyMaterial, encodeKeyMaterial, type KeyMaterial } from './crypto.js';
import {
  ControlType,
  HEADER_SIZE,
  UserSubtype,
  controlPacket,
  decodeAck,
  decodeDropRequest,
  decodeLossList,
  encodeAck,
  encodeDropRequest,
  encodeLossList,
  type Packet,
  type SeqRange,
} from './packet.js';
import { SrtReceiver } from './receiver.js';
import { SrtSender } from './sender.js';

export interface SrtCryptoOptions {
  passphrase: string;
  /** The key material agreed in the handshake (the caller's KMREQ). */
  km: KeyMaterial;
  /** Packets sent with one key before the sender switches to a fresh one (libsrt: 2^24). */
  refreshPackets: number;
  /** How many packets before (and after) the switch the new key is announced (libsrt: 2^16). */
  preAnnouncePackets: number;
}

export interface SrtConnectionOptions {
  localSocketId: number;
  peerSocketId: number;
  isn: number;
  /** TSBPD latency this side applies when receiving, µs. */
  recvLatencyUs: number;
  /** The peer's receive latency, µs (how long the sender keeps packets). */
  peerLatencyUs: number;
  peerFlowWindow: number;
  windowPackets: number;
  /** Local time (µs) of timestamp 0 of the packets this side sends. */
  startUs: number;
  /** Local arrival time (µs) and timestamp of the peer's handshake: the receiver's TSBPD base. */
  peerHandshakeAtUs: number;
  peerHandshakeTs: number;
  tooLateDrop: boolean;
  peerIdleTimeoutUs: number;
  crypto: SrtCryptoOptions | null;
  /** Sends one UDP datagram to the peer (a data packet is a header and a shared payload). */
  transmit(parts: Buffer | readonly Buffer[]): void;
  /** A payload in order, at its TSBPD time. */
  onData(payload: Buffer): void;
  /** The connection ended: `byPeer` when the peer said so (SHUTDOWN, error), else livegate decided. */
  onClose(reason: string, byPeer: boolean): void;
}

export interface SrtConnectionStats {
  rttMs: number;
  rttVarMs: number;
  /** Receive and send rates over the last second, bits per second. */
  receiveBitrate: number;
  sendBitrate: number;
  packetsReceived: number;
  bytesReceived: number;
  packetsLost: number;
  packetsRecovered: number;
  /** Given up: received side (too late, or at the sender's request) and sent side. */
  packetsDropped: number;
  packetsDroppedTooLate: number;
  packetsDroppedByRequest: number;
  packetsSent: number;
  bytesSent: number;
  packetsRetransmitted: number;
  packetsReportedLost: number;
  packetsUndecryptable: number;
  /** Key switches: done by this side's sender, and announced by the peer (in-band KMREQ). */
  keySwitches: number;
  peerKeyAnnouncements: number;
  /** Packets waiting in the send queue, and not yet acknowledged. */
  sendInFlight: number;
  receiveBuffered: number;
}

const ACK_INTERVAL_US = 10_000;
/**
 * Timers fire on libuv's whole-millisecond clock: ticks 10 ms apart can be 9.x ms apart on the µs
 * clock, and without this slack every other ACK would wait for the next tick.
 */
const ACK_SLACK_US = 1000;
const KEEPALIVE_US = 1_000_000;
const MIN_NAK_INTERVAL_US = 20_000;
const KM_RETRY_US = 1_000_000;
const TS_WRAP = 2 ** 32;
/** After a repeated handshake, data waits this long before it starts over. */
const REWIND_HOLD_US = 20_000;

export class SrtConnection {
  private readonly receiver: SrtReceiver;
  private readonly sender: SrtSender;
  private closed = false;
  private lastReceivedAt: number;
  private lastSentAt = 0;
  private lastAckAt = 0;
  private lastAckSeq = -1;
  private ackNo = 0;
  private readonly ackTimes = new Map<number, number>();
  private rttUs = 100_000;
  private rttVarUs = 50_000;
  private rttMeasured = false;
  private rateStart = 0;
  private rateBytesIn = 0;
  private rateBytesOut = 0;
  private ratePacketsIn = 0;
  private receiveBps = 0;
  private sendBps = 0;
  private receivePps = 0;
  private undecryptable = 0;
  private keySwitches = 0;
  private peerKeyAnnouncements = 0;
  /**
   * Keys, one set per direction (both start as the handshake's): what decrypts incoming packets
   * (the peer refreshes it in-band), and what this side encrypts with (refreshed here); `sendKey`
   * is the slot in use (1 even, 2 odd).
   */
  private recvKeys: KeyMaterial | null;
  private sendKeys: KeyMaterial | null;
  private sendKey: 1 | 2 = 1;
  private sentWithKey = 0;
  private pendingKm: { msg: Buffer; sentAt: number; tries: number } | null = null;
  private retiring = false;
  /** The time of the call being handled (µs): control packets sent meanwhile carry it. */
  private nowUs = 0;
  private lastSourceUs = 0;
  private heardFromPeer = false;

  constructor(private readonly o: SrtConnectionOptions) {
    this.lastReceivedAt = o.peerHandshakeAtUs;
    this.recvKeys = o.crypto?.km ?? null;
    this.sendKeys = o.crypto?.km ?? null;
    if (this.sendKeys && !this.sendKeys.even && this.sendKeys.odd) this.sendKey = 2;
    this.receiver = new SrtReceiver({
      isn: o.isn,
      latencyUs: o.recvLatencyUs,
      timeBaseUs: o.peerHandshakeAtUs - o.peerHandshakeTs,
      handshakeTs: o.peerHandshakeTs,
      windowPackets: o.windowPackets,
      tooLateDrop: o.tooLateDrop,
      deliver: (payload) => o.onData(payload),
    });
    this.sender = new SrtSender({
      isn: o.isn,
      destId: o.peerSocketId,
      peerLatencyUs: o.peerLatencyUs,
      flowWindow: o.peerFlowWindow,
      tooLateDrop: o.tooLateDrop,
      send: (header, payload) => this.out([header, payload]),
      dropRequest: (range, msgno) => this.control(ControlType.DropReq, 0, msgno, encodeDropRequest(range.first, range.last)),
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes queued for the peer and not yet sent (back-pressure for readers). */
  backlog(): number {
    return this.sender.queuedBytes;
  }

  /** The timestamp this side puts on a packet sent now (µs since start, 32-bit). */
  timestamp(nowUs: number): number {
    return Math.floor(nowUs - this.o.startUs) % TS_WRAP;
  }

  /**
   * Sends one payload (≤ 1456 bytes; 1316 = 7 TS packets). The Buffer is kept, not copied.
   * `sourceUs` (default: now) is when the payload is due: a burst (a cached GOP for a new reader) can
   * be spread out by giving later source times. Stamps never go backwards.
   */
  write(payload: Buffer, nowUs: number, sourceUs = nowUs): void {
    if (this.closed) return;
    this.nowUs = nowUs;
    const source = (this.lastSourceUs = Math.max(sourceUs, this.lastSourceUs));
    let key = 0;
    if (this.sendKeys) {
      // The slot in use always holds a key: this side alone changes its sending keys.
      const sek = (this.sendKey === 1 ? this.sendKeys.even : this.sendKeys.odd)!;
      payload = cryptPayload(sek, this.sendKeys.salt, this.sender.nextSequence, payload);
      key = this.sendKey;
      this.countKeyUse(nowUs);
    }
    this.sender.write(payload, this.timestamp(source), key, source);
    this.sender.poll(nowUs);
  }

  /**
   * The peer sent its handshake again although we answered it. A libsrt caller does that for every
   * data packet that reaches it before it has taken our answer in — and throws that packet away.
   * Until we have heard from it on the connection, start the data over once it has settled.
   */
  handshakeRepeated(nowUs: number): void {
    if (this.heardFromPeer) return;
    this.nowUs = nowUs;
    this.sender.rewind(nowUs, REWIND_HOLD_US);
  }

  /**
   * One data packet as its datagram (≥ 16 bytes, F bit clear; the server has matched its destination
   * socket id): `receive` without a Packet object, for the one kind of packet that comes by the thousand.
   */
  receiveData(datagram: Buffer, nowUs: number): void {
    if (this.closed) return;
    this.nowUs = nowUs;
    this.lastReceivedAt = nowUs;
    this.heardFromPeer = true;
    const w1 = datagram.readUInt32BE(4);
    try {
      // The fields parsePacket reads (§3.1): sequence number, KK, R, timestamp.
      this.data(datagram.readUInt32BE(0), datagram.readUInt32BE(8), ((w1 >>> 26) & 1) === 1, (w1 >>> 27) & 3, datagram.subarray(HEADER_SIZE), nowUs);
    } catch (err) {
      this.lastError = describeError(err); // as in `receive`
    }
  }

  /** One packet from the peer (the server has already matched its destination socket id). */
  receive(p: Packet, nowUs: number): void {
    if (this.closed) return;
    this.nowUs = nowUs;
    this.lastReceivedAt = nowUs;
    this.heardFromPeer = true;
    try {
      if (!p.control) return this.data(p.seq, p.timestamp, p.retransmitted, p.key, p.payload, nowUs);
      switch (p.type) {
        case ControlType.Ack: {
          const ack = decodeAck(p.cif);
          this.sender.onAck(ack.lastAcked);
          if (p.cif.length >= 16) {
            this.control(ControlType.AckAck, 0, p.info);
            if (ack.rttUs !== undefined && ack.rttUs > 0 && ack.rttUs < 10_000_000) {
              this.rttUs = ack.rttUs;
              this.rttVarUs = ack.rttVarUs ?? this.rttVarUs;
              this.sender.rttUs = ack.rttUs;
            }
          }
          this.sender.poll(nowUs);
          break;
        }
        case ControlType.Nak:
          this.sender.onNak(decodeLossList(p.cif), nowUs);
          this.sender.poll(nowUs);
          break;
        case ControlType.AckAck:
          this.onAckAck(p.info, nowUs);
          break;
        case ControlType.DropReq:
          this.receiver.onDropRequest(decodeDropRequest(p.cif));
          this.receiver.poll(nowUs);
          break;
        case ControlType.Shutdown:
          this.close('peer sent shutdown', false);
          break;
        case ControlType.PeerError:
          this.close(`peer error ${p.info}`, false);
          break;
        case ControlType.UserDefined:
          this.userDefined(p.subtype, p.cif);
          break;
        default:
          break; // keepalive, congestion warning, handshake repeats: activity only
      }
    } catch (err) {
      // A malformed control packet is that packet's problem only: the connection goes on.
      this.lastError = describeError(err);
    }
  }

  /** The last malformed control packet's description (for logs and tests). */
  lastError: string | null = null;

  /** Timers: ACK, NAK, delivery, pacing, keepalive, key refresh, idle timeout. Call every few ms. */
  tick(nowUs: number): void {
    if (this.closed) return;
    this.nowUs = nowUs;
    if (nowUs - this.lastReceivedAt > this.o.peerIdleTimeoutUs) {
      return this.close(`peer idle for ${Math.round(this.o.peerIdleTimeoutUs / 1000)} ms`, true);
    }
    this.receiver.poll(nowUs);
    if (nowUs - this.lastAckAt >= ACK_INTERVAL_US - ACK_SLACK_US) this.sendAck(nowUs);
    // §4.8.2: re-report losses every RTT + 4·RTTVar, but often enough for several tries within the latency.
    const nakInterval = Math.min(Math.max(MIN_NAK_INTERVAL_US, this.rttUs + 4 * this.rttVarUs), Math.max(MIN_NAK_INTERVAL_US, this.o.recvLatencyUs / 4));
    const lost = this.receiver.lossesToReport(nowUs, nakInterval);
    if (lost.length > 0) this.sendNak(lost);
    this.sender.poll(nowUs);
    if (this.pendingKm && nowUs - this.pendingKm.sentAt >= KM_RETRY_US) {
      if (++this.pendingKm.tries > 10) this.pendingKm = null;
      else {
        this.pendingKm.sentAt = nowUs;
        this.control(ControlType.UserDefined, UserSubtype.KmReq, 0, this.pendingKm.msg);
      }
    }
    if (nowUs - this.lastSentAt >= KEEPALIVE_US) this.control(ControlType.Keepalive, 0, 0, Buffer.alloc(4));
    this.updateRates(nowUs);
  }

  /** Ends the connection; sends SHUTDOWN unless the peer already did. Idempotent. */
  close(reason: string, notifyPeer = true): void {
    if (this.closed) return;
    if (notifyPeer) this.control(ControlType.Shutdown, 0, 0, Buffer.alloc(4));
    this.closed = true;
    this.o.onClose(reason, !notifyPeer);
  }

  stats(): SrtConnectionStats {
    const r = this.receiver.stats;
    const s = this.sender.stats;
    return {
      rttMs: this.rttUs / 1000,
      rttVarMs: this.rttVarUs / 1000,
      receiveBitrate: this.receiveBps * 8,
      sendBitrate: this.sendBps * 8,
      packetsReceived: r.received,
      bytesReceived: r.bytesReceived,
      packetsLost: r.lost,
      packetsRecovered: r.recovered,
      packetsDropped: r.dropped + s.dropped,
      packetsDroppedTooLate: r.droppedTooLate,
      packetsDroppedByRequest: r.droppedByRequest,
      packetsSent: s.sent,
      bytesSent: s.bytesSent,
      packetsRetransmitted: s.retransmitted,
      packetsReportedLost: s.lossReported,
      packetsUndecryptable: this.undecryptable,
      keySwitches: this.keySwitches,
      peerKeyAnnouncements: this.peerKeyAnnouncements,
      sendInFlight: this.sender.inFlight,
      receiveBuffered: this.receiver.buffered,
    };
  }

  private data(seq: number, ts: number, retransmitted: boolean, key: number, payload: Buffer, nowUs: number): void {
    if (this.recvKeys) {
      const sek = key === 1 ? this.recvKeys.even : key === 2 ? this.recvKeys.odd : null;
      if (!sek) {
        // Clear text on an encrypted connection, or a key we were never given: not accepted.
        this.undecryptable++;
        return;
      }
      payload = cryptPayload(sek, this.recvKeys.salt, seq, payload);
    } else if (key !== 0) {
      this.undecryptable++;
      return;
    }
    this.rateBytesIn += payload.length;
    this.ratePacketsIn++;
    const lost = this.receiver.onData(seq, ts, retransmitted, payload, nowUs);
    if (lost) this.sendNak(lost);
    this.receiver.poll(nowUs);
  }

  private sendAck(nowUs: number): void {
    const ackSeq = this.receiver.ackSeq;
    if (ackSeq === this.lastAckSeq && nowUs - this.lastAckAt < 100 * ACK_INTERVAL_US) return;
    this.lastAckAt = nowUs;
    this.lastAckSeq = ackSeq;
    this.ackNo = this.ackNo >= 0x7fffffff ? 1 : this.ackNo + 1;
    this.ackTimes.set(this.ackNo, nowUs);
    if (this.ackTimes.size > 256) this.ackTimes.delete(this.ackTimes.keys().next().value!);
    this.control(
      ControlType.Ack,
      0,
      this.ackNo,
      encodeAck({
        lastAcked: ackSeq,
        rttUs: Math.round(this.rttUs),
        rttVarUs: Math.round(this.rttVarUs),
        availableBuffer: Math.max(2, this.receiver.windowPackets - this.receiver.buffered),
        packetsPerSecond: Math.round(this.receivePps),
        capacityPps: Math.round(this.receivePps),
        bytesPerSecond: Math.round(this.receiveBps),
      }),
    );
  }

  private onAckAck(ackNo: number, nowUs: number): void {
    const sentAt = this.ackTimes.get(ackNo);
    if (sentAt === undefined) return;
    this.ackTimes.delete(ackNo);
    const sample = nowUs - sentAt;
    if (!this.rttMeasured) {
      // RFC 6298 §2.2: the first measurement replaces the initial guess.
      this.rttMeasured = true;
      this.rttUs = sample;
      this.rttVarUs = sample / 2;
      return;
    }
    // RFC 6298-style smoothing, as §4.10 prescribes.
    this.rttVarUs = (3 * this.rttVarUs + Math.abs(this.rttUs - sample)) / 4;
    this.rttUs = (7 * this.rttUs + sample) / 8;
  }

  private sendNak(ranges: SeqRange[]): void {
    this.control(ControlType.Nak, 0, 0, encodeLossList(ranges));
  }

  private userDefined(subtype: number, cif: Buffer): void {
    if (!this.o.crypto) return;
    if (subtype === UserSubtype.KmReq) {
      const r = decodeKeyMaterial(cif, this.o.crypto.passphrase);
      if (!r.ok) {
        this.lastError = `in-band KMREQ refused: ${r.message}`;
        return;
      }
      // The peer refreshes its keys: keep what it announces, answer with the same message.
      this.peerKeyAnnouncements++;
      this.recvKeys = { keyLength: r.km.keyLength, salt: r.km.salt, even: r.km.even, odd: r.km.odd };
      this.control(ControlType.UserDefined, UserSubtype.KmRsp, 0, cif);
    } else if (subtype === UserSubtype.KmRsp) {
      this.pendingKm = null;
    }
  }

  /** Sender-side key refresh: announce the next key, switch to it, then retire the old one. */
  private countKeyUse(nowUs: number): void {
    const c = this.o.crypto!;
    const keys = this.sendKeys!;
    this.sentWithKey++;
    if (this.sentWithKey === c.refreshPackets - c.preAnnouncePackets) {
      const fresh = randomBytes(keys.keyLength);
      this.sendKeys = this.sendKey === 1 ? { ...keys, odd: fresh } : { ...keys, even: fresh };
      this.announceKeys(nowUs);
    } else if (this.sentWithKey >= c.refreshPackets) {
      this.sendKey = this.sendKey === 1 ? 2 : 1;
      this.sentWithKey = 0;
      this.keySwitches++;
      this.retiring = true;
    } else if (this.retiring && this.sentWithKey === c.preAnnouncePackets) {
      this.retiring = false;
      this.sendKeys = this.sendKey === 1 ? { ...keys, odd: null } : { ...keys, even: null };
      this.announceKeys(nowUs);
    }
  }

  private announceKeys(nowUs: number): void {
    const msg = encodeKeyMaterial(this.sendKeys!, this.o.crypto!.passphrase);
    this.pendingKm = { msg, sentAt: nowUs, tries: 0 };
    this.control(ControlType.UserDefined, UserSubtype.KmReq, 0, msg);
  }

  private control(type: number, subtype: number, info: number, cif?: Buffer): void {
    this.out(controlPacket(type, subtype, info, this.timestamp(this.nowUs), this.o.peerSocketId, cif));
  }

  private out(parts: Buffer | readonly Buffer[]): void {
    this.lastSentAt = this.nowUs;
    this.o.transmit(parts);
  }

  private updateRates(nowUs: number): void {
    if (this.rateStart === 0) this.rateStart = nowUs;
    const elapsed = nowUs - this.rateStart;
    if (elapsed < 1_000_000) return;
    this.receiveBps = (this.rateBytesIn * 1e6) / elapsed;
    this.receivePps = (this.ratePacketsIn * 1e6) / elapsed;
    const sent = this.sender.stats.bytesSent;
    this.sendBps = ((sent - this.rateBytesOut) * 1e6) / elapsed;
    this.rateBytesOut = sent;
    this.rateBytesIn = 0;
    this.ratePacketsIn = 0;
    this.rateStart = nowUs;
  }
}

