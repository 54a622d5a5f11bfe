/**
 * SRT encryption primitives (draft-sharabayko-srt-01 §3.2.2, §6; libsrt's HaiCrypt): the passphrase
 * KEK, RFC 3394 key wrap, the Key Material message and AES-CTR of data packet payloads.
 *
 * Pure: node:crypto only, no sockets, no timers. The only state is two small bounded caches (the
 * PBKDF2 result per passphrase/salt/length, and the per-SEK payload context), which make repeated
 * KM messages (a caller retransmits its CONCLUSION every 250 ms) and every data packet cheap.
 *
 * Layout notes, checked against HaiCrypt (hcrypt.h, hcrypt_msg.h, hcrypt_sa.c, hcrypt_ctx_rx.c):
 * - IV: the draft's §6.2.2 text says `(MSB(112, Salt) << 2) XOR PktSeqNo`; the "<< 2" is not what
 *   libsrt does. HaiCrypt (and §6.1.2's figure) puts the 32-bit packet index at bytes 10..13 of a
 *   zeroed block, XORs bytes 0..13 with the first 14 salt bytes, and leaves bytes 14..15 as the
 *   block counter. We follow HaiCrypt, since that is what is on the wire.
 * - PBKDF2 salt: the *last* 8 bytes of the KM salt (LSB(64, Salt)), while the IV uses the *first* 14.
 * - KK=3 wraps both SEKs in one RFC 3394 run (one 8-byte ICV, even key first), not two wraps.
 */
import { createCipheriv, createDecipheriv, pbkdf2Sync, randomBytes, timingSafeEqual, type Cipher, type Decipher } from 'node:crypto';
import { ParseError, ProtocolError } from '../../core/errors.js';

export type KeyLength = 16 | 24 | 32;
/** KK bits: 1 = even key, 2 = odd key, 3 = both. */
export type KeyIndex = 1 | 2 | 3;
export interface KeyMaterial {
  keyLength: KeyLength;
  salt: Buffer; // 16 bytes
  even: Buffer | null; // SEK for KK=1 (keyLength bytes)
  odd: Buffer | null; // SEK for KK=2
}
export type KmDecodeResult = { ok: true; km: KeyMaterial } | { ok: false; reason: 'bad-secret' | 'malformed'; message: string };

/** The KM salt length libsrt uses (HAICRYPT_SALT_SZ); SLen/4 is always 4 on the wire. */
export const KM_SALT_LENGTH = 16;
/** PBKDF2 iteration count (HAICRYPT_PBKDF2_ITER_CNT). */
export const PBKDF2_ITERATIONS = 2048;
/** Bytes of the salt fed to PBKDF2: its last (least significant) 8 (HAICRYPT_PBKDF2_SALT_LEN). */
export const PBKDF2_SALT_LENGTH = 8;
/** The RFC 3394 integrity check value prepended to the wrapped key(s). */
export const WRAP_ICV_LENGTH = 8;
/** Fixed KM header length (before the salt). */
export const KM_HEADER_LENGTH = 16;
/** Largest valid KM message: header + salt + two 32-byte SEKs + ICV = 104 bytes (HCRYPT_MSG_KM_MAX_SZ). */
export const KM_MAX_LENGTH = KM_HEADER_LENGTH + KM_SALT_LENGTH + 2 * 32 + WRAP_ICV_LENGTH;
/** libsrt's passphrase limits (SRTO_PASSPHRASE: 10..79 characters); not enforced here, for config checks. */
export const PASSPHRASE_MIN_LENGTH = 10;
export const PASSPHRASE_MAX_LENGTH = 79;

/** Byte 0: S=0, V=1, PT=2 (Keying Material). */
const KM_BYTE0 = 0x12;
/** 'HAI' as a PnP vendor ID: ('H'-'@')<<10 | ('A'-'@')<<5 | ('I'-'@'). */
const KM_SIGN = 0x2029;
const CIPHER_AES_CTR = 2;
const AUTH_NONE = 0;
const SE_SRT = 2;

const WRAP_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
const PKI_OFFSET = 10;
const NONCE_LENGTH = 14;

export function isKeyLength(n: number): n is KeyLength {
  return n === 16 || n === 24 || n === 32;
}

function assertKeyLength(n: number, what: string): asserts n is KeyLength {
  if (!isKeyLength(n)) throw new ProtocolError(`${what} must be 16, 24 or 32 bytes, not ${n}`);
}

function assertSalt(salt: Buffer): void {
  if (salt.length !== KM_SALT_LENGTH) throw new ProtocolError(`SRT salt must be ${KM_SALT_LENGTH} bytes, not ${salt.length}`);
}

