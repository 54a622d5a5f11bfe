/**
 * RTMP handshake (RTMP spec 1.0 §5.2), sans-IO. The server answers the plain handshake and also the
 * "digest" handshake that Flash-era clients and ffmpeg send: C1 carries an HMAC-SHA256 digest keyed
 * with the Flash Player key; S1 must then carry one keyed with the Media Server key, and S2 a
 * signature of the client's digest — ffmpeg checks both when it plays.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { ProtocolError } from '../../core/errors.js';

export const HANDSHAKE_SIZE = 1536;
const RTMP_VERSION = 3;
const DIGEST_LENGTH = 32;

/** The well-known constant that follows both key texts. */
const KEY_TAIL = Buffer.from('f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae', 'hex');
const CLIENT_KEY_TEXT = Buffer.from('Genuine Adobe Flash Player 001', 'latin1'); // 30 bytes
const SERVER_KEY_TEXT = Buffer.from('Genuine Adobe Flash Media Server 001', 'latin1'); // 36 bytes
const SERVER_KEY_FULL = Buffer.concat([SERVER_KEY_TEXT, KEY_TAIL]); // 68 bytes
/** Version livegate announces in a digest S1 (≥ 3 in byte 1 tells ffmpeg to verify it). */
const SERVER_VERSION = Buffer.from([4, 5, 0, 1]);

type Scheme = 0 | 1;

function hmac(key: Buffer, ...data: Buffer[]): Buffer {
  const h = createHmac('sha256', key);
  for (const d of data) h.update(d);
  return h.digest();
}

/** Where the digest sits: scheme 0 keys off bytes 8–11, scheme 1 off bytes 772–775. */
function digestOffset(packet: Buffer, scheme: Scheme): number {
  const base = scheme === 0 ? 8 : 772;
  const sum = packet[base]! + packet[base + 1]! + packet[base + 2]! + packet[base + 3]!;
  return (sum % 728) + base + 4;
}

function computeDigest(packet: Buffer, offset: number, key: Buffer): Buffer {
  return hmac(key, packet.subarray(0, offset), packet.subarray(offset + DIGEST_LENGTH));
}

/** Finds a valid digest in a C1/S1; returns its scheme and value, or null. */
export function findDigest(packet: Buffer, key: Buffer): { scheme: Scheme; digest: Buffer } | null {
  for (const scheme of [0, 1] as const) {
    const offset = digestOffset(packet, scheme);
    const digest = packet.subarray(offset, offset + DIGEST_LENGTH);
    if (computeDigest(packet, offset, key).equals(digest)) return { scheme, digest: Buffer.from(digest) };
  }
  return null;
}

/** Writes a digest into `packet` (a C1/S1 with time and version already set). */
export function imprintDigest(packet: Buffer, scheme: Scheme, key: Buffer): Buffer {
  const offset = digestOffset(packet, scheme);
  const digest = computeDigest(packet, offset, key);
  digest.copy(packet, offset);
  return digest;
}

function uptime(): number {
  return Math.floor(performance.now()) >>> 0;
}

/** Builds S0+S1+S2 for a C1 (1536 bytes). */
export function serverResponse(c1: Buffer): Buffer {
  const out = Buffer.allocUnsafe(1 + 2 * HANDSHAKE_SIZE);
  out[0] = RTMP_VERSION;
  const s1 = out.subarray(1, 1 + HANDSHAKE_SIZE);
  const s2 = out.subarray(1 + HANDSHAKE_SIZE);
  randomBytes(HANDSHAKE_SIZE).copy(s1);
  s1.writeUInt32BE(uptime(), 0);
  const clientVersion = c1.readUInt32BE(4);
  const client = clientVersion !== 0 ? findDigest(c1, CLIENT_KEY_TEXT) : null;
  if (!client) {
    // Plain handshake: S1 = time, zero, random; S2 echoes C1 (§5.2.3–5.2.4).
    s1.writeUInt32BE(0, 4);
    c1.copy(s2);
    return out;
  }
  SERVER_VERSION.copy(s1, 4);
  imprintDigest(s1, client.scheme, SERVER_KEY_TEXT);
  // S2: random bytes signed with a key derived from the client's digest.
  randomBytes(HANDSHAKE_SIZE).copy(s2);
  const key = hmac(SERVER_KEY_FULL, client.digest);
  hmac(key, s2.subarray(0, HANDSHAKE_SIZE - DIGEST_LENGTH)).copy(s2, HANDSHAKE_SIZE - DIGEST_LENGTH);
  return out;
}

