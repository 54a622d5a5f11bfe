/**
 * G.711 (ITU-T G.711) µ-law and A-law: one byte per sample at 8 kHz, as cameras send it in RTP
 * (PCMU, payload type 0; PCMA, 8). Decoding is a 256-entry table lookup. Pure.
 */

export type G711Law = 'pcmu' | 'pcma';

function ulaw(byte: number): number {
  const u = ~byte & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

function alaw(byte: number): number {
  const a = byte ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

const TABLES: Record<G711Law, Int16Array> = {
  pcmu: Int16Array.from({ length: 256 }, (_, i) => ulaw(i)),
  pcma: Int16Array.from({ length: 256 }, (_, i) => alaw(i)),
};

/** 16-bit linear samples of G.711 bytes. */
export function decodeG711(law: G711Law, data: Uint8Array): Int16Array {
  const table = TABLES[law];
  const out = new Int16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = table[data[i]!]!;
  return out;
}

export const G711_RATE = 8000;
