/**
 * Transport-wide congestion control, receiver side: records the arrival of every packet carrying
 * the transport-wide sequence number (RTP header extension of draft-holmer-rmcat-transport-wide-cc-
 * extensions-01 §2) and builds the RTCP transport-wide feedback packets (§3.1: RTPFB, PT 205,
 * FMT 15) from which the sender estimates its bandwidth.
 *
 * As in libwebrtc's receiver, each feedback starts at the first sequence number not yet reported
 * and ends at the last packet received so far (packets missing at the end wait for the next
 * feedback, in case they are only late). A packet arriving after its place was reported as lost is
 * reported in the next feedback, which then starts at it, provided it is not older than the base of
 * the last feedback sent; older ones are dropped. A packet reported as received is never reported as
 * received again: a feedback that starts before it shows it as not received, which senders ignore
 * for a packet they already have feedback for (libwebrtc's TransportFeedbackAdapter forgets a packet
 * once it is reported received, but keeps lost ones in case a later report has them).
 *
 * Sequence numbers are 16 bits and are extended internally (as in jitter-buffer.ts), so the wrap
 * 65535 → 0 is invisible. Memory is fixed: at most MAX_UNREPORTED packets wait for a feedback (older
 * ones are given up), and a jump of more than MAX_JUMP sequence numbers ahead restarts the sequence
 * (one behind does only when a second packet confirms it).
 * Pure: no timers, no I/O; the caller calls feedback() every 50-100 ms and sends what it returns.
 */

export interface TwccRecorderOptions {
  /** SSRC of the feedback's sender (our RTCP SSRC). */
  senderSsrc: number;
  /**
   * SSRC of one of the media sender's streams. libwebrtc drops transport feedback that names none of
   * its own SSRCs (tested with Chromium: its estimate then collapses), so set it (default 0: unset).
   */
  mediaSsrc?: number;
  /**
   * Packet statuses (received or lost) per feedback packet, 1-1000 (default 500). A feedback packet
   * takes at most 2.3 bytes per status + 24 bytes, so the default stays under 1200 bytes.
   */
  maxPacketsPerFeedback?: number;
}

export interface TwccStats {
  /** Every call to record(). */
  recorded: number;
  /** A sequence number already recorded (the first arrival is kept). */
  duplicates: number;
  /** Older than the base of the last feedback sent, or a stray far behind the sequence: dropped. */
  late: number;
  /** Received packets never reported: more than 1000 waited, or the sequence restarted. */
  discarded: number;
  /** The sequence jumped more than 1000 ahead (or, confirmed, behind): started again there. */
  restarts: number;
  /** Non-finite sequence number or arrival time: ignored. */
  invalid: number;
}

/** Packets waiting for a feedback at most; older ones are given up (libwebrtc keeps 500 ms). */
const MAX_UNREPORTED = 1000;
/**
 * A larger jump ahead is a new sequence rather than loss; a packet further behind is dropped unless
 * a neighbour follows it (RFC 3550 App. A.1 uses the same two limits).
 */
const MAX_JUMP = 1000;
const PROBATION_SPAN = 32;
const PROBATION_MS = 1000;
/**
 * Sequence numbers whose state is kept: the unreported ones and the last feedback's range (at most
 * 1000 each, so this bound is only a guard for the ring).
 */
const HISTORY = 2000;
/** Ring of per-sequence state, indexed by extended sequence number; larger than HISTORY. */
const RING = 2048;
/** Extended sequence numbers start here so that they stay positive (jumps back are < 32768). */
const EXT_ORIGIN = 0x10000;
const DEFAULT_MAX_PER_FEEDBACK = 500;

// Slot states.
const EMPTY = 0;
const PENDING = 1;
const REPORTED = 2;

// §3.1.1 packet status symbols.
const NOT_RECEIVED = 0;
const SMALL_DELTA = 1;
const LARGE_DELTA = 2;

/** §3.1: V=2, FMT=15, PT=205 (RTPFB, RFC 4585 §6.1). */
const FMT_TRANSPORT_CC = 15;
const PT_RTPFB = 205;
const HEADER_BYTES = 20;
/** §3.1: the reference time counts 64 ms units in 24 bits; receive deltas count 250 µs. */
const REFERENCE_MS = 64;
const DELTA_PER_MS = 4;
const TICKS_PER_REFERENCE = REFERENCE_MS * DELTA_PER_MS;
const REFERENCE_WRAP = 2 ** 24;
/** §3.1.3: a run length chunk counts at most 2^13 - 1 symbols. */
const MAX_RUN = 0x1fff;

