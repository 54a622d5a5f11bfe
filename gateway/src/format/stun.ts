/**
 * The few STUN (RFC 8489) facts a media server needs to route and answer on a shared port: telling a
 * STUN message from DTLS/RTP, reading USERNAME (the ICE ufrags, RFC 8445 §7.2.2), checking
 * MESSAGE-INTEGRITY with a short-term password, and making/reading a Binding request for public
 * address discovery. Pure: no sockets.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const STUN_MAGIC_COOKIE = 0x2112a442;
export const STUN_HEADER_SIZE = 20;
/** Larger STUN messages are not ICE checks: never parsed. */
export const STUN_MAX_SIZE = 1500;

export const STUN_BINDING_REQUEST = 0x0001;
export const STUN_BINDING_SUCCESS = 0x0101;

const ATTR_USERNAME = 0x0006;
const ATTR_MESSAGE_INTEGRITY = 0x0008;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const ATTR_MAPPED_ADDRESS = 0x0001;
const MESSAGE_INTEGRITY_SIZE = 20;
/** RFC 8489 §14.3: USERNAME is at most 513 bytes. */
const MAX_USERNAME = 513;

/**
 * Whether a datagram is a STUN message: first two bits zero, the magic cookie, a length that is a
 * multiple of 4 and matches the datagram (RFC 7983 §7 demultiplexing; DTLS starts at 20–63, RTP at 128–191).
 */
export function isStun(data: Buffer): boolean {
  if (data.length < STUN_HEADER_SIZE || data.length > STUN_MAX_SIZE) return false;
  if ((data[0]! & 0xc0) !== 0) return false;
  if (data.readUInt32BE(4) !== STUN_MAGIC_COOKIE) return false;
  const length = data.readUInt16BE(2);
  return (length & 3) === 0 && length + STUN_HEADER_SIZE === data.length;
}

export function stunType(data: Buffer): number {
  return data.readUInt16BE(0);
}

export function stunTransactionId(data: Buffer): Buffer {
  return data.subarray(8, 20);
}

interface Attribute {
  type: number;
  /** Offset of the attribute's header in the message. */
  offset: number;
  value: Buffer;
}

/** The attributes of a message that passed `isStun`; stops at the first malformed one. */
function* attributes(data: Buffer): Generator<Attribute> {
  let offset = STUN_HEADER_SIZE;
  while (offset + 4 <= data.length) {
    const type = data.readUInt16BE(offset);
    const length = data.readUInt16BE(offset + 2);
    const start = offset + 4;
    if (start + length > data.length) return;
    yield { type, offset, value: data.subarray(start, start + length) };
    offset = start + ((length + 3) & ~3);
  }
}

function find(data: Buffer, type: number): Attribute | undefined {
  for (const a of attributes(data)) if (a.type === type) return a;
  return undefined;
}

/** USERNAME as text, or undefined when absent or too long. */
export function stunUsername(data: Buffer): string | undefined {
  const a = find(data, ATTR_USERNAME);
  if (!a || a.value.length === 0 || a.value.length > MAX_USERNAME) return undefined;
  return a.value.toString('utf8');
}

/**
 * The local ufrag an ICE connectivity check is for: a check's USERNAME is "<receiver ufrag>:<sender
 * ufrag>", so on the receiving side it is the part before the colon.
 */
export function checkedUfrag(data: Buffer): string | undefined {
  const username = stunUsername(data);
  if (!username) return undefined;
  const colon = username.indexOf(':');
  return colon > 0 ? username.slice(0, colon) : undefined;
}

/**
 * RFC 8489 §14.5: HMAC-SHA1 with the short-term password over the message up to MESSAGE-INTEGRITY,
 * with the header's length as if that attribute ended the message.
 */
export function hasValidIntegrity(data: Buffer, password: string | Buffer): boolean {
  const a = find(data, ATTR_MESSAGE_INTEGRITY);
  if (!a || a.value.length !== MESSAGE_INTEGRITY_SIZE) return false;
  const header = Buffer.from(data.subarray(0, STUN_HEADER_SIZE));
  header.writeUInt16BE(a.offset + 4 + MESSAGE_INTEGRITY_SIZE - STUN_HEADER_SIZE, 2);
  const mac = createHmac('sha1', password).update(header).update(data.subarray(STUN_HEADER_SIZE, a.offset)).digest();
  return timingSafeEqual(mac, a.value);
}

/** A Binding request with no attributes (RFC 8489 §6.1), for asking a STUN server our public address. */
export function bindingRequest(transactionId: Buffer = randomBytes(12)): Buffer {
  const out = Buffer.alloc(STUN_HEADER_SIZE);
  out.writeUInt16BE(STUN_BINDING_REQUEST, 0);
  out.writeUInt16BE(0, 2);
  out.writeUInt32BE(STUN_MAGIC_COOKIE, 4);
  transactionId.copy(out, 8);
  return out;
}

export interface MappedAddress {
  address: string;
  port: number;
}

/** The (XOR-)MAPPED-ADDRESS of a Binding success response (IPv4 only), or undefined. */
export function mappedAddress(data: Buffer): MappedAddress | undefined {
  if (!isStun(data) || stunType(data) !== STUN_BINDING_SUCCESS) return undefined;
  const xor = find(data, ATTR_XOR_MAPPED_ADDRESS);
  const plain = xor ? undefined : find(data, ATTR_MAPPED_ADDRESS);
  const a = xor ?? plain;
  if (!a || a.value.length !== 8 || a.value[1] !== 0x01) return undefined;
  let port = a.value.readUInt16BE(2);
  let ip = a.value.readUInt32BE(4);
  if (xor) {
    port ^= STUN_MAGIC_COOKIE >>> 16;
    ip = (ip ^ STUN_MAGIC_COOKIE) >>> 0;
  }
  return { address: [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.'), port };
}
