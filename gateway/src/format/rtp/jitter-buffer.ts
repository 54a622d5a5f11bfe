/**
 * RTP reordering buffer for one SSRC: packets go in as they arrive, and come out in sequence order
 * once every earlier packet is there, or once the wait for a missing one has run out.
 *
 * Sequence numbers are 16 bits (RFC 3550 §5.1) and are extended internally to an unbounded count,
 * so the wrap 65535 → 0 is invisible to the caller. Pure: no timers; the caller calls poll() when
 * nextDeadline() says so.
 */

export interface SequencedPacket {
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  payload: Buffer;
}

export interface Released<P> {
  packet: P;
  /** Packets before this one were given up as lost (or the sequence resynchronised). */
  afterLoss: boolean;
}

export interface JitterBufferOptions {
  /** How long packets after a gap wait for the missing one (ms). */
  maxWaitMs: number;
  /** Packets held at most (capped at 1000, the largest jump that is not a restart). */
  maxPackets: number;
}

export interface JitterBufferStats {
  /** Every packet given to push(). */
  received: number;
  /** A packet already held or already released. */
  duplicates: number;
  /** A packet whose place was already given up as lost. */
  late: number;
  /** Sequence numbers given up as lost. */
  lost: number;
  /** Packets that arrived after a later one and were still in time. */
  reordered: number;
  /** The sequence restarted at a packet far from the expected one (sender restart). */
  resyncs: number;
  /** Packets far from the sequence that no neighbour followed (yet), so were dropped. */
  strays: number;
}

/** RFC 3550 App. A.1 treats a jump beyond MAX_DROPOUT / MAX_MISORDER as a restart; we use 1000 both ways. */
const MAX_JUMP = 1000;
/** Ring of held packets, indexed by extended sequence number; larger than MAX_JUMP so slots never collide. */
const RING = 2048;
/** Fate of recently passed sequence numbers (released or lost), to tell a duplicate from a late packet. */
const HISTORY = 1024;
const RELEASED = 1;
const LOST = 2;
/** A far packet needs a neighbour (within this many sequence numbers) to prove a restart. */
const PROBATION_SPAN = 32;
const PROBATION_MS = 1000;

interface Held<P> {
  packet: P;
  arrival: number;
}

export class JitterBuffer<P extends SequencedPacket> {
  readonly stats: JitterBufferStats = { received: 0, duplicates: 0, late: 0, lost: 0, reordered: 0, resyncs: 0, strays: 0 };
  private readonly maxWaitMs: number;
  private readonly maxPackets: number;
  private readonly ring: (Held<P> | undefined)[] = new Array<Held<P> | undefined>(RING);
  private readonly history = new Uint8Array(HISTORY);
  private started = false;
  /** Anything was ever released: the first packet after reset() then reports afterLoss. */
  private releasedAny = false;
  /** Extended sequence number of the next packet to release. */
  private next = 0;
  /** Highest extended sequence number seen in this sequence. */
  private highest = 0;
  /** Lowest extended sequence number held (valid when count > 0). */
  private firstHeld = 0;
  /**
   * Earliest arrival among held packets (valid when count > 0). Every held packet lies after the
   * first gap, so that gap has been known since then: it is the gap's deadline minus maxWaitMs.
   */
  private oldest = 0;
  private count = 0;
  /** The next release reports afterLoss (reset, resync). */
  private lossPending = false;
  /** A packet far from the sequence: a restart if a neighbour follows (RFC 3550 App. A.1 probation). */
  private candidate: Held<P> | null = null;

  constructor(options: JitterBufferOptions) {
    if (!(options.maxWaitMs >= 0)) throw new RangeError('maxWaitMs must be ≥ 0');
    if (!(options.maxPackets >= 1)) throw new RangeError('maxPackets must be ≥ 1');
    this.maxWaitMs = options.maxWaitMs;
    this.maxPackets = Math.min(Math.floor(options.maxPackets), MAX_JUMP);
  }

  /** Adds an arrived packet; returns the packets that are now in order. */
  push(packet: P, now: number): Released<P>[] {
    this.stats.received++;
    const out: Released<P>[] = [];
    const seq = packet.sequenceNumber & 0xffff;
    if (!this.started) {
      this.start(seq);
      this.insert(this.next, packet, now, out);
      return out;
    }
    // Signed 16-bit distance from the next expected packet (RFC 3550 §A.1 style unwrapping).
    const delta = ((seq - (this.next & 0xffff) + 0x8000) & 0xffff) - 0x8000;
    const ext = this.next + delta;
    if (delta > MAX_JUMP || delta < -MAX_JUMP) {
      this.probation(packet, now, out);
      return out;
    }
    if (delta < 0) {
      if (this.history[ext & (HISTORY - 1)] === RELEASED) this.stats.duplicates++;
      else this.stats.late++;
      return out;
    }
    if (this.ring[ext & (RING - 1)]) {
      this.stats.duplicates++;
      return out;
    }
    if (ext < this.highest) this.stats.reordered++;
    this.insert(ext, packet, now, out);
    return out;
  }