export class TwccRecorder {
  readonly stats: TwccStats = { recorded: 0, duplicates: 0, late: 0, discarded: 0, restarts: 0, invalid: 0 };
  private readonly senderSsrc: number;
  /**
   * The SSRC the feedback names. libwebrtc ignores transport feedback whose media SSRC is not one
   * of its own sending SSRCs, so a receiver sets it to one of the sender's (any of them).
   */
  mediaSsrc: number;
  private readonly maxPerFeedback: number;
  private readonly state = new Uint8Array(RING);
  private readonly arrival = new Float64Array(RING);
  private started = false;
  /** No feedback has been built since the sequence started: packets before the first may still come. */
  private sentNone = true;
  /** Highest extended sequence number recorded. */
  private highest = 0;
  /** First extended sequence number not yet covered by a feedback. */
  private nextBase = 0;
  /** Base of the last feedback built: late packets from here on are still reported. */
  private lastBase = 0;
  /** Lowest late packet (below nextBase) waiting for a feedback, or Infinity. */
  private lateFrom = Infinity;
  /** Something was recorded that the next feedback reports. */
  private dirty = false;
  private feedbackCount = 0;
  /** The last packet far behind the sequence, dropped unless a neighbour follows. */
  private candidate: { seq: number; arrivalMs: number } | null = null;

  constructor(options: TwccRecorderOptions) {
    const max = options.maxPacketsPerFeedback ?? DEFAULT_MAX_PER_FEEDBACK;
    if (!(max >= 1)) throw new RangeError('maxPacketsPerFeedback must be ≥ 1');
    this.senderSsrc = options.senderSsrc >>> 0;
    this.mediaSsrc = (options.mediaSsrc ?? 0) >>> 0;
    this.maxPerFeedback = Math.min(Math.floor(max), MAX_UNREPORTED);
  }

  /**
   * One packet arrived with this transport-wide sequence number, at arrivalMs (performance.now()
   * clock, fractional ms). Call it for every packet that carries the extension, audio and video
   * alike, including retransmissions and padding; duplicates and garbage are counted in stats.
   */
  record(transportSeq: number, arrivalMs: number): void {
    this.stats.recorded++;
    if (!Number.isFinite(transportSeq) || !Number.isFinite(arrivalMs)) {
      this.stats.invalid++;
      return;
    }
    const seq = transportSeq & 0xffff;
    if (!this.started) {
      this.start(seq, arrivalMs);
      return;
    }
    // Signed 16-bit distance from the highest packet so far.
    const delta = signed16(seq - this.highest);
    if (delta > MAX_JUMP) {
      this.restart(seq, arrivalMs);
      return;
    }
    if (delta < -MAX_JUMP) {
      this.farBehind(seq, arrivalMs);
      return;
    }
    this.accept(this.highest + delta, arrivalMs);
  }

  /**
   * The feedback packet(s) for everything recorded since the last call (each one a whole RTCP
   * packet, ready to be sent inside a compound or alone), or [] when nothing is new.
   */
  feedback(): Buffer[] {
    if (!this.dirty) return [];
    this.dirty = false;
    const out: Buffer[] = [];
    let cursor = Math.max(this.lastBase, Math.min(this.lateFrom, this.nextBase));
    this.lateFrom = Infinity;
    for (;;) {
      const first = this.findPending(cursor);
      if (first < 0) break;
      // Lost packets before the first received one that do not fit are not reported at all.
      const base = Math.max(cursor, first - this.maxPerFeedback + 1);
      const last = this.build(base, first, out);
      this.lastBase = base;
      if (last + 1 > this.nextBase) this.nextBase = last + 1;
      this.sentNone = false;
      cursor = last + 1;
    }
    return out;
  }

