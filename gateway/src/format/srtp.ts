/**
 * SRTP protection of outgoing RTP, and SRTCP both ways, with the AES_CM_128_HMAC_SHA1_80 profile (RFC 3711
 * §3.4, §4.1.1, §4.2, §4.3; RFC 5764 §4.1.2), made for fan-out: one AES-ECB cipher per context makes the counter-mode
 * keystream (one `update()` per packet, no cipher object per packet), the HMAC is two one-shot SHA-1
 * hashes over pads kept beside the packet (no HMAC object per packet), and the packet is written once
 * into one Buffer from the pool. Pure: no sockets.
 */
import * as crypto from 'node:crypto';
import { createCipheriv, createHmac, timingSafeEqual, type Cipher } from 'node:crypto';

export const SRTP_AES128_CM_HMAC_SHA1_80 = 0x0001;
const KEY_LENGTH = 16;
const SALT_LENGTH = 14;
const AUTH_KEY_LENGTH = 20;
const AUTH_TAG_LENGTH = 10;
/** Largest RTP packet protected (bytes before the tag); larger ones are refused. */
export const SRTP_MAX_PACKET = 1500;
/** SHA-1's block: the HMAC pads sit in front of what they hash. */
const BLOCK = 64;

/** One-shot SHA-1 into a new Buffer (`crypto.hash`, Node ≥ 20.12), or null where Node lacks it. */
const sha1: ((data: Buffer) => Buffer) | null =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (data) => (crypto as unknown as { hash(algorithm: string, data: Buffer, encoding: 'buffer'): Buffer }).hash('sha1', data, 'buffer')
    : null;

function ecb(key: Buffer): Cipher {
  const cipher = createCipheriv('aes-128-ecb', key, null);
  cipher.setAutoPadding(false);
  return cipher;
}

/** AES-CM keystream of `length` bytes for the 16-byte IV `iv` (RFC 3711 §4.1.1: the block counter is the low 16 bits). */
function keystream(cipher: Cipher, iv: Buffer, length: number, blocks: Buffer): Buffer {
  const n = Math.ceil(length / 16);
  const bytes = n * 16;
  // The IV in every block (copies doubling in size), then each block's counter.
  iv.copy(blocks, 0, 0, 16);
  for (let filled = 16; filled < bytes; filled *= 2) blocks.copyWithin(filled, 0, Math.min(filled, bytes - filled));
  const base = (iv[14]! << 8) | iv[15]!;
  for (let j = 1; j < n; j++) {
    const counter = (base + j) & 0xffff;
    blocks[j * 16 + 14] = counter >>> 8;
    blocks[j * 16 + 15] = counter & 0xff;
  }
  return cipher.update(blocks.subarray(0, bytes));
}

/** The AES-CM keystream for `key` and a 16-byte IV (exposed for the RFC 3711 B.2 vector). */
export function aesCmKeystream(key: Buffer, iv: Buffer, length: number): Buffer {
  const blocks = Buffer.alloc(Math.ceil(length / 16) * 16);
  return Buffer.from(keystream(ecb(key), Buffer.from(iv), length, blocks).subarray(0, length));
}

/** RFC 3711 §4.3.1: the session key, salt or auth key with `label`, from the master key and salt (kdr 0). */
export function deriveSessionKey(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0);
  iv[7] = iv[7]! ^ label;
  const blocks = Buffer.alloc(Math.ceil(length / 16) * 16);
  return Buffer.from(keystream(ecb(masterKey), iv, length, blocks).subarray(0, length));
}

/** out[at..at+n) ^= ks[0..n), four bytes at a time where both are aligned (they normally are). */
function xorInto(out: Buffer, at: number, ks: Buffer, n: number): void {
  const start = out.byteOffset + at;
  let k = 0;
  if ((start & 3) === 0 && (ks.byteOffset & 3) === 0) {
    const words = n >>> 2;
    const a = new Uint32Array(out.buffer, start, words);
    const b = new Uint32Array(ks.buffer, ks.byteOffset, words);
    for (let w = 0; w < words; w++) a[w] = a[w]! ^ b[w]!;
    k = words << 2;
  }
  for (; k < n; k++) out[at + k] = out[at + k]! ^ ks[k]!;
}

/**
 * One direction's AES_CM_128_HMAC_SHA1_80 session keys (RFC 3711 §4.3: labels 0–2 for SRTP, 3–5 for
 * SRTCP): the ECB cipher that makes the counter keystream, the salt, and the HMAC-SHA1 tag as two
 * one-shot SHA-1 hashes, the key XOR ipad in front of the data and the key XOR opad in front of the
 * inner digest (no HMAC object per packet).
 */
