/**
 * The receiving half of an SRT live connection (draft-sharabayko-srt-01 §4.5–4.8): the receive
 * buffer, loss detection for NAKs, timestamp-based packet delivery (TSBPD) with too-late drop,
 * message drop requests and clock drift tracking. Pure: time comes in as an argument (µs).
 */
import { seqDiff, seqNext, type SeqRange } from './packet.js';

export interface ReceiverOptions {
  /** Initial sequence number agreed in the handshake. */
  isn: number;
  /** TSBPD latency applied here, µs. */
  latencyUs: number;
  /**
   * Local time (µs) that corresponds to the peer's timestamp 0: the arrival of its handshake minus
   * the handshake's timestamp (§4.5.1.1). Delivery time = base + timestamp + latency.
   */
  timeBaseUs: number;
  /** The timestamp of that handshake: data timestamps are extended past their wrap from it. */
  handshakeTs: number;
  /** Packets the buffer holds ahead of delivery (the flow window). */
  windowPackets: number;
  /** Drop packets whose delivery time passed while an earlier one is still missing (§4.6). */
  tooLateDrop: boolean;
  deliver(payload: Buffer, seq: number): void;
}

export interface ReceiverStats {
  received: number;
  bytesReceived: number;
  /** Packets that arrived with the R flag (retransmissions) and filled a hole. */
  recovered: number;
  /** Sequence numbers ever found missing. */
  lost: number;
  /** Packets given up: too late, or dropped by the sender's request. */
  dropped: number;
  droppedTooLate: number;
  droppedByRequest: number;
  /** Duplicates, late arrivals and packets past the window. */
  discarded: number;
}

const DROPPED = Symbol('dropped');
type Slot = { payload: Buffer; ts: number } | typeof DROPPED | undefined;

interface Loss extends SeqRange {
  /** When this range was last reported in a NAK (µs). */
  nakAt: number;
}

const MAX_LOSS_RANGES = 2048;
const TS_WRAP = 2 ** 32;
/** Drift is averaged over this many packets and corrected when it exceeds DRIFT_MAX_US (libsrt's figures). */
const DRIFT_SAMPLES = 1000;
const DRIFT_MAX_US = 5000;

export class SrtReceiver {
  private readonly ring: Slot[];
  private readonly mask: number;
  /** First sequence number not yet delivered (or dropped). */
  private nextDeliver: number;
  /** Highest sequence number seen; nextDeliver − 1 when nothing is buffered. */
  private maxSeq: number;
  private readonly losses: Loss[] = [];
  private lastTs = 0;
  private timeBase: number;
  private driftSum = 0;
  private driftCount = 0;
  readonly stats: ReceiverStats = { received: 0, bytesReceived: 0, recovered: 0, lost: 0, dropped: 0, droppedTooLate: 0, droppedByRequest: 0, discarded: 0 };

  constructor(private readonly o: ReceiverOptions) {
    let size = 1;
    while (size < o.windowPackets) size <<= 1;
    this.ring = new Array<Slot>(size);
    this.mask = size - 1;
    this.nextDeliver = o.isn;
    this.maxSeq = seqNext(o.isn, -1);
    this.timeBase = o.timeBaseUs;
    this.lastTs = o.handshakeTs;
  }

  /** Everything before this sequence number has arrived or been given up: the ACK point. */
  get ackSeq(): number {
    return this.losses.length > 0 ? this.losses[0]!.first : seqNext(this.maxSeq);
  }

  /** Packets buffered ahead of delivery. */
  get buffered(): number {
    return seqDiff(this.nextDeliver, this.maxSeq) + 1;
  }

  get windowPackets(): number {
    return this.ring.length;
  }

  /** Current time base (µs), after drift corrections. */
  get timeBaseUs(): number {
    return this.timeBase;
  }

  /**
   * One data packet. Returns the ranges that became missing with it (for an immediate NAK), or null.
   */
  onData(seq: number, timestamp: number, retransmitted: boolean, payload: Buffer, nowUs: number): SeqRange[] | null {
    const ahead = seqDiff(this.nextDeliver, seq);
    if (ahead < 0 || ahead >= this.ring.length) {
      this.stats.discarded++;
      return null;
    }
    const slot = seq & this.mask;
    const existing = this.ring[slot];
    if (existing !== undefined) {
      this.stats.discarded++;
      return null;
    }
    const ts = this.extend(timestamp);
    this.ring[slot] = { payload, ts };
    this.stats.received++;
    this.stats.bytesReceived += payload.length;
    let newLoss: SeqRange[] | null = null;
    const past = seqDiff(this.maxSeq, seq);
    if (past > 0) {
      if (past > 1) {
        const range = { first: seqNext(this.maxSeq), last: seqNext(seq, -1) };
        this.addLoss(range, nowUs);
        newLoss = [range];
      }
      this.maxSeq = seq;
      if (!retransmitted) this.trackDrift(nowUs - (this.timeBase + ts));
    } else if (this.removeLoss(seq)) {
      if (retransmitted) this.stats.recovered++;
    }
    return newLoss;
  }

