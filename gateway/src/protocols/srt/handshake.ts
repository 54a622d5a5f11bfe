/**
 * SRT handshake CIF and its extensions (draft-sharabayko-srt-01 §3.2.1, §3.2.1.1–3). Pure.
 */
import { LimitError, ParseError } from '../../core/errors.js';

/** §3.2.1 Table 4. Values ≥ 1000 in a response are rejections (1000 + reason). */
export const HandshakeType = {
  Done: 0xfffffffd,
  Agreement: 0xfffffffe,
  Conclusion: 0xffffffff,
  WaveAHand: 0,
  Induction: 1,
} as const;

/** The "SRT magic" a v5 listener puts in the extension field of its INDUCTION response (§4.3.1.1). */
export const HS_MAGIC = 0x4a17;

/** Extension field flags of a v5 CONCLUSION (§3.2.1 Table 5). */
export const ExtFlag = { HsReq: 0x1, KmReq: 0x2, Config: 0x4 } as const;

/** Extension types (§3.2.1 Table 5). */
export const ExtType = { HsReq: 1, HsRsp: 2, KmReq: 3, KmRsp: 4, Sid: 5, Congestion: 6, Filter: 7, Group: 8 } as const;

/** SRT flags of HSREQ/HSRSP (§3.2.1.1.1 Table 6). */
export const SrtFlag = {
  TsbpdSnd: 0x01,
  TsbpdRcv: 0x02,
  Crypt: 0x04,
  TlPktDrop: 0x08,
  PeriodicNak: 0x10,
  RexmitFlg: 0x20,
  Stream: 0x40,
  PacketFilter: 0x80,
} as const;

/** Encryption field: key length / 8 (§3.2.1): 2 = AES-128, 3 = AES-192, 4 = AES-256. */
export function encryptionField(keyLength: number): number {
  return keyLength === 0 ? 0 : keyLength / 8;
}

/** HaiCrypt key material states sent in a one-word KMRSP when the exchange failed. */
export const KmState = { Unsecured: 0, Securing: 1, Secured: 2, NoSecret: 3, BadSecret: 4 } as const;

/** The SRT version livegate announces (1.5.1, what Debian's libsrt speaks). */
export const SRT_VERSION = 0x010501;

/** Stream id: at most 512 bytes (§3.2.1.3). */
export const MAX_STREAM_ID = 512;

export interface HsExtension {
  /** SRT library version, e.g. 0x010501. */
  version: number;
  flags: number;
  /** TSBPD delay this side applies when receiving, ms. */
  recvDelayMs: number;
  /** TSBPD delay asked of the peer's receiver, ms. */
  sendDelayMs: number;
}

export interface Handshake {
  version: number;
  encryption: number;
  extensionField: number;
  isn: number;
  mtu: number;
  flowWindow: number;
  type: number;
  socketId: number;
  cookie: number;
  /** 16 bytes, as the peer sent it (livegate does not rely on it). */
  peerIp: Buffer;
  hsReq?: HsExtension;
  hsRsp?: HsExtension;
  /** KM message bytes (crypto.ts decodes them). */
  kmReq?: Buffer;
  kmRsp?: Buffer;
  streamId?: string;
}

const CIF_SIZE = 48;

export function parseHandshake(cif: Buffer): Handshake {
  if (cif.length < CIF_SIZE) throw new ParseError(`handshake of ${cif.length} bytes, need ${CIF_SIZE}`);
  const hs: Handshake = {
    version: cif.readUInt32BE(0),
    encryption: cif.readUInt16BE(4),
    extensionField: cif.readUInt16BE(6),
    isn: cif.readUInt32BE(8) & 0x7fffffff,
    mtu: cif.readUInt32BE(12),
    flowWindow: cif.readUInt32BE(16),
    type: cif.readUInt32BE(20),
    socketId: cif.readUInt32BE(24),
    cookie: cif.readUInt32BE(28),
    peerIp: cif.subarray(32, 48),
  };
  if (hs.version !== 5) return hs; // v4 INDUCTION has no extensions
  let pos = CIF_SIZE;
  let count = 0;
  while (pos + 4 <= cif.length) {
    if (++count > 16) throw new LimitError('more than 16 handshake extensions');
    const type = cif.readUInt16BE(pos);
    const len = cif.readUInt16BE(pos + 2) * 4;
    pos += 4;
    if (pos + len > cif.length) throw new ParseError(`handshake extension ${type} of ${len} bytes runs past the packet`);
    const body = cif.subarray(pos, pos + len);
    pos += len;
    switch (type) {
      case ExtType.HsReq:
      case ExtType.HsRsp: {
        if (body.length < 12) throw new ParseError(`HS extension of ${body.length} bytes`);
        const ext: HsExtension = {
          version: body.readUInt32BE(0),
          flags: body.readUInt32BE(4),
          recvDelayMs: body.readUInt16BE(8),
          sendDelayMs: body.readUInt16BE(10),
        };
        if (type === ExtType.HsReq) hs.hsReq = ext;
        else hs.hsRsp = ext;
        break;
      }
      case ExtType.KmReq:
        hs.kmReq = body;
        break;
      case ExtType.KmRsp:
        hs.kmRsp = body;
        break;
      case ExtType.Sid:
        if (body.length > MAX_STREAM_ID) throw new LimitError(`stream id of ${body.length} bytes (at most ${MAX_STREAM_ID})`);
        hs.streamId = decodeStreamId(body);
        break;
      default:
        break; // congestion, filter, group: livegate uses the defaults (live, none, none)
    }
  }
  return hs;
}