// ---------------------------------------------------------------------------------------------
// KEK

const KEK_CACHE_MAX = 32;
/** Most recently used last; keys hold the passphrase, so the cache stays small and bounded. */
const kekCache = new Map<string, Buffer>();

/** PBKDF2-HMAC-SHA1, 2048 iterations, salt = the last 8 bytes (LSB 64 bits) of the 16-byte KM salt, output keyLength bytes (draft §6.1.4; libsrt/HaiCrypt behaviour). */
export function deriveKek(passphrase: string, salt: Buffer, keyLength: KeyLength): Buffer {
  assertSalt(salt);
  assertKeyLength(keyLength, 'KEK');
  const pbkdfSalt = salt.subarray(KM_SALT_LENGTH - PBKDF2_SALT_LENGTH);
  const cacheKey = `${keyLength}:${pbkdfSalt.toString('hex')}:${passphrase}`;
  const hit = kekCache.get(cacheKey);
  if (hit) {
    kekCache.delete(cacheKey);
    kekCache.set(cacheKey, hit);
    return Buffer.from(hit);
  }
  const kek = pbkdf2Sync(Buffer.from(passphrase, 'utf8'), pbkdfSalt, PBKDF2_ITERATIONS, keyLength, 'sha1');
  kekCache.set(cacheKey, Buffer.from(kek));
  if (kekCache.size > KEK_CACHE_MAX) kekCache.delete(kekCache.keys().next().value!);
  return kek;
}

// ---------------------------------------------------------------------------------------------
// RFC 3394 key wrap

function ecbName(kek: Buffer): string {
  assertKeyLength(kek.length, 'KEK');
  return `aes-${kek.length * 8}-ecb`;
}

/** XORs the 64-bit big-endian step counter t into the first 8 bytes of `block`. */
function xorStep(block: Buffer, t: number): void {
  block.writeUInt32BE((block.readUInt32BE(0) ^ Math.floor(t / 0x1_0000_0000)) >>> 0, 0);
  block.writeUInt32BE((block.readUInt32BE(4) ^ t) >>> 0, 4);
}

/** One raw AES block through a reusable no-padding ECB cipher. */
function aesBlock(c: Cipher | Decipher, block: Buffer): Buffer {
  const out = c.update(block);
  if (out.length !== 16) throw new ProtocolError('AES block operation returned a short block');
  return out;
}

function checkKeyDataLength(n: number, what: string): void {
  if (n % 8 !== 0 || n < 16 || n > 0x1000) throw new ParseError(`${what} must be a multiple of 8 bytes between 16 and 4096, not ${n}`);
}

/** RFC 3394 AES key wrap with the default IV A6A6A6A6A6A6A6A6. */
export function wrapKey(kek: Buffer, key: Buffer): Buffer {
  const name = ecbName(kek);
  checkKeyDataLength(key.length, 'key to wrap');
  const n = key.length / 8;
  const aes = createCipheriv(name, kek, null).setAutoPadding(false);
  const r = Buffer.from(key);
  const block = Buffer.alloc(16);
  WRAP_IV.copy(block, 0);
  for (let j = 0; j < 6; j++) {
    for (let i = 0; i < n; i++) {
      r.copy(block, 8, i * 8, i * 8 + 8);
      const b = aesBlock(aes, block);
      b.copy(block, 0, 0, 8); // A = MSB(64, B) ^ t
      xorStep(block, n * j + i + 1);
      b.copy(r, i * 8, 8, 16); // R[i] = LSB(64, B)
    }
  }
  return Buffer.concat([block.subarray(0, 8), r]);
}

