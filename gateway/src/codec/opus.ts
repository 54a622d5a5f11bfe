/**
 * Opus packet facts (RFC 6716 §3.1) and the OpusHead (RFC 7845 §5.1). Pure.
 */

export const OPUS_RATE = 48_000;

/** Frame sizes in 48 kHz samples by TOC config (RFC 6716 §3.1): SILK, Hybrid, CELT. */
function opusFrameSamples(config: number): number {
  if (config < 12) return [480, 960, 1920, 2880][config & 3]!;
  if (config < 16) return [480, 960][config & 1]!;
  return [120, 240, 480, 960][config & 3]!;
}

/** Duration of an Opus packet in 48 kHz samples from its TOC byte (and frame count byte), or null if invalid. */
export function opusSamples(packet: Buffer): number | null {
  if (packet.length === 0) return null;
  const toc = packet[0]!;
  const code = toc & 3;
  const frames = code === 0 ? 1 : code === 3 ? (packet.length >= 2 ? packet[1]! & 0x3f : 0) : 2;
  const samples = frames * opusFrameSamples(toc >> 3);
  if (frames === 0 || samples > 5760) return null; // at most 120 ms per packet
  return samples;
}

/** An OpusHead (RFC 7845 §5.1): version 1, 48 kHz, pre-skip 0, gain 0, channel mapping family 0. */
export function buildOpusHead(channels: number): Buffer {
  const h = Buffer.alloc(19);
  h.write('OpusHead', 0, 'latin1');
  h[8] = 1;
  h[9] = channels;
  h.writeUInt16LE(0, 10);
  h.writeUInt32LE(OPUS_RATE, 12);
  h.writeInt16LE(0, 16);
  h[18] = 0;
  return h;
}

/** Channels coded in an Opus packet (the TOC's stereo flag), or null for an empty packet. */
export function opusChannels(packet: Buffer): 1 | 2 | null {
  if (packet.length === 0) return null;
  return packet[0]! & 0x04 ? 2 : 1;
}