class CmHmacKeys {
  readonly cipher: Cipher;
  readonly salt: Buffer;
  private readonly authKey: Buffer;
  private readonly ipad = Buffer.alloc(BLOCK, 0x36);
  private readonly outer = Buffer.alloc(BLOCK + 20, 0x5c);

  constructor(masterKey: Buffer, masterSalt: Buffer, firstLabel: 0 | 3) {
    if (masterKey.length !== KEY_LENGTH || masterSalt.length !== SALT_LENGTH) throw new RangeError('AES_CM_128_HMAC_SHA1_80 takes a 16-byte key and a 14-byte salt');
    this.cipher = ecb(deriveSessionKey(masterKey, masterSalt, firstLabel, KEY_LENGTH));
    this.authKey = deriveSessionKey(masterKey, masterSalt, firstLabel + 1, AUTH_KEY_LENGTH);
    this.salt = deriveSessionKey(masterKey, masterSalt, firstLabel + 2, SALT_LENGTH);
    for (let i = 0; i < AUTH_KEY_LENGTH; i++) {
      this.ipad[i] = this.ipad[i]! ^ this.authKey[i]!;
      this.outer[i] = this.outer[i]! ^ this.authKey[i]!;
    }
  }

  /** HMAC-SHA1 of `room[BLOCK, BLOCK + n)`; the BLOCK bytes in front of it are the inner pad's room. */
  tag(room: Buffer, n: number): Buffer {
    if (!sha1) return createHmac('sha1', this.authKey).update(room.subarray(BLOCK, BLOCK + n)).digest();
    this.ipad.copy(room, 0);
    sha1(room.subarray(0, BLOCK + n)).copy(this.outer, BLOCK);
    return sha1(this.outer);
  }
}

interface SsrcState {
  /** Rollover counter (RFC 3711 §3.3.1). */
  roc: number;
  /** Highest sequence number sent, or -1 before the first. */
  lastSeq: number;
}

/** Protects the RTP packets one sender sends (any number of SSRCs) with one master key and salt. */
export class SrtpSender {
  private readonly keys: CmHmacKeys;
  private readonly iv = Buffer.alloc(16);
  private readonly blocks = Buffer.alloc(Math.ceil(SRTP_MAX_PACKET / 16) * 16);
  private readonly ssrcs = new Map<number, SsrcState>();

  constructor(masterKey: Buffer, masterSalt: Buffer) {
    this.keys = new CmHmacKeys(masterKey, masterSalt, 0);
  }

  /** The rollover counter for `seq` of `ssrc` (RFC 3711 §3.3.1; a sender's sequence numbers only move forward, or a little back for a retransmission). */
  private rocFor(ssrc: number, seq: number): number {
    let s = this.ssrcs.get(ssrc);
    if (!s) this.ssrcs.set(ssrc, (s = { roc: 0, lastSeq: -1 }));
    if (s.lastSeq < 0) {
      s.lastSeq = seq;
      return s.roc;
    }
    const delta = (seq - s.lastSeq) & 0xffff;
    if (delta === 0) return s.roc;
    if (delta < 0x8000) {
      if (seq < s.lastSeq) s.roc = (s.roc + 1) >>> 0;
      s.lastSeq = seq;
      return s.roc;
    }
    // An older packet (a retransmission): from before the wrap when it is numbered above the last.
    return seq > s.lastSeq ? (s.roc - 1) >>> 0 : s.roc;
  }

  /**
   * `header` (12 bytes and any CSRCs/extension, as it will be sent) then `payload`, encrypted and
   * authenticated into one new Buffer.
   */
  protect(header: Buffer, payload: Buffer): Buffer {
    const length = header.length + payload.length;
    if (length > SRTP_MAX_PACKET) throw new RangeError(`an RTP packet of ${length} bytes is over ${SRTP_MAX_PACKET}`);
    const seq = header.readUInt16BE(2);
    const ssrc = header.readUInt32BE(8);
    const roc = this.rocFor(ssrc, seq);
    // IV = (k_s · 2^16) XOR (SSRC · 2^64) XOR (i · 2^16), i = ROC · 2^16 + SEQ.
    const iv = this.iv;
    this.keys.salt.copy(iv, 0);
    iv[14] = 0;
    iv[15] = 0;
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    iv.writeUInt32BE((iv.readUInt32BE(8) ^ roc) >>> 0, 8);
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ seq, 12);
    // [key ^ ipad][header][payload][ROC, then the tag over it]: the inner hash reads the packet in place.
    const room = Buffer.allocUnsafe(BLOCK + length + AUTH_TAG_LENGTH);
    const out = room.subarray(BLOCK);
    header.copy(out, 0);
    payload.copy(out, header.length);
    xorInto(out, header.length, keystream(this.keys.cipher, iv, payload.length, this.blocks), payload.length);
    out.writeUInt32BE(roc, length);
    this.keys.tag(room, length + 4).copy(out, length, 0, AUTH_TAG_LENGTH);
    return out;
  }
}