  /** The sender gave up on these packets (§3.2.9): stop asking for them and skip them. */
  onDropRequest(range: SeqRange): void {
    const n = seqDiff(range.first, range.last);
    if (n < 0 || n > this.ring.length) return;
    for (let i = 0, s = range.first; i <= n; i++, s = seqNext(s)) {
      const ahead = seqDiff(this.nextDeliver, s);
      if (ahead < 0 || ahead >= this.ring.length) continue;
      if (this.ring[s & this.mask] === undefined) {
        this.ring[s & this.mask] = DROPPED;
        this.removeLoss(s);
        this.stats.dropped++;
        this.stats.droppedByRequest++;
        if (seqDiff(this.maxSeq, s) > 0) this.maxSeq = s;
      }
    }
  }

  /** Delivers every packet whose time has come; skips holes that can no longer be filled in time. */
  poll(nowUs: number): void {
    const due = nowUs - this.o.latencyUs - this.timeBase;
    while (seqDiff(this.nextDeliver, this.maxSeq) >= 0) {
      const slot = this.nextDeliver & this.mask;
      const entry = this.ring[slot];
      if (entry === DROPPED) {
        this.ring[slot] = undefined;
        this.nextDeliver = seqNext(this.nextDeliver);
        continue;
      }
      if (entry) {
        if (entry.ts > due) return;
        this.ring[slot] = undefined;
        const seq = this.nextDeliver;
        this.nextDeliver = seqNext(seq);
        this.o.deliver(entry.payload, seq);
        continue;
      }
      // A hole: give it up only when a later packet is due (too-late drop).
      if (!this.o.tooLateDrop) return;
      const next = this.firstBufferedAfter(this.nextDeliver);
      if (next === null) return;
      const nextEntry = this.ring[next & this.mask] as { ts: number };
      if (nextEntry.ts > due) return;
      const skipped = seqDiff(this.nextDeliver, next);
      for (let i = 0, s = this.nextDeliver; i < skipped; i++, s = seqNext(s)) {
        const at = s & this.mask;
        if (this.ring[at] === DROPPED) {
          this.ring[at] = undefined; // already counted when the sender asked for the drop
          continue;
        }
        this.removeLoss(s);
        this.stats.dropped++;
        this.stats.droppedTooLate++;
      }
      this.nextDeliver = next;
    }
  }

  /** The loss ranges not reported for `intervalUs` (periodic NAK, §4.8.2); marks them reported. */
  lossesToReport(nowUs: number, intervalUs: number): SeqRange[] {
    const out: SeqRange[] = [];
    for (const l of this.losses) {
      if (nowUs - l.nakAt >= intervalUs) {
        l.nakAt = nowUs;
        out.push({ first: l.first, last: l.last });
      }
    }
    return out;
  }

  get lossCount(): number {
    let n = 0;
    for (const l of this.losses) n += seqDiff(l.first, l.last) + 1;
    return n;
  }

  private firstBufferedAfter(seq: number): number | null {
    const n = seqDiff(seq, this.maxSeq);
    for (let i = 1, s = seqNext(seq); i <= n; i++, s = seqNext(s)) {
      const e = this.ring[s & this.mask];
      if (e !== undefined && e !== DROPPED) return s;
    }
    return null;
  }

  /** 32-bit µs timestamps wrap every ~71.6 min (§4.5.1.1): extend them around the newest one seen. */
  private extend(ts: number): number {
    const ext = this.lastTs + ((ts - (this.lastTs % TS_WRAP)) | 0); // signed 32-bit distance
    if (ext > this.lastTs) this.lastTs = ext;
    return ext;
  }

  /** §4.7: keep delivery at `latency` after arrival when the sender's clock runs at another rate. */
  private trackDrift(sample: number): void {
    this.driftSum += sample;
    if (++this.driftCount < DRIFT_SAMPLES) return;
    const mean = this.driftSum / this.driftCount;
    this.driftSum = 0;
    this.driftCount = 0;
    if (Math.abs(mean) > DRIFT_MAX_US) this.timeBase += mean;
  }

  private addLoss(range: SeqRange, nowUs: number): void {
    this.stats.lost += seqDiff(range.first, range.last) + 1;
    if (this.losses.length >= MAX_LOSS_RANGES) this.losses.shift();
    this.losses.push({ ...range, nakAt: nowUs });
  }

  private removeLoss(seq: number): boolean {
    for (let i = 0; i < this.losses.length; i++) {
      const l = this.losses[i]!;
      if (seqDiff(l.first, seq) < 0) return false; // sorted: seq is before every later range
      if (seqDiff(seq, l.last) < 0) continue;
      if (l.first === seq && l.last === seq) this.losses.splice(i, 1);
      else if (l.first === seq) l.first = seqNext(seq);
      else if (l.last === seq) l.last = seqNext(seq, -1);
      else {
        this.losses.splice(i + 1, 0, { first: seqNext(seq), last: l.last, nakAt: l.nakAt });
        l.last = seqNext(seq, -1);
      }
      return true;
    }
    return false;
  }
}
