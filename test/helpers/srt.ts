/** SRT test peers: srt-live-transmit (libsrt) processes, and a lossy UDP relay on loopback. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { TsDemuxer } from '../../gateway/src/format/mpegts/demuxer.js';
import { stopChild } from './ffmpeg.js';

export interface Proc {
  child: ChildProcess;
  stderr(): string;
  stdout(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

function watch(child: ChildProcess): Proc {
  let err = '';
  let out = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (err.length < 256 * 1024) err += d.toString();
  });
  child.stdout?.on('data', (d: Buffer) => {
    if (out.length < 256 * 1024) out += d.toString('latin1');
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stderr: () => err,
    stdout: () => out,
    exited,
    stop: () => stopChild(child, exited),
  };
}

/**
 * ffmpeg encodes a test pattern + 1 kHz tone to MPEG-TS on stdout, and srt-live-transmit (the caller)
 * sends it to `srtUri` — libsrt as the publisher.
 */
export function sltPublish(srtUri: string, o: { size?: string; bitrate?: string; gop?: number } = {}): Proc & { ffmpeg: ChildProcess } {
  const ffmpeg = spawn(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `testsrc2=size=${o.size ?? '640x360'}:rate=30`, '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', String(o.gop ?? 30), '-b:v', o.bitrate ?? '800k',
      '-c:a', 'aac', '-b:a', '96k', '-f', 'mpegts', '-muxdelay', '0', 'pipe:1'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const slt = spawn('srt-live-transmit', ['-q', 'file://con', srtUri], { stdio: ['pipe', 'ignore', 'pipe'] });
  ffmpeg.stdout!.pipe(slt.stdin!);
  slt.stdin!.on('error', () => {});
  const p = watch(slt);
  const stop = p.stop;
  return {
    ...p,
    ffmpeg,
    stop: async () => {
      ffmpeg.kill('SIGKILL');
      await stop();
    },
  };
}

/** srt-live-transmit as a caller reading `srtUri`; the received TS bytes are kept. */
export function sltRead(srtUri: string, extraArgs: string[] = []): Proc & { bytes(): Buffer } {
  const slt = spawn('srt-live-transmit', ['-q', ...extraArgs, srtUri, 'file://con'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let size = 0;
  slt.stdout!.on('data', (d: Buffer) => {
    if (size < 64 * 1024 * 1024) chunks.push(d), (size += d.length);
  });
  const p = watch(slt);
  return { ...p, bytes: () => Buffer.concat(chunks) };
}

/** Demuxes TS bytes and counts what a player would complain about. */
export function checkTs(bytes: Buffer): { codecs: string[]; units: { [codec: string]: number }; continuityErrors: number; warnings: string[] } {
  const warnings: string[] = [];
  const units: { [codec: string]: number } = {};
  let codecs: string[] = [];
  const d = new TsDemuxer({
    tracks: (t) => (codecs = t.map((x) => x.codec)),
    unit: (u) => (units[u.codec] = (units[u.codec] ?? 0) + 1),
    warning: (w) => warnings.push(w),
  });
  d.push(bytes);
  return { codecs: codecs.sort(), units, continuityErrors: warnings.filter((w) => w.includes('continuity')).length, warnings };
}

export interface RelayOptions {
  /** Where the relay forwards to (the gateway's SRT port). */
  targetPort: number;
  /** Share of datagrams dropped in each direction, 0..1. */
  loss?: number;
  /** One-way delay added in each direction, ms. */
  delayMs?: number;
}

export interface Relay {
  port: number;
  /** Datagrams dropped towards the server, and towards the client. */
  dropped: { toServer: number; toClient: number };
  forwarded: { toServer: number; toClient: number };
  /** Sends `bytes` to the server from the client's relay socket (as if the client sent it). */
  injectToServer(bytes: Buffer): void;
  /** The destination socket id the client used in its last packet to the server. */
  serverSocketId(): number;
  close(): Promise<void>;
}

/** A UDP relay on 127.0.0.1 between SRT callers and the gateway: loss, delay, and injection. */
export async function startRelay(o: RelayOptions): Promise<Relay> {
  const front = createSocket('udp4');
  const peers = new Map<string, { client: RemoteInfo; back: Socket }>();
  const dropped = { toServer: 0, toClient: 0 };
  const forwarded = { toServer: 0, toClient: 0 };
  let lastBack: Socket | null = null;
  let lastDestId = 0;
  // A fixed-seed generator, so a run is reproducible.
  let seed = 0x2545f491;
  const random = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  let closed = false;
  // Delayed sends still pending when the relay closes are dropped (their sockets are gone).
  const later = (fn: () => void): void => {
    if (o.delayMs) setTimeout(() => !closed && fn(), o.delayMs);
    else fn();
  };
  front.on('message', (msg, rinfo) => {
    if (closed) return;
    const key = `${rinfo.address}:${rinfo.port}`;
    let peer = peers.get(key);
    if (!peer) {
      const back = createSocket('udp4');
      back.bind(0, '127.0.0.1');
      back.on('message', (reply) => {
        if (o.loss && random() < o.loss) return void dropped.toClient++;
        forwarded.toClient++;
        later(() => front.send(reply, rinfo.port, rinfo.address));
      });
      peer = { client: rinfo, back };
      peers.set(key, peer);
    }
    lastBack = peer.back;
    if (msg.length >= 16) lastDestId = msg.readUInt32BE(12) || lastDestId;
    if (o.loss && random() < o.loss) return void dropped.toServer++;
    forwarded.toServer++;
    const back = peer.back;
    later(() => back.send(msg, o.targetPort, '127.0.0.1'));
  });
  await new Promise<void>((r) => front.bind(0, '127.0.0.1', () => r()));
  return {
    port: front.address().port,
    dropped,
    forwarded,
    injectToServer: (bytes) => lastBack?.send(bytes, o.targetPort, '127.0.0.1'),
    serverSocketId: () => lastDestId,
    close: async () => {
      closed = true;
      for (const p of peers.values()) p.back.close();
      await new Promise<void>((r) => front.close(() => r()));
    },
  };
}
