/**
 * VP8 RTP payload format (RFC 7741): a depacketizer for ingest and a packetizer for output.
 *
 * Each packet starts with a payload descriptor (§4.2); a frame starts at S = 1 with partition
 * index 0 and ends with the RTP marker (§4.1). The frame's own header (RFC 6386 §9.1) tells a
 * keyframe and its size. Hostile input never throws: malformed packets are counted and the frame
 * they belong to is dropped.
 */
import { DEFAULT_MAX_PAYLOAD, type RtpPayload } from './h264.js';

export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;
const DEFAULT_MAX_PACKETS = 16_384;

export interface Vp8Frame {
  /** One VP8 frame (RFC 6386), as a decoder takes it. */
  data: Buffer;
  /** RTP timestamp (90 kHz). */
  timestamp: number;
  keyframe: boolean;
  /** From a keyframe's header (14 bits each; the scaling bits are left out). */
  width?: number;
  height?: number;
}

export interface Vp8DepacketizerOptions {
  /** Largest frame; a larger one is dropped. Default 8 MiB. */
  maxFrameBytes?: number;
  /** Most RTP packets in one frame. Default 16384. */
  maxPackets?: number;
}

export interface Vp8DepacketizerStats {
  /** Frames returned. */
  frames: number;
  /** Frames dropped: damaged by loss, malformed, oversized, or waiting for a keyframe. */
  dropped: number;
  /** Packets with a broken payload descriptor, and frames with a broken frame header. */
  malformed: number;
  /** Frames over maxFrameBytes / maxPackets (also counted in dropped). */
  oversized: number;
}

export interface Vp8Descriptor {
  /** Bytes of the descriptor: the VP8 payload follows. */
  length: number;
  /** S: the first packet of a partition. */
  start: boolean;
  /** PID: partition index. */
  partition: number;
  /** N: a non-reference frame (it may be discarded without harm). */
  nonReference: boolean;
  pictureId?: number;
}

/** Parses a payload descriptor (RFC 7741 §4.2); null when it runs past the packet or has no payload after it. */
export function parseVp8Descriptor(p: Buffer): Vp8Descriptor | null {
  if (p.length < 2) return null;
  const b0 = p[0]!;
  let pos = 1;
  let pictureId: number | undefined;
  if (b0 & 0x80) {
    // X: I (picture id), L (TL0PICIDX), T (TID/Y), K (KEYIDX); T and K share one octet.
    const x = p[pos++]!;
    if (x & 0x80) {
      if (pos >= p.length) return null;
      if (p[pos]! & 0x80) {
        if (pos + 2 > p.length) return null;
        pictureId = p.readUInt16BE(pos) & 0x7fff;
        pos += 2;
      } else pictureId = p[pos++]!;
    }
    if (x & 0x40) pos++;
    if (x & 0x30) pos++;
  }
  if (pos >= p.length) return null;
  const d: Vp8Descriptor = { length: pos, start: (b0 & 0x10) !== 0, partition: b0 & 0x07, nonReference: (b0 & 0x20) !== 0 };
  if (pictureId !== undefined) d.pictureId = pictureId;
  return d;
}

export interface Vp8FrameHeader {
  keyframe: boolean;
  version: number;
  show: boolean;
  /** Size of the first partition (after the 3- or 10-byte header). */
  firstPartitionSize: number;
  width?: number;
  height?: number;
  horizontalScale?: number;
  verticalScale?: number;
}

/** RFC 6386 §9.1: the frame tag (3 bytes), and on a keyframe the start code 9d 01 2a and the size. */
export function parseVp8FrameHeader(frame: Buffer): Vp8FrameHeader | null {
  if (frame.length < 3) return null;
  const tag = frame[0]! | (frame[1]! << 8) | (frame[2]! << 16);
  const keyframe = (tag & 1) === 0; // P: 0 for a keyframe
  const version = (tag >> 1) & 7;
  const firstPartitionSize = tag >>> 5;
  if (version > 3) return null;
  const header: Vp8FrameHeader = { keyframe, version, show: (tag & 0x10) !== 0, firstPartitionSize };
  if (!keyframe) return 3 + firstPartitionSize <= frame.length ? header : null;
  if (frame.length < 10 || frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) return null;
  if (10 + firstPartitionSize > frame.length) return null;
  const w = frame.readUInt16LE(6);
  const h = frame.readUInt16LE(8);
  header.width = w & 0x3fff;
  header.height = h & 0x3fff;
  header.horizontalScale = w >> 14;
  header.verticalScale = h >> 14;
  if (header.width === 0 || header.height === 0) return null;
  return header;
}

interface OpenFrame {
  timestamp: number;
  parts: Buffer[];
  bytes: number;
  damaged: boolean;
}