  /** A packet within MAX_JUMP of the highest one, at its extended sequence number. */
  private accept(ext: number, arrivalMs: number): void {
    if (ext > this.highest) {
      for (let e = this.highest + 1; e < ext; e++) this.state[e % RING] = EMPTY;
      this.highest = ext;
      this.store(ext, arrivalMs);
      this.bound();
      return;
    }
    if (ext < this.nextBase && this.sentNone) {
      // Reordered before the first packet recorded (nextBase is the lowest one yet): the first
      // feedback starts here instead, within the bound on waiting packets.
      if (ext <= this.highest - MAX_UNREPORTED) {
        this.stats.late++;
        return;
      }
      for (let e = ext + 1; e < this.nextBase; e++) this.state[e % RING] = EMPTY;
      this.nextBase = this.lastBase = ext;
      this.store(ext, arrivalMs);
      return;
    }
    if (ext < this.lastBase) {
      this.stats.late++;
      return;
    }
    if (this.state[ext % RING] !== EMPTY) {
      this.stats.duplicates++;
      return;
    }
    // Below nextBase its place was reported as lost: the next feedback reports it from there.
    this.store(ext, arrivalMs);
    if (ext < this.nextBase) this.lateFrom = Math.min(this.lateFrom, ext);
  }

  /** The sequence starts again at this packet (a jump): what waits is given up. */
  private restart(seq: number, arrivalMs: number): void {
    this.stats.restarts++;
    this.stats.discarded += this.countPendingIn(this.lastBase, this.highest + 1);
    this.start(seq, arrivalMs);
  }

  /**
   * More than MAX_JUMP behind: a stray is dropped, but a second such packet next to the first
   * proves the sender restarted lower (RFC 3550 App. A.1 probation): start again from the two.
   */
  private farBehind(seq: number, arrivalMs: number): void {
    const c = this.candidate;
    const d = c ? signed16(seq - c.seq) : 0;
    if (!c || d === 0 || Math.abs(d) > PROBATION_SPAN || !(Math.abs(arrivalMs - c.arrivalMs) <= PROBATION_MS)) {
      this.candidate = { seq, arrivalMs };
      this.stats.late++;
      return;
    }
    this.stats.late--; // the candidate was not late after all
    this.restart(c.seq, c.arrivalMs);
    this.accept(this.highest + d, arrivalMs);
  }

  private start(seq: number, arrivalMs: number): void {
    this.started = true;
    this.candidate = null;
    this.sentNone = true;
    this.state.fill(EMPTY);
    this.highest = this.nextBase = this.lastBase = EXT_ORIGIN + seq;
    this.lateFrom = Infinity;
    this.store(this.highest, arrivalMs);
  }

  private store(ext: number, arrivalMs: number): void {
    this.state[ext % RING] = PENDING;
    this.arrival[ext % RING] = arrivalMs;
    this.dirty = true;
  }

  /** Keeps at most MAX_UNREPORTED packets waiting, and the state kept within the ring. */
  private bound(): void {
    const oldest = this.highest - MAX_UNREPORTED + 1;
    if (this.nextBase < oldest) {
      this.stats.discarded += this.countPendingIn(this.nextBase, oldest);
      // Late packets below the cut go too: reporting them would cover the dropped range again.
      if (this.lateFrom < this.nextBase) this.stats.discarded += this.countPendingIn(this.lateFrom, this.nextBase);
      this.nextBase = this.lastBase = oldest;
      this.lateFrom = Infinity;
    }
    if (this.lastBase < this.highest - HISTORY + 1) this.lastBase = this.highest - HISTORY + 1;
  }

  private countPendingIn(from: number, to: number): number {
    let n = 0;
    for (let e = from; e < to; e++) if (this.state[e % RING] === PENDING) n++;
    return n;
  }

  private findPending(from: number): number {
    for (let e = from; e <= this.highest; e++) if (this.state[e % RING] === PENDING) return e;
    return -1;
  }

  /**
   * Builds one feedback packet from base, whose first received packet is first; returns the last
   * sequence number it reports (always a received one). It ends early when a delta does not fit in
   * 16 bits (§3.1.5) or at maxPacketsPerFeedback statuses.
   */
  private build(base: number, first: number, out: Buffer[]): number {
    // §3.1: the reference time is the first packet's arrival floored to 64 ms, so its delta is ≥ 0.
    const reference = Math.floor(this.arrival[first % RING] / REFERENCE_MS);
    let previous = reference * TICKS_PER_REFERENCE;
    const symbols: number[] = [];
    const deltas: number[] = [];
    let last = first;
    for (let e = base; e <= this.highest && e - base < this.maxPerFeedback; e++) {
      const slot = e % RING;
      if (this.state[slot] !== PENDING) {
        // Never received, or already reported as received (reported again only as not received).
        symbols.push(NOT_RECEIVED);
        continue;
      }
      const ticks = Math.round(this.arrival[slot] * DELTA_PER_MS);
      const delta = ticks - previous;
      if (delta < -0x8000 || delta > 0x7fff) break;
      symbols.push(delta >= 0 && delta <= 0xff ? SMALL_DELTA : LARGE_DELTA);
      deltas.push(delta);
      previous = ticks;
      this.state[slot] = REPORTED;
      last = e;
    }
    symbols.length = last - base + 1;
    out.push(this.serialize(base, symbols, deltas, reference));
    return last;
  }