function hsExtension(type: number, e: HsExtension): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(3, 2);
  b.writeUInt32BE(e.version, 4);
  b.writeUInt32BE(e.flags, 8);
  b.writeUInt16BE(e.recvDelayMs, 12);
  b.writeUInt16BE(e.sendDelayMs, 14);
  return b;
}

function rawExtension(type: number, body: Buffer): Buffer {
  if (body.length % 4 !== 0) throw new RangeError('extension body must be whole 32-bit words');
  const b = Buffer.alloc(4 + body.length);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(body.length / 4, 2);
  body.copy(b, 4);
  return b;
}

export function encodeHandshake(hs: Handshake): Buffer {
  const base = Buffer.alloc(CIF_SIZE);
  base.writeUInt32BE(hs.version, 0);
  base.writeUInt16BE(hs.encryption, 4);
  base.writeUInt16BE(hs.extensionField, 6);
  base.writeUInt32BE(hs.isn & 0x7fffffff, 8);
  base.writeUInt32BE(hs.mtu, 12);
  base.writeUInt32BE(hs.flowWindow, 16);
  base.writeUInt32BE(hs.type >>> 0, 20);
  base.writeUInt32BE(hs.socketId >>> 0, 24);
  base.writeUInt32BE(hs.cookie >>> 0, 28);
  hs.peerIp.copy(base, 32, 0, 16);
  const parts: Buffer[] = [base];
  if (hs.hsReq) parts.push(hsExtension(ExtType.HsReq, hs.hsReq));
  if (hs.hsRsp) parts.push(hsExtension(ExtType.HsRsp, hs.hsRsp));
  // libsrt's order: HSREQ/HSRSP, SID, then KMREQ/KMRSP.
  if (hs.streamId !== undefined) parts.push(rawExtension(ExtType.Sid, encodeStreamId(hs.streamId)));
  if (hs.kmReq) parts.push(rawExtension(ExtType.KmReq, hs.kmReq));
  if (hs.kmRsp) parts.push(rawExtension(ExtType.KmRsp, hs.kmRsp));
  return Buffer.concat(parts);
}

/**
 * §3.2.1.3: the stream id travels as 32-bit words whose bytes libsrt reverses (it copies the
 * string into host-order words and sends them big-endian), zero padded to a whole word.
 */
export function encodeStreamId(id: string): Buffer {
  const text = Buffer.from(id, 'utf8');
  if (text.length > MAX_STREAM_ID) throw new LimitError(`stream id of ${text.length} bytes (at most ${MAX_STREAM_ID})`);
  const b = Buffer.alloc(Math.ceil(text.length / 4) * 4);
  text.copy(b);
  return b.swap32();
}

export function decodeStreamId(body: Buffer): string {
  const b = Buffer.from(body.subarray(0, body.length - (body.length % 4))).swap32();
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return b.toString('utf8', 0, end);
}

/** The 16-byte peer address field: IPv4 as libsrt writes it (the four address bytes reversed in word 0). */
export function peerIpField(address: string): Buffer {
  const b = Buffer.alloc(16);
  const m = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (m) {
    b[0] = Number(m[4]);
    b[1] = Number(m[3]);
    b[2] = Number(m[2]);
    b[3] = Number(m[1]);
  }
  return b;
}
