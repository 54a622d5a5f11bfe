/**
 * The sending half of an SRT live connection (draft-sharabayko-srt-01 §4.8, §5.1): sequence and
 * message numbers, source-time stamps, the send buffer kept for retransmission until acknowledged,
 * NAK-driven retransmission (first, before new data), too-late drop with Message Drop Requests, and
 * LiveCC pacing to the input rate plus overhead. Pure: time comes in (µs), packets go out through
 * `send`; payload Buffers are kept by reference, never copied.
 */
import { dataHeader, seqDiff, seqNext, MSGNO_MAX, type SeqRange } from './packet.js';

export interface SenderOptions {
  isn: number;
  /** The peer's TSBPD latency, µs: packets older than the drop threshold are given up. */
  peerLatencyUs: number;
  /** The peer's flow window, packets. */
  flowWindow: number;
  /** Give up packets that can no longer arrive in time (TLPKTDROP negotiated). */
  tooLateDrop: boolean;
  /** Bandwidth overhead allowed above the input rate for retransmissions (LiveCC: 25 %). */
  overheadPercent?: number;
  /** The peer's socket id (destination of every packet). */
  destId: number;
  /** Sends one data packet: a 16-byte header and the (shared) payload. */
  send(header: Buffer, payload: Buffer): void;
  /** Sends a Message Drop Request for this range. */
  dropRequest(range: SeqRange, msgno: number): void;
}

export interface SenderStats {
  sent: number;
  bytesSent: number;
  retransmitted: number;
  /** Packets given up before they were acknowledged. */
  dropped: number;
  /** Sequence numbers the peer reported lost (NAK). */
  lossReported: number;
}

interface Entry {
  seq: number;
  msgno: number;
  /** Source time stamp (µs since the connection's start, 32-bit on the wire). */
  ts: number;
  /** Local time it was handed to the sender (µs). */
  at: number;
  key: number;
  payload: Buffer;
  sent: boolean;
  /** When it last went out (µs). */
  sentAt: number;
  /** When it was last retransmitted (µs): a NAK within an RTT of that is not answered again. */
  resentAt: number;
}

/** Drop threshold floor (libsrt keeps live packets at least 1 s). */
const MIN_DROP_THRESHOLD_US = 1_000_000;
/** Packets sent at once before pacing starts to hold them back. */
const BURST_PACKETS = 16;
const RATE_WINDOW_US = 1_000_000;
/** Until the input rate is measured, pace at 30 Mb/s. */
const INITIAL_RATE_BPS = 30_000_000 / 8;
const MAX_BUFFERED = 65_536;
/** The longest a packet waits in the pacing queue (at most a quarter of the peer's latency). */
const MAX_QUEUE_DELAY_US = 30_000;
/** A queue drains at up to this many times the LiveCC rate … */
const MAX_BOOST = 4;
/** … with credit for one 5 ms timer period. */
const CREDIT_US = 5_000;
/** Shortest wait before an unacknowledged retransmission is sent again. */
const MIN_RESEND_US = 30_000;
/** A NAK this soon after a retransmission of the same packet crossed it on the way: not answered. */
const MAX_SUPPRESS_US = 30_000;

export class SrtSender {
  private nextSeq: number;
  private msgno = 1;
  /** Unacknowledged packets, oldest first; sequence numbers are contiguous. */
  private readonly buffer: Entry[] = [];
  private head = 0;
  /** Index in `buffer` of the first packet never sent (pacing queue). */
  private unsent = 0;
  private readonly rexmit: number[] = [];
  private readonly rexmitSet = new Set<number>();
  /** Retransmitted packets not yet acknowledged: resent if the ACK point stays before them. */
  private readonly suspects = new Set<number>();
  /** No data goes out before this time (µs): see `rewind`. */
  private holdUntil = 0;
  private unsentBytes = 0;
  private tokens = BURST_PACKETS * 1500;
  private lastRefill = 0;
  private rateBps = INITIAL_RATE_BPS;
  private windowBytes = 0;
  private windowStart = 0;
  readonly stats: SenderStats = { sent: 0, bytesSent: 0, retransmitted: 0, dropped: 0, lossReported: 0 };

  constructor(private readonly o: SenderOptions) {
    this.nextSeq = o.isn;
  }

  /** Packets handed over and not yet acknowledged (sent or waiting). */
  get inFlight(): number {
    return this.buffer.length - this.head;
  }

  /** Bytes waiting to be sent for the first time (for the reader's back-pressure). */
  get queuedBytes(): number {
    return this.unsentBytes;
  }

  /** The sequence number the next `write` gets (it is the AES-CTR packet index, so encryption needs it first). */
  get nextSequence(): number {
    return this.nextSeq;
  }

  get sendRateBps(): number {
    return this.rateBps;
  }