  private serialize(base: number, symbols: number[], deltas: number[], reference: number): Buffer {
    const chunks = encodeChunks(symbols);
    let deltaBytes = 0;
    for (const d of deltas) deltaBytes += d >= 0 && d <= 0xff ? 1 : 2;
    const size = HEADER_BYTES + 2 * chunks.length + deltaBytes;
    // RFC 3550 §6.4.1 padding: P bit set, the last octet counts the padding octets.
    const padding = (4 - (size % 4)) % 4;
    const buf = Buffer.alloc(size + padding);
    buf[0] = 0x80 | (padding > 0 ? 0x20 : 0) | FMT_TRANSPORT_CC;
    buf[1] = PT_RTPFB;
    buf.writeUInt16BE(buf.length / 4 - 1, 2);
    buf.writeUInt32BE(this.senderSsrc, 4);
    buf.writeUInt32BE(this.mediaSsrc, 8);
    buf.writeUInt16BE(base & 0xffff, 12);
    buf.writeUInt16BE(symbols.length, 14);
    // §3.1: 24-bit signed reference time; senders unwrap it between feedbacks.
    buf.writeUIntBE(((reference % REFERENCE_WRAP) + REFERENCE_WRAP) % REFERENCE_WRAP, 16, 3);
    buf[19] = this.feedbackCount;
    this.feedbackCount = (this.feedbackCount + 1) & 0xff;
    let at = HEADER_BYTES;
    for (const c of chunks) at = buf.writeUInt16BE(c, at);
    for (const d of deltas) at = d >= 0 && d <= 0xff ? buf.writeUInt8(d, at) : buf.writeInt16BE(d, at);
    if (padding > 0) buf[buf.length - 1] = padding;
    return buf;
  }
}

/** x as a signed 16-bit distance. */
function signed16(x: number): number {
  return ((x + 0x8000) & 0xffff) - 0x8000;
}

/**
 * Packet status chunks for the symbols (§3.1.2-3.1.4): a run length chunk for a run of 14 or more
 * (7 or more large deltas) or for a run that ends the list, else a status vector chunk, with 1-bit
 * symbols when the next 14 have no large delta, 2-bit ones otherwise. A vector past the end is
 * filled with "not received"; receivers stop at the packet status count.
 */
function encodeChunks(symbols: number[]): number[] {
  const chunks: number[] = [];
  const n = symbols.length;
  let i = 0;
  while (i < n) {
    const s = symbols[i];
    let run = 1;
    while (i + run < n && run < MAX_RUN && symbols[i + run] === s) run++;
    if (run >= 14 || run === n - i || (s === LARGE_DELTA && run >= 7)) {
      chunks.push((s << 13) | run);
      i += run;
      continue;
    }
    let large = false;
    for (let k = i; k < Math.min(n, i + 14); k++) if (symbols[k] === LARGE_DELTA) large = true;
    let chunk: number;
    if (!large) {
      chunk = 0x8000;
      for (let k = 0; k < 14 && i + k < n; k++) if (symbols[i + k] === SMALL_DELTA) chunk |= 1 << (13 - k);
      i += 14;
    } else {
      chunk = 0xc000;
      for (let k = 0; k < 7 && i + k < n; k++) chunk |= symbols[i + k] << (2 * (6 - k));
      i += 7;
    }
    chunks.push(chunk);
  }
  return chunks;
}

/**
 * The transport-wide sequence number from its header extension payload (§2: 16 bits, big endian;
 * transport-wide-cc-02 may append 2 bytes of feedback request), or null when too short.
 */
export function parseTransportSeq(extensionPayload: Buffer): number | null {
  return extensionPayload.length >= 2 ? extensionPayload.readUInt16BE(0) : null;
}