  /**
   * Gives up on gaps that have waited maxWaitMs, counted from the arrival of the first packet
   * behind them (the earliest held one); returns what that releases.
   */
  poll(now: number): Released<P>[] {
    const out: Released<P>[] = [];
    while (this.count > 0 && this.oldest + this.maxWaitMs <= now) this.skipGap(out);
    return out;
  }

  /** When poll() next has work (same clock as `now`), or null when nothing waits. */
  nextDeadline(): number | null {
    return this.count === 0 ? null : this.oldest + this.maxWaitMs;
  }

  /**
   * Starts a new sequence with the next packet (SSRC change). Returns what was held, in order, so
   * that the caller can finish the old sequence; the first packet after this reports afterLoss.
   */
  reset(): Released<P>[] {
    const out: Released<P>[] = [];
    this.flush(out);
    this.started = false;
    this.candidate = null;
    return out;
  }

  /** Packets held now (waiting for a gap to fill). */
  get size(): number {
    return this.count;
  }

  private start(seq: number): void {
    this.started = true;
    this.next = seq;
    this.highest = seq;
    this.history.fill(0);
    if (this.releasedAny) this.lossPending = true;
  }

  private insert(ext: number, packet: P, now: number, out: Released<P>[]): void {
    if (ext > this.highest) this.highest = ext;
    if (ext === this.next) {
      this.emit(packet, out);
      this.releaseRun(out);
      return;
    }
    this.ring[ext & (RING - 1)] = { packet, arrival: now };
    if (this.count === 0) {
      this.firstHeld = ext;
      this.oldest = now;
    } else {
      if (ext < this.firstHeld) this.firstHeld = ext;
      if (now < this.oldest) this.oldest = now;
    }
    this.count++;
    while (this.count > this.maxPackets) this.skipGap(out);
  }

  /** Releases the packet at `next` and advances. */
  private emit(packet: P, out: Released<P>[]): void {
    out.push({ packet, afterLoss: this.lossPending });
    this.lossPending = false;
    this.releasedAny = true;
    this.history[this.next & (HISTORY - 1)] = RELEASED;
    this.next++;
  }

  /** Releases held packets that are now in order. */
  private releaseRun(out: Released<P>[]): void {
    while (this.count > 0) {
      const slot = this.next & (RING - 1);
      const held = this.ring[slot];
      if (!held) break;
      this.ring[slot] = undefined;
      this.count--;
      this.emit(held.packet, out);
    }
    if (this.count > 0) this.rescan();
  }

  /** Finds the first held packet and the earliest arrival among those still held. */
  private rescan(): void {
    let first = -1;
    let oldest = Infinity;
    for (let e = this.next, left = this.count; left > 0; e++) {
      const held = this.ring[e & (RING - 1)];
      if (!held) continue;
      if (first < 0) first = e;
      if (held.arrival < oldest) oldest = held.arrival;
      left--;
    }
    this.firstHeld = first;
    this.oldest = oldest;
  }

  /** Gives up the sequence numbers before the first held packet and releases from there. */
  private skipGap(out: Released<P>[]): void {
    for (let e = this.next; e < this.firstHeld; e++) this.history[e & (HISTORY - 1)] = LOST;
    this.stats.lost += this.firstHeld - this.next;
    this.next = this.firstHeld;
    this.lossPending = true;
    this.releaseRun(out);
  }

  private flush(out: Released<P>[]): void {
    while (this.count > 0) this.skipGap(out);
  }

  /**
   * A packet more than MAX_JUMP from the sequence. One such packet is dropped (a stray, or garbage);
   * a second one next to it proves a sender restart: what is held is flushed in order and the
   * sequence continues from the earlier of the two.
   */
  private probation(packet: P, now: number, out: Released<P>[]): void {
    const c = this.candidate;
    const seq = packet.sequenceNumber & 0xffff;
    this.stats.strays++;
    if (c && now - c.arrival <= PROBATION_MS) {
      const d = ((seq - (c.packet.sequenceNumber & 0xffff) + 0x8000) & 0xffff) - 0x8000;
      if (d !== 0 && Math.abs(d) <= PROBATION_SPAN) {
        this.candidate = null;
        this.stats.strays -= 2; // neither was a stray after all
        this.stats.resyncs++;
        this.flush(out);
        const [first, second] = d > 0 ? [c, { packet, arrival: now }] : [{ packet, arrival: now }, c];
        this.start(first.packet.sequenceNumber & 0xffff);
        this.lossPending = true;
        const base = this.next;
        this.insert(base, first.packet, first.arrival, out);
        this.insert(base + Math.abs(d), second.packet, second.arrival, out);
        return;
      }
    }
    this.candidate = { packet, arrival: now };
  }
}