  /**
   * Queues one payload (≤ 1456 bytes) with its source time: `sourceUs` on the local clock and `ts`
   * as the 32-bit wire stamp of it. It is sent no earlier than its source time (LiveCC), so the peer's
   * TSBPD reproduces the pacing and every packet has the whole latency for its retransmissions.
   */
  write(payload: Buffer, ts: number, key: number, sourceUs: number): void {
    if (this.inFlight >= MAX_BUFFERED) this.drop(256);
    this.buffer.push({ seq: this.nextSeq, msgno: this.msgno, ts, at: sourceUs, key, payload, sent: false, sentAt: 0, resentAt: 0 });
    this.unsentBytes += payload.length;
    this.nextSeq = seqNext(this.nextSeq);
    this.msgno = this.msgno >= MSGNO_MAX ? 1 : this.msgno + 1;
    this.measure(payload.length, sourceUs);
  }

  /** The peer acknowledged everything before `lastAcked`. */
  onAck(lastAcked: number): void {
    while (this.head < this.buffer.length && seqDiff(this.buffer[this.head]!.seq, lastAcked) > 0) {
      if (!this.buffer[this.head]!.sent) break; // never acknowledge what was not sent
      this.head++;
    }
    this.compact();
  }

  /**
   * How long after its source time a packet may still be useful to the peer. Its TSBPD clock starts
   * when it takes our handshake answer in, which can be later than ours (a libsrt caller that missed
   * the first answer): so a little past the latency.
   */
  private resendHorizon(): number {
    return this.o.peerLatencyUs * 1.5 + 50_000;
  }

  private resendWait(): number {
    return Math.max(Math.min(2 * this.rttUs + 10_000, this.o.peerLatencyUs / 4), MIN_RESEND_US);
  }

  /** The round-trip time as the peer measures it (from its ACKs), µs; 0 until it has said. */
  rttUs = 0;

  /**
   * The peer reports these packets lost: retransmit what is still buffered — but not what went out
   * less than an RTT ago (its retransmission may still be on the way; periodic NAKs repeat losses).
   */
  onNak(ranges: readonly SeqRange[], nowUs: number): void {
    const first = this.buffer[this.head]?.seq;
    const sent = this.unsent - this.head;
    for (const r of ranges) {
      if (first === undefined || sent === 0) break;
      // Only the part of the range that is still buffered and was sent: a hostile NAK naming
      // millions of packets costs no more than the buffer.
      const from = Math.max(0, seqDiff(first, r.first));
      const to = Math.min(sent - 1, seqDiff(first, r.last));
      if (to < from) continue;
      this.stats.lossReported += to - from + 1;
      for (let i = from; i <= to; i++) {
        const e = this.buffer[this.head + i]!;
        const s = e.seq;
        // Until the peer has measured the RTT it reports a guess (libsrt: 100 ms): trust at most 30 ms of it.
        if (nowUs - e.resentAt < Math.min(this.rttUs, MAX_SUPPRESS_US)) continue;
        if (!this.rexmitSet.has(s)) {
          this.rexmitSet.add(s);
          this.rexmit.push(s);
        }
      }
    }
  }

  /**
   * Everything sent so far was thrown away by the peer (it was not connected yet): send it all again,
   * in order, after `holdUs`. The source stamps stay, so the peer's TSBPD timing is unchanged.
   */
  rewind(nowUs: number, holdUs: number): void {
    this.holdUntil = nowUs + holdUs;
    if (this.unsent === this.head) return;
    for (let i = this.head; i < this.unsent; i++) {
      this.buffer[i]!.sent = false;
      this.unsentBytes += this.buffer[i]!.payload.length;
    }
    this.unsent = this.head;
    this.rexmit.length = 0;
    this.rexmitSet.clear();
    this.suspects.clear();
  }

  /** Sends what pacing allows (retransmissions first) and drops what is too old. */
  poll(nowUs: number): void {
    this.refill(nowUs);
    if (this.o.tooLateDrop) this.dropTooLate(nowUs);
    if (nowUs < this.holdUntil) return;
    this.resendUnacknowledged(nowUs);
    const first = this.buffer[this.head]?.seq;
    while (this.rexmit.length > 0 && this.tokens > 0 && first !== undefined) {
      const s = this.rexmit.shift()!;
      this.rexmitSet.delete(s);
      const idx = this.head + seqDiff(first, s);
      const e = idx >= this.head ? this.buffer[idx] : undefined;
      if (!e || e.seq !== s) continue;
      e.sentAt = e.resentAt = nowUs;
      this.suspects.add(e.seq);
      this.o.send(dataHeader(e.seq, e.msgno, e.key, true, e.ts, this.o.destId), e.payload);
      this.tokens -= e.payload.length + 44;
      this.stats.retransmitted++;
    }
    while (this.unsent < this.buffer.length && this.tokens > 0) {
      if (this.buffer[this.unsent]!.at > nowUs) break; // its source time has not come yet
      if (seqDiff(this.buffer[this.head]!.seq, this.buffer[this.unsent]!.seq) >= this.o.flowWindow) break;
      const e = this.buffer[this.unsent++]!;
      e.sent = true;
      e.sentAt = nowUs;
      this.unsentBytes -= e.payload.length;
      this.o.send(dataHeader(e.seq, e.msgno, e.key, false, e.ts, this.o.destId), e.payload);
      this.tokens -= e.payload.length + 44;
      this.stats.sent++;
      this.stats.bytesSent += e.payload.length;
    }
  }