export interface HandshakeStep {
  /** Bytes to send to the peer, if any. */
  send?: Buffer;
  done: boolean;
  /** Bytes after the handshake (the first chunks), once done. */
  rest?: Buffer;
}

/** Server side: C0+C1 → S0+S1+S2; then C2 (not checked: many clients send garbage there). */
export class ServerHandshake {
  private buffered: Buffer = Buffer.alloc(0);
  private state: 'c0c1' | 'c2' | 'done' = 'c0c1';

  feed(bytes: Buffer): HandshakeStep {
    if (this.state === 'done') return { done: true, rest: bytes };
    this.buffered = this.buffered.length === 0 ? bytes : Buffer.concat([this.buffered, bytes]);
    let send: Buffer | undefined;
    if (this.state === 'c0c1') {
      if (this.buffered.length < 1) return { done: false };
      const version = this.buffered[0]!;
      // 6 and up is RTMPE (encrypted), which livegate does not speak.
      if (version !== RTMP_VERSION) throw new ProtocolError(`unsupported RTMP version ${version} in C0 (handshake)`);
      if (this.buffered.length < 1 + HANDSHAKE_SIZE) return { done: false };
      send = serverResponse(this.buffered.subarray(1, 1 + HANDSHAKE_SIZE));
      this.buffered = this.buffered.subarray(1 + HANDSHAKE_SIZE);
      this.state = 'c2';
    }
    if (this.buffered.length < HANDSHAKE_SIZE) return { send, done: false };
    const rest = this.buffered.subarray(HANDSHAKE_SIZE);
    this.buffered = Buffer.alloc(0);
    this.state = 'done';
    return { send, done: true, rest };
  }
}

/** Client side (plain handshake): C0+C1 at once, then C2 = echo of S1 when S0+S1 arrive. */
export class ClientHandshake {
  private buffered: Buffer = Buffer.alloc(0);
  private state: 's0s1s2' | 'done' = 's0s1s2';

  /** C0 + C1 to send first. */
  start(): Buffer {
    const out = Buffer.alloc(1 + HANDSHAKE_SIZE);
    out[0] = RTMP_VERSION;
    out.writeUInt32BE(uptime(), 1);
    randomBytes(HANDSHAKE_SIZE - 8).copy(out, 9);
    return out;
  }

  feed(bytes: Buffer): HandshakeStep {
    if (this.state === 'done') return { done: true, rest: bytes };
    this.buffered = this.buffered.length === 0 ? bytes : Buffer.concat([this.buffered, bytes]);
    if (this.buffered.length < 1) return { done: false };
    if (this.buffered[0] !== RTMP_VERSION) throw new ProtocolError(`server answered RTMP version ${this.buffered[0]}`);
    if (this.buffered.length < 1 + 2 * HANDSHAKE_SIZE) return { done: false };
    const s1 = this.buffered.subarray(1, 1 + HANDSHAKE_SIZE);
    const rest = this.buffered.subarray(1 + 2 * HANDSHAKE_SIZE);
    this.buffered = Buffer.alloc(0);
    this.state = 'done';
    return { send: Buffer.from(s1), done: true, rest };
  }
}

/** For tests: a digest C1 as Flash Player and ffmpeg send it. */
export function digestC1(scheme: Scheme = 0): Buffer {
  const c1 = randomBytes(HANDSHAKE_SIZE);
  c1.writeUInt32BE(0, 0);
  Buffer.from([9, 0, 124, 2]).copy(c1, 4);
  imprintDigest(c1, scheme, CLIENT_KEY_TEXT);
  return c1;
}

/** For tests: checks a digest S1/S2 the way ffmpeg does when it plays. */
export function verifyServerResponse(c1: Buffer, s1: Buffer, s2: Buffer): boolean {
  const server = findDigest(s1, SERVER_KEY_TEXT);
  const client = findDigest(c1, CLIENT_KEY_TEXT);
  if (!server || !client) return false;
  const key = hmac(SERVER_KEY_FULL, client.digest);
  return hmac(key, s2.subarray(0, HANDSHAKE_SIZE - DIGEST_LENGTH)).equals(s2.subarray(HANDSHAKE_SIZE - DIGEST_LENGTH));
}

