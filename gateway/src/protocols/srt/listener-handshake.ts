/**
 * The listener's side of the caller–listener handshake (draft-sharabayko-srt-01 §4.3.1): SYN
 * cookies, the INDUCTION response, latency and flag negotiation, the CONCLUSION response and
 * rejections. Pure: handshakes in, handshakes out.
 */
import { createHmac } from 'node:crypto';
import { HS_MAGIC, HandshakeType, SRT_VERSION, SrtFlag, ExtFlag, peerIpField, type Handshake, type HsExtension } from './handshake.js';

/** §4.3 Table 7 rejection reasons (libsrt SRT_REJ_*); on the wire: 1000 + reason. */
export const RejectReason = {
  Unknown: 0,
  System: 1,
  Peer: 2,
  Resource: 3,
  Rogue: 4,
  Backlog: 5,
  Ipe: 6,
  Close: 7,
  Version: 8,
  RdvCookie: 9,
  BadSecret: 10,
  Unsecure: 11,
  MessageApi: 12,
  Congestion: 13,
  Filter: 14,
  Group: 15,
  Timeout: 16,
  Crypto: 17,
} as const;

/** Application rejection codes of SRT access control (1000 + HTTP-like status); on the wire: 1000 + code. */
export const AccessReject = {
  BadRequest: 1400,
  Unauthorized: 1401,
  Overload: 1402,
  Forbidden: 1403,
  NotFound: 1404,
  BadMode: 1405,
  Unacceptable: 1406,
  Conflict: 1409,
  NotSupMedia: 1415,
  Locked: 1423,
  InternalError: 1500,
  Unavailable: 1503,
} as const;

/** The value of the handshake type field that rejects with `code` (a RejectReason or an AccessReject code). */
export function rejectionType(code: number): number {
  return 1000 + code;
}

/** Oldest SRT version accepted: HSv5 with the 1.3 extensions. */
export const MIN_PEER_VERSION = 0x010300;
export const LIVE_FLAGS = SrtFlag.TsbpdSnd | SrtFlag.TsbpdRcv | SrtFlag.Crypt | SrtFlag.TlPktDrop | SrtFlag.PeriodicNak | SrtFlag.RexmitFlg;

/** SYN cookie (§4.3.1.1): a keyed hash of the peer's address and the current minute. */
export function synCookie(secret: Buffer, address: string, port: number, minute: number): number {
  return createHmac('sha256', secret).update(`${address}|${port}|${minute}`).digest().readUInt32BE(0);
}

export function cookieMinute(nowMs: number): number {
  return Math.floor(nowMs / 60_000);
}

/** A cookie made this minute or the last one is good (a handshake may straddle the minute). */
export function cookieValid(secret: Buffer, address: string, port: number, cookie: number, nowMs: number): boolean {
  const m = cookieMinute(nowMs);
  return cookie === synCookie(secret, address, port, m) || cookie === synCookie(secret, address, port, m - 1);
}

export function inductionResponse(req: Handshake, listenerSocketId: number, cookie: number, address: string): Handshake {
  return {
    version: 5,
    encryption: 0,
    extensionField: HS_MAGIC,
    isn: req.isn,
    mtu: req.mtu,
    flowWindow: req.flowWindow,
    type: HandshakeType.Induction,
    socketId: listenerSocketId,
    cookie,
    peerIp: peerIpField(address),
  };
}

export interface Negotiated {
  /** Latency this side applies to what it receives, ms (§4.4: the larger of both wishes). */
  recvLatencyMs: number;
  /** Latency the caller applies to what this side sends, ms. */
  peerRecvLatencyMs: number;
  tooLateDrop: boolean;
  peerFlags: number;
  mtu: number;
  flowWindow: number;
}

export function negotiate(req: Handshake, hsReq: HsExtension, latencyMs: number): Negotiated {
  return {
    recvLatencyMs: Math.max(latencyMs, hsReq.sendDelayMs),
    peerRecvLatencyMs: Math.max(latencyMs, hsReq.recvDelayMs),
    tooLateDrop: (hsReq.flags & SrtFlag.TlPktDrop) !== 0,
    peerFlags: hsReq.flags,
    mtu: Math.min(Math.max(req.mtu, 576), 1500),
    flowWindow: Math.min(Math.max(req.flowWindow, 32), 8192),
  };
}

export function conclusionResponse(req: Handshake, n: Negotiated, socketId: number, address: string, kmRsp: Buffer | null, encryption: number, flowWindow: number): Handshake {
  return {
    version: 5,
    encryption,
    extensionField: ExtFlag.HsReq | (kmRsp ? ExtFlag.KmReq : 0),
    isn: req.isn,
    mtu: n.mtu,
    flowWindow,
    type: HandshakeType.Conclusion,
    socketId,
    cookie: req.cookie,
    peerIp: peerIpField(address),
    hsRsp: { version: SRT_VERSION, flags: LIVE_FLAGS & (n.tooLateDrop ? 0xff : ~SrtFlag.TlPktDrop), recvDelayMs: n.recvLatencyMs, sendDelayMs: n.peerRecvLatencyMs },
    ...(kmRsp ? { kmRsp } : {}),
  };
}

export function rejection(req: Handshake, code: number, socketId: number, address: string): Handshake {
  return {
    version: 5,
    encryption: 0,
    extensionField: 0,
    isn: req.isn,
    mtu: req.mtu,
    flowWindow: req.flowWindow,
    type: rejectionType(code),
    socketId,
    cookie: req.cookie,
    peerIp: peerIpField(address),
  };
}

/** Human words for a rejection code, for logs and errors. */
export function rejectionText(code: number): string {
  const names: { [code: number]: string } = {
    [RejectReason.Rogue]: 'rogue handshake',
    [RejectReason.Version]: 'peer version too old',
    [RejectReason.BadSecret]: 'wrong passphrase',
    [RejectReason.Unsecure]: 'passphrase required or unexpected',
    [RejectReason.Crypto]: 'malformed key material',
    [RejectReason.Resource]: 'resource allocation failure',
    [AccessReject.BadRequest]: 'bad request',
    [AccessReject.Unauthorized]: 'unauthorized',
    [AccessReject.Forbidden]: 'forbidden',
    [AccessReject.NotFound]: 'stream not found',
    [AccessReject.BadMode]: 'mode not supported',
    [AccessReject.Conflict]: 'stream already being published',
    [AccessReject.Overload]: 'server overloaded',
  };
  return names[code] ?? `reason ${code}`;
}