  /**
   * NAK-less retransmission, while a packet can still arrive in time. A retransmission can be lost
   * too, and so can a NAK, and a libsrt receiver reports a loss again only after about a quarter of a
   * second: a retransmitted packet still unacknowledged two RTTs later goes again.
   */
  private resendUnacknowledged(nowUs: number): void {
    const head = this.buffer[this.head];
    const wait = this.resendWait();
    // The oldest unacknowledged packet, sent long enough ago to have been acknowledged: it is lost,
    // and so was its NAK (the peer NAKs once, then only every ~250 ms: libsrt).
    if (head && head.sent && nowUs - head.sentAt > wait && nowUs - head.at < this.resendHorizon() && !this.rexmitSet.has(head.seq)) {
      this.rexmitSet.add(head.seq);
      this.rexmit.push(head.seq);
    }
    if (this.suspects.size === 0) return;
    for (const s of this.suspects) {
      const idx = head ? seqDiff(head.seq, s) : -1;
      const e = idx >= 0 ? this.buffer[this.head + idx] : undefined;
      if (!e || e.seq !== s || nowUs - e.at > this.resendHorizon()) {
        this.suspects.delete(s);
        continue;
      }
      if (nowUs - e.sentAt > wait && !this.rexmitSet.has(s)) {
        this.rexmitSet.add(s);
        this.rexmit.push(s);
      }
    }
  }

  /** LiveCC (§5.1.1): the sending rate follows the measured input rate plus the overhead. */
  private measure(bytes: number, nowUs: number): void {
    if (this.windowStart === 0) this.windowStart = nowUs;
    this.windowBytes += bytes;
    const elapsed = nowUs - this.windowStart;
    if (elapsed >= RATE_WINDOW_US) {
      const input = (this.windowBytes * 1e6) / elapsed;
      this.rateBps = Math.max(input * (1 + (this.o.overheadPercent ?? 25) / 100), 125_000);
      this.windowBytes = 0;
      this.windowStart = nowUs;
    }
  }

  /**
   * Token bucket at the paced rate. A burst (a keyframe's packets arrive together) is spread out, but
   * never so slowly that its last packet waits more than MAX_QUEUE_DELAY: a packet the pacer holds
   * back eats into the receiver's latency, and a lost one needs that time for its retransmission.
   */
  private refill(nowUs: number): void {
    if (this.lastRefill === 0) this.lastRefill = nowUs;
    const queued = this.queuedBytes + this.rexmit.length * 1316;
    const drain = (queued * 1e6) / Math.min(MAX_QUEUE_DELAY_US, this.o.peerLatencyUs / 4 || MAX_QUEUE_DELAY_US);
    const rate = Math.max(this.rateBps, Math.min(drain, MAX_BOOST * this.rateBps));
    // Credit for at most one timer period at that rate (or the small burst): an idle spell is no licence to flood.
    this.tokens = Math.min(this.tokens + ((nowUs - this.lastRefill) * rate) / 1e6, Math.max(BURST_PACKETS * 1500, (rate * CREDIT_US) / 1e6));
    this.lastRefill = nowUs;
  }

  private dropTooLate(nowUs: number): void {
    const threshold = Math.max(this.o.peerLatencyUs + 20_000, MIN_DROP_THRESHOLD_US);
    let n = 0;
    while (this.head + n < this.buffer.length && n < 4096 && nowUs - this.buffer[this.head + n]!.at > threshold) n++;
    if (n > 0) this.drop(n);
  }

  /** Gives up the `n` oldest packets (one message each, in live mode) and tells the peer. */
  private drop(n: number): void {
    const first = this.buffer[this.head]!;
    const last = this.buffer[this.head + n - 1]!;
    for (let i = Math.max(this.head, this.unsent); i < this.head + n; i++) this.unsentBytes -= this.buffer[i]!.payload.length;
    this.head += n;
    this.stats.dropped += n;
    for (const s of [...this.rexmitSet]) {
      if (seqDiff(last.seq, s) <= 0) this.rexmitSet.delete(s);
    }
    this.o.dropRequest({ first: first.seq, last: last.seq }, first.msgno);
    this.compact();
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.buffer.length) {
      this.buffer.splice(0, this.head);
      this.unsent -= this.head;
      this.head = 0;
    }
    if (this.unsent < this.head) this.unsent = this.head;
  }
}