export class Vp8Depacketizer {
  readonly stats: Vp8DepacketizerStats = { frames: 0, dropped: 0, malformed: 0, oversized: 0 };
  private readonly maxFrameBytes: number;
  private readonly maxPackets: number;
  private frame: OpenFrame | null = null;
  private keyframeNeeded = true;
  private lossPending = false;

  constructor(options: Vp8DepacketizerOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxPackets = options.maxPackets ?? DEFAULT_MAX_PACKETS;
  }

  /** True from a loss that damaged the picture until the next keyframe: the caller asks for one (PLI). */
  get needsKeyframe(): boolean {
    return this.keyframeNeeded;
  }

  /**
   * Packets in sequence order. Returns the frames this packet completes (marker set, or a new
   * timestamp while a frame was open). Payloads are referenced until the frame completes, and a
   * frame of one packet is a view into that packet's payload.
   */
  push(payload: Buffer, timestamp: number, marker: boolean, afterLoss: boolean): Vp8Frame[] {
    const out: Vp8Frame[] = [];
    if (payload.length === 0) {
      if (afterLoss) this.lossPending = true;
      return out;
    }
    const loss = afterLoss || this.lossPending;
    this.lossPending = false;
    const d = parseVp8Descriptor(payload);
    const first = d !== null && d.start && d.partition === 0;
    let frame = this.frame;
    if (frame && loss) this.damage(frame);
    if (frame && (frame.timestamp !== timestamp || first)) {
      // A new start on the same timestamp means the open frame lost its end.
      if (frame.timestamp === timestamp) this.damage(frame);
      this.finish(frame, out);
      frame = null;
    }
    // Whatever was lost, frames that follow may refer to it: only a keyframe goes out next.
    if (loss) this.keyframeNeeded = true;
    if (!frame) {
      // Without its first packet (S = 1, PID = 0) the frame is unusable. A frame that starts with it
      // after a loss is whole so far (the loss was before it): kept if it is a keyframe, which
      // depends on nothing earlier (often the very one that was asked for).
      frame = { timestamp, parts: [], bytes: 0, damaged: !first };
      this.frame = frame;
    }
    if (!d) {
      this.stats.malformed++;
      this.damage(frame);
    } else if (!frame.damaged) {
      const part = payload.subarray(d.length);
      frame.bytes += part.length;
      if (frame.bytes > this.maxFrameBytes || frame.parts.length >= this.maxPackets) {
        this.stats.oversized++;
        this.damage(frame);
      } else frame.parts.push(part);
    }
    if (marker) {
      this.finish(frame, out);
      this.frame = null;
    }
    return out;
  }

  /** Drops the open frame (SSRC change, sender restart); the next keyframe starts over. */
  reset(): void {
    if (this.frame) this.stats.dropped++;
    this.frame = null;
    this.lossPending = false;
    this.keyframeNeeded = true;
  }

  /** The frame will be dropped: let go of its data now. */
  private damage(frame: OpenFrame): void {
    frame.damaged = true;
    frame.parts = [];
  }

  private finish(frame: OpenFrame, out: Vp8Frame[]): void {
    if (!frame.damaged) {
      const data = frame.parts.length === 1 ? frame.parts[0]! : Buffer.concat(frame.parts, frame.bytes);
      const header = parseVp8FrameHeader(data);
      if (!header) this.stats.malformed++;
      else if (header.keyframe || !this.keyframeNeeded) {
        const f: Vp8Frame = { data, timestamp: frame.timestamp, keyframe: header.keyframe };
        if (header.width !== undefined) f.width = header.width;
        if (header.height !== undefined) f.height = header.height;
        this.keyframeNeeded = false;
        this.stats.frames++;
        out.push(f);
        return;
      }
      this.stats.dropped++;
      if (!header) this.keyframeNeeded = true;
      return;
    }
    this.stats.dropped++;
    this.keyframeNeeded = true;
  }
}

export interface Vp8PacketizeOptions {
  maxPayload?: number;
}

/**
 * Packetizes one VP8 frame: a one-byte descriptor (§4.2) with S on the first packet, partition
 * index 0 and no picture id, then as much of the frame as fits; marker on the last packet.
 */
export function packetizeVp8(frame: Buffer, options: Vp8PacketizeOptions = {}): RtpPayload[] {
  const max = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  if (max < 16) throw new RangeError('maxPayload too small');
  const out: RtpPayload[] = [];
  const chunk = max - 1;
  for (let pos = 0; pos < frame.length; pos += chunk) {
    const end = Math.min(frame.length, pos + chunk);
    const b = Buffer.allocUnsafe(1 + end - pos);
    b[0] = pos === 0 ? 0x10 : 0x00;
    frame.copy(b, 1, pos, end);
    out.push({ payload: b, marker: end === frame.length });
  }
  return out;
}
