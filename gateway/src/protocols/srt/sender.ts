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
}

/** Drop threshold floor (libsrt keeps live packets at least 1 s). */
const MIN_DROP_THRESHOLD_US = 1_000_000;
/** Packets sent at once before pacing starts to hold them back. */
const BURST_PACKETS = 16;
const RATE_WINDOW_US = 1_000_000;
/** Until the input rate is measured, pace at 30 Mb/s. */
const INITIAL_RATE_BPS = 30_000_000 / 8;
const MAX_BUFFERED = 65_536;

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
    let n = 0;
    for (let i = this.unsent; i < this.buffer.length; i++) n += this.buffer[i]!.payload.length;
    return n;
  }

  /** The sequence number the next `write` gets (it is the AES-CTR packet index, so encryption needs it first). */
  get nextSequence(): number {
    return this.nextSeq;
  }

  get sendRateBps(): number {
    return this.rateBps;
  }

  /** Queues one payload (≤ 1456 bytes) stamped with its source time `ts`. */
  write(payload: Buffer, ts: number, key: number, nowUs: number): void {
    if (this.inFlight >= MAX_BUFFERED) this.drop(256);
    this.buffer.push({ seq: this.nextSeq, msgno: this.msgno, ts, at: nowUs, key, payload, sent: false });
    this.nextSeq = seqNext(this.nextSeq);
    this.msgno = this.msgno >= MSGNO_MAX ? 1 : this.msgno + 1;
    this.measure(payload.length, nowUs);
  }

  /** The peer acknowledged everything before `lastAcked`. */
  onAck(lastAcked: number): void {
    while (this.head < this.buffer.length && seqDiff(this.buffer[this.head]!.seq, lastAcked) > 0) {
      if (!this.buffer[this.head]!.sent) break; // never acknowledge what was not sent
      this.head++;
    }
    this.compact();
  }

  /** The peer reports these packets lost: retransmit what is still buffered. */
  onNak(ranges: readonly SeqRange[]): void {
    const first = this.buffer[this.head]?.seq;
    for (const r of ranges) {
      const n = seqDiff(r.first, r.last);
      this.stats.lossReported += n + 1;
      if (first === undefined) continue;
      for (let i = 0, s = r.first; i <= n && i < MAX_BUFFERED; i++, s = seqNext(s)) {
        const idx = this.head + seqDiff(first, s);
        if (idx < this.head || idx >= this.unsent) continue;
        if (!this.rexmitSet.has(s)) {
          this.rexmitSet.add(s);
          this.rexmit.push(s);
        }
      }
    }
  }

  /** Sends what pacing allows (retransmissions first) and drops what is too old. */
  poll(nowUs: number): void {
    this.refill(nowUs);
    if (this.o.tooLateDrop) this.dropTooLate(nowUs);
    const first = this.buffer[this.head]?.seq;
    while (this.rexmit.length > 0 && this.tokens > 0 && first !== undefined) {
      const s = this.rexmit.shift()!;
      this.rexmitSet.delete(s);
      const idx = this.head + seqDiff(first, s);
      const e = idx >= this.head ? this.buffer[idx] : undefined;
      if (!e || e.seq !== s) continue;
      this.o.send(dataHeader(e.seq, e.msgno, e.key, true, e.ts, this.o.destId), e.payload);
      this.tokens -= e.payload.length + 44;
      this.stats.retransmitted++;
    }
    while (this.unsent < this.buffer.length && this.tokens > 0) {
      if (seqDiff(this.buffer[this.head]!.seq, this.buffer[this.unsent]!.seq) >= this.o.flowWindow) break;
      const e = this.buffer[this.unsent++]!;
      e.sent = true;
      this.o.send(dataHeader(e.seq, e.msgno, e.key, false, e.ts, this.o.destId), e.payload);
      this.tokens -= e.payload.length + 44;
      this.stats.sent++;
      this.stats.bytesSent += e.payload.length;
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

  private refill(nowUs: number): void {
    if (this.lastRefill === 0) this.lastRefill = nowUs;
    this.tokens = Math.min(this.tokens + ((nowUs - this.lastRefill) * this.rateBps) / 1e6, BURST_PACKETS * 1500);
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