/** RFC 3394 unwrap; returns null when the integrity check fails (wrong passphrase). Throws ParseError on an impossible length. */
export function unwrapKey(kek: Buffer, wrapped: Buffer): Buffer | null {
  const name = ecbName(kek);
  checkKeyDataLength(wrapped.length - 8, 'wrapped key data');
  const n = wrapped.length / 8 - 1;
  const aes = createDecipheriv(name, kek, null).setAutoPadding(false);
  const r = Buffer.from(wrapped.subarray(8));
  const block = Buffer.alloc(16);
  wrapped.copy(block, 0, 0, 8);
  for (let j = 5; j >= 0; j--) {
    for (let i = n - 1; i >= 0; i--) {
      xorStep(block, n * j + i + 1); // A ^ t
      r.copy(block, 8, i * 8, i * 8 + 8);
      const b = aesBlock(aes, block);
      b.copy(block, 0, 0, 8);
      b.copy(r, i * 8, 8, 16);
    }
  }
  if (!timingSafeEqual(block.subarray(0, 8), WRAP_IV)) {
    r.fill(0);
    return null;
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Key Material message

/** Makes fresh random key material (salt + SEK(s)). */
export function generateKeyMaterial(keyLength: KeyLength, which: KeyIndex): KeyMaterial {
  assertKeyLength(keyLength, 'SEK');
  if (which !== 1 && which !== 2 && which !== 3) throw new ProtocolError(`KK must be 1, 2 or 3, not ${String(which)}`);
  return {
    keyLength,
    salt: randomBytes(KM_SALT_LENGTH),
    even: which & 1 ? randomBytes(keyLength) : null,
    odd: which & 2 ? randomBytes(keyLength) : null,
  };
}

/** The KK bits a KeyMaterial carries (0 when it has no key at all). */
export function keyIndexOf(km: KeyMaterial): KeyIndex | 0 {
  return ((km.even ? 1 : 0) | (km.odd ? 2 : 0)) as KeyIndex | 0;
}

/** Encodes a Key Material message (draft §3.2.2: 0x12 (S=0,V=1,PT=2), Sign 0x2029, KK, KEKI 0, Cipher 2 = AES-CTR, Auth 0, SE 2, SLen/4, KLen/4, salt, wrapped key(s); for KK=3 the even and odd SEKs are wrapped together, even first). */
export function encodeKeyMaterial(km: KeyMaterial, passphrase: string): Buffer {
  assertKeyLength(km.keyLength, 'SEK');
  assertSalt(km.salt);
  const kk = keyIndexOf(km);
  if (kk === 0) throw new ProtocolError('key material has neither an even nor an odd SEK');
  const keys = [km.even, km.odd].filter((k): k is Buffer => k !== null);
  for (const k of keys) if (k.length !== km.keyLength) throw new ProtocolError(`SEK is ${k.length} bytes, key material says ${km.keyLength}`);
  const wrapped = wrapKey(deriveKek(passphrase, km.salt, km.keyLength), Buffer.concat(keys));
  const msg = Buffer.alloc(KM_HEADER_LENGTH + KM_SALT_LENGTH + wrapped.length);
  msg[0] = KM_BYTE0;
  msg.writeUInt16BE(KM_SIGN, 1);
  msg[3] = kk; // 6 reserved bits = 0
  // 4..7 KEKI = 0 (passphrase-derived KEK)
  msg[8] = CIPHER_AES_CTR;
  msg[9] = AUTH_NONE;
  msg[10] = SE_SRT;
  // 11 Resv1, 12..13 Resv2 = 0
  msg[14] = KM_SALT_LENGTH / 4;
  msg[15] = km.keyLength / 4;
  km.salt.copy(msg, KM_HEADER_LENGTH);
  wrapped.copy(msg, KM_HEADER_LENGTH + KM_SALT_LENGTH);
  return msg;
}

function malformed(message: string): KmDecodeResult {
  return { ok: false, reason: 'malformed', message };
}

/** Decodes and unwraps a KM message (size-limited; never throws on hostile input). */
export function decodeKeyMaterial(msg: Buffer, passphrase: string): KmDecodeResult {
  try {
    return decodeUnsafe(msg, passphrase);
  } catch (err) {
    // Not reachable with the checks below; kept so that hostile bytes can never escape as a throw.
    return malformed(`KM message: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function decodeUnsafe(msg: Buffer, passphrase: string): KmDecodeResult {
  if (msg.length > KM_MAX_LENGTH) return malformed(`KM message of ${msg.length} bytes exceeds ${KM_MAX_LENGTH}`);
  if (msg.length < KM_HEADER_LENGTH) return malformed(`KM message of ${msg.length} bytes is shorter than its ${KM_HEADER_LENGTH}-byte header`);
  if (msg[0] !== KM_BYTE0) return malformed(`KM byte 0 is 0x${msg[0]!.toString(16)}, expected 0x12 (S=0, V=1, PT=2)`);
  const sign = msg.readUInt16BE(1);
  if (sign !== KM_SIGN) return malformed(`KM sign is 0x${sign.toString(16)}, expected 0x2029`);
  const kk = msg[3]! & 0x03; // the 6 reserved bits are ignored, as libsrt does
  if (kk === 0) return malformed('KM message carries no key (KK=0)');
  const keki = msg.readUInt32BE(4);
  if (keki !== 0) return malformed(`KM KEKI ${keki} is not supported (only 0, a passphrase-derived KEK)`);
  if (msg[8] !== CIPHER_AES_CTR) return malformed(`KM cipher ${msg[8]!} is not supported (only 2, AES-CTR)`);
  if (msg[9] !== AUTH_NONE) return malformed(`KM auth ${msg[9]!} is not supported (only 0)`);
  if (msg[10] !== SE_SRT) return malformed(`KM stream encapsulation ${msg[10]!} is not 2 (SRT)`);
  const saltLength = msg[14]! * 4;
  if (saltLength !== KM_SALT_LENGTH) return malformed(`KM salt length ${saltLength} is not ${KM_SALT_LENGTH}`);
  const keyLength = msg[15]! * 4;
  if (!isKeyLength(keyLength)) return malformed(`KM key length ${keyLength} is not 16, 24 or 32`);
  const keyCount = kk === 3 ? 2 : 1;
  const expected = KM_HEADER_LENGTH + saltLength + WRAP_ICV_LENGTH + keyCount * keyLength;
  if (msg.length !== expected) return malformed(`KM message is ${msg.length} bytes, expected ${expected} for KK=${kk} and ${keyLength}-byte keys`);

  const salt = Buffer.from(msg.subarray(KM_HEADER_LENGTH, KM_HEADER_LENGTH + saltLength));
  const kek = deriveKek(passphrase, salt, keyLength);
  const keys = unwrapKey(kek, msg.subarray(KM_HEADER_LENGTH + saltLength));
  kek.fill(0);
  if (!keys) return { ok: false, reason: 'bad-secret', message: 'KM key unwrap failed: wrong passphrase' };
  let even: Buffer | null = null;
  let odd: Buffer | null = null;
  if (kk === 3) {
    even = keys.subarray(0, keyLength);
    odd = keys.subarray(keyLength);
  } else if (kk === 1) even = keys;
  else odd = keys;
  return { ok: true, km: { keyLength, salt, even, odd } };
}

// ---------------------------------------------------------------------------------------------
// Payload AES-CTR

/** Per-SEK state: a private copy of the key, its cipher name and the salt-derived IV prefix. */
class PayloadContext {
  readonly key: Buffer;
  readonly salt: Buffer;
  private readonly algorithm: string;
  private readonly nonce: Buffer;

  constructor(sek: Buffer, salt: Buffer) {
    assertKeyLength(sek.length, 'SEK');
    assertSalt(salt);
    this.key = Buffer.from(sek);
    this.salt = Buffer.from(salt);
    this.algorithm = `aes-${sek.length * 8}-ctr`;
    this.nonce = Buffer.alloc(16);
    salt.copy(this.nonce, 0, 0, NONCE_LENGTH); // bytes 14..15 stay 0: the block counter
  }

  matches(sek: Buffer, salt: Buffer): boolean {
    return this.key.equals(sek) && this.salt.equals(salt);
  }

  crypt(packetIndex: number, payload: Buffer): Buffer {
    if (!Number.isInteger(packetIndex) || packetIndex < 0 || packetIndex > 0xffff_ffff) {
      throw new ProtocolError(`SRT packet index ${String(packetIndex)} is not a 32-bit unsigned integer`);
    }
    const iv = Buffer.from(this.nonce);
    iv.writeUInt32BE((iv.readUInt32BE(PKI_OFFSET) ^ packetIndex) >>> 0, PKI_OFFSET);
    // CTR is a stream cipher: update() returns exactly payload.length bytes and final() nothing.
    return createCipheriv(this.algorithm, this.key, iv).update(payload);
  }
}

/** Keyed by the caller's SEK Buffer; each hit is checked against private copies of key and salt. */
const payloadContexts = new WeakMap<Buffer, PayloadContext>();

/**
 * AES-CTR of one SRT data packet payload (draft §6.2 / HaiCrypt): IV is 16 bytes, bytes 0..13 = the first 14 bytes of the salt (112 bits), with bytes 10..13 XORed with the 32-bit packet index (the packet's sequence number, big-endian), bytes 14..15 = 0 (block counter). Encrypt and decrypt are the same operation. Returns a new Buffer.
 */
export function cryptPayload(sek: Buffer, salt: Buffer, packetIndex: number, payload: Buffer): Buffer {
  let ctx = payloadContexts.get(sek);
  if (!ctx || !ctx.matches(sek, salt)) {
    ctx = new PayloadContext(sek, salt);
    payloadContexts.set(sek, ctx);
  }
  return ctx.crypt(packetIndex, payload);
}
