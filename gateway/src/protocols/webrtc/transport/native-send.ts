/**
 * The native half of the WHEP send path (gateway/native/srtp_send.cc, built by `npm ci`): SRTP
 * AES_CM_128_HMAC_SHA1_80 written straight into a batch of datagrams, and one sendmmsg(2) per batch
 * on the shared media socket, flushed once per event-loop turn; a run of same-size datagrams to one
 * peer (a frame's packets) is one message cut by the kernel (UDP GSO, where it has it). Optional: where the addon was not
 * built (no compiler), or with LIVEGATE_NATIVE=0, `nativeSend` is null and fast-rtp.ts uses the
 * JavaScript SRTP of format/srtp.ts with one `dgram` send per packet.
 */
import { createRequire } from 'node:module';
import { deriveSessionKey } from '../../../format/srtp.js';

interface Addon {
  createContext(sessionKey: Buffer, sessionSalt: Buffer, authKey: Buffer): object;
  address(ip: string, port: number): Buffer;
  protect(context: object, header: Buffer, payload: Buffer): Buffer;
  queue(context: object, fd: number, address: Buffer, header: Buffer, payload: Buffer): number;
  queueFrame(context: object, fd: number, address: Buffer, header: Buffer, payloads: Buffer[], marker: boolean): number;
  flush(): [sent: number, failed: number, messages: number];
}

/** Where the addon is, from this file in src/ or in dist/ (the same depth under gateway/). */
const ADDON = '../../../../native/build/Release/livegate_native.node';

function load(): { addon: Addon | null; why: string } {
  if (process.env.LIVEGATE_NATIVE === '0') return { addon: null, why: 'LIVEGATE_NATIVE=0' };
  try {
    return { addon: createRequire(import.meta.url)(ADDON) as Addon, why: '' };
  } catch (err) {
    return { addon: null, why: `the native addon is not built (${(err as Error).message.split('\n')[0]}): run npm ci or npm run build:native` };
  }
}

const loaded = load();

/** Why the native send path is not in use ('' when it is). */
export const nativeSendUnavailable = loaded.why;

/**
 * Datagrams the native path sent, and dropped because the socket refused them (buffer full); the
 * messages the kernel took for them (a run cut by UDP GSO is one) and the flushes.
 */
export const nativeSendStats = { sent: 0, failed: 0, messages: 0, batches: 0 };

let flushScheduled = false;

/** Sends what is queued now (the media socket is about to close: nothing may wait for a reused descriptor). */
export function flushNativeSends(): void {
  if (loaded.addon) flush();
}

function scheduleFlush(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flush);
}

function flush(): void {
  flushScheduled = false;
  const [sent, failed, messages] = loaded.addon!.flush();
  nativeSendStats.sent += sent;
  nativeSendStats.failed += failed;
  nativeSendStats.messages += messages;
  nativeSendStats.batches++;
}

/** One viewer's outgoing SRTP context in the addon. */
export class NativeSrtp {
  private readonly context: object;

  private constructor(private readonly addon: Addon, masterKey: Buffer, masterSalt: Buffer) {
    this.context = addon.createContext(deriveSessionKey(masterKey, masterSalt, 0, 16), deriveSessionKey(masterKey, masterSalt, 2, 14), deriveSessionKey(masterKey, masterSalt, 1, 20));
  }

  /** A context for `masterKey`/`masterSalt`, or null without the addon. */
  static create(masterKey: Buffer, masterSalt: Buffer): NativeSrtp | null {
    return loaded.addon ? new NativeSrtp(loaded.addon, masterKey, masterSalt) : null;
  }

  /** `ip`:`port` as the addon's socket address (made once per path, not per packet). */
  address(ip: string, port: number): Buffer {
    return this.addon.address(ip, port);
  }

  /** One protected packet in a new Buffer (ICE-TCP, tests). */
  protect(header: Buffer, payload: Buffer): Buffer {
    return this.addon.protect(this.context, header, payload);
  }

  /**
   * Protects `header` + `payload` into the batch for socket `fd` and `address`; it leaves at the end of
   * this event-loop turn. False when the packet is refused (over 1,500 bytes).
   */
  queue(fd: number, address: Buffer, header: Buffer, payload: Buffer): boolean {
    if (this.addon.queue(this.context, fd, address, header, payload) === 0) return false;
    scheduleFlush();
    return true;
  }

  /**
   * A frame's packets in one call: numbered from `header`'s sequence number on, the marker bit on the
   * last when `marker`. Answers how many were queued (all, or those before the first refused).
   */
  queueFrame(fd: number, address: Buffer, header: Buffer, payloads: Buffer[], marker: boolean): number {
    const queued = this.addon.queueFrame(this.context, fd, address, header, payloads, marker);
    if (queued > 0) scheduleFlush();
    return queued;
  }
}