/** The SRTCP trailer: the E flag and 31-bit index, then the tag (RFC 3711 §3.4). */
const SRTCP_TRAILER = 4 + AUTH_TAG_LENGTH;

/**
 * SRTCP with AES_CM_128_HMAC_SHA1_80 (RFC 3711 §3.4, §4.1.1, §4.2; keys of RFC 3711 §4.3.2 labels
 * 3–5): `protect` for the RTCP a sender sends (its reports), `unprotect` for what a peer sends (with
 * the peer's master key and salt). Like SrtpSender: one ECB cipher and the HMAC pads per context, no
 * object per packet. Compound packets up to SRTP_MAX_PACKET bytes; larger or shorter ones, and any
 * whose tag does not verify, are refused with an error.
 */
export class SrtcpContext {
  private readonly keys: CmHmacKeys;
  private readonly iv = Buffer.alloc(16);
  private readonly blocks = Buffer.alloc(Math.ceil(SRTP_MAX_PACKET / 16) * 16);
  /** The index of the last packet protected (one counter for every SSRC: it only has to rise per SSRC). */
  private index = 0;

  constructor(masterKey: Buffer, masterSalt: Buffer) {
    this.keys = new CmHmacKeys(masterKey, masterSalt, 3);
  }

  /** An RTCP compound packet, encrypted after its first 8 bytes, with the index and tag appended, in one new Buffer. */
  protect(rtcp: Buffer): Buffer {
    const length = rtcp.length;
    if (length < 8 || length > SRTP_MAX_PACKET) throw new RangeError(`an RTCP packet of ${length} bytes cannot be protected (8 to ${SRTP_MAX_PACKET})`);
    this.index = (this.index + 1) & 0x7fffffff;
    const room = Buffer.allocUnsafe(BLOCK + length + SRTCP_TRAILER);
    const out = room.subarray(BLOCK);
    rtcp.copy(out, 0);
    this.crypt(out, length, rtcp.readUInt32BE(4), this.index);
    out.writeUInt32BE((0x80000000 | this.index) >>> 0, length);
    this.keys.tag(room, length + 4).copy(out, length + 4, 0, AUTH_TAG_LENGTH);
    return out;
  }

  /** The RTCP compound packet inside `srtcp`, authenticated then decrypted, in a new Buffer. */
  unprotect(srtcp: Buffer): Buffer {
    const length = srtcp.length - SRTCP_TRAILER;
    if (length < 8 || length > SRTP_MAX_PACKET) throw new RangeError(`an SRTCP packet of ${srtcp.length} bytes is not one (${8 + SRTCP_TRAILER} to ${SRTP_MAX_PACKET + SRTCP_TRAILER})`);
    const room = Buffer.allocUnsafe(BLOCK + length + 4);
    srtcp.copy(room, BLOCK, 0, length + 4);
    const expected = this.keys.tag(room, length + 4).subarray(0, AUTH_TAG_LENGTH);
    if (!timingSafeEqual(expected, srtcp.subarray(length + 4))) throw new Error('SRTCP authentication failed');
    const out = room.subarray(BLOCK, BLOCK + length);
    const word = srtcp.readUInt32BE(length);
    if (word & 0x80000000) this.crypt(out, length, srtcp.readUInt32BE(4), word & 0x7fffffff);
    return out;
  }

  /** XORs the keystream of `index` for `ssrc` over everything after the first 8 bytes. */
  private crypt(out: Buffer, length: number, ssrc: number, index: number): void {
    // IV = (k_s · 2^16) XOR (SSRC · 2^64) XOR (index · 2^16).
    const iv = this.iv;
    this.keys.salt.copy(iv, 0);
    iv[14] = 0;
    iv[15] = 0;
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    iv.writeUInt16BE(iv.readUInt16BE(10) ^ (index >>> 16), 10);
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ (index & 0xffff), 12);
    xorInto(out, 8, keystream(this.keys.cipher, iv, length - 8, this.blocks), length - 8);
  }
}
