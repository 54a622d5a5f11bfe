/** RtmpClient: an RTMP client over node:net (publish or play one stream). */
import { connect as netConnect, type Socket } from 'node:net';
import { describeError } from '../../core/errors.js';
import { TypedEmitter } from '../../core/events.js';
import type { Amf0Object } from '../../format/amf0.js';
import { RtmpClientSession, type StatusEvent } from './client-session.js';

export type RtmpClientEvents = {
  media: { typeId: 8 | 9 | 18; timestamp: number; payload: Buffer };
  status: StatusEvent;
  close: { reason?: string };
};

/** rtmp://host[:port]/app[/…]/stream[?query] → parts. The last path segment is the stream name. */
export function parseRtmpUrl(url: string): { host: string; port: number; app: string; stream: string; tcUrl: string } {
  const u = new URL(url);
  if (u.protocol !== 'rtmp:') throw new Error(`not an rtmp:// URL: ${url}`);
  const parts = u.pathname.split('/').filter(Boolean);
  if (parts.length < 2) throw new Error(`RTMP URL needs an app and a stream name: ${url}`);
  const stream = parts.pop()! + u.search;
  const app = parts.join('/');
  const port = u.port ? Number(u.port) : 1935;
  return { host: u.hostname, port, app, stream, tcUrl: `rtmp://${u.hostname}:${port}/${app}` };
}

export class RtmpClient extends TypedEmitter<RtmpClientEvents> {
  private socket: Socket | null = null;
  private session: RtmpClientSession | null = null;
  private stream = '';
  private closed = false;

  constructor(private readonly options: { timeoutMs?: number } = {}) {
    super();
  }

  /** Connects and completes NetConnection.connect. */
  connect(url: string): Promise<void> {
    const { host, port, app, stream, tcUrl } = parseRtmpUrl(url);
    this.stream = stream;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`RTMP connect to ${url} timed out`)), this.options.timeoutMs ?? 10000);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        this.close(err.message);
        reject(err);
      };
      const socket = netConnect({ host, port, noDelay: true });
      this.socket = socket;
      const session = new RtmpClientSession({ send: (b) => socket.writable && socket.write(b) });
      this.session = session;
      session.on('media', (m) => this.emit('media', m));
      session.on('status', (s) => this.emit('status', s));
      session.once('connected', (s) => {
        clearTimeout(timer);
        if (s.code === 'NetConnection.Connect.Success') resolve();
        else fail(new Error(`${s.code}: ${s.description}`));
      });
      session.once('status', (s) => {
        if (s.code === 'Handshake.Done') session.connect(app, tcUrl);
      });
      socket.on('connect', () => session.start());
      socket.on('data', (d: Buffer) => {
        try {
          session.feed(d);
        } catch (err) {
          fail(new Error(describeError(err)));
        }
      });
      socket.on('error', (err) => fail(err));
      socket.on('close', () => this.close('connection closed'));
    });
  }

  /** Publishes the URL's stream; resolves on NetStream.Publish.Start. */
  publish(): Promise<void> {
    return this.awaitStatus('NetStream.Publish.Start', () => this.session!.publish(this.stream));
  }

  /** Plays the URL's stream; resolves on NetStream.Play.Start. */
  play(): Promise<void> {
    return this.awaitStatus('NetStream.Play.Start', () => this.session!.play(this.stream));
  }

  sendMedia(typeId: 8 | 9 | 18, timestampMs: number, payload: Buffer): void {
    this.session?.sendMedia(typeId, timestampMs, payload);
  }

  sendMetadata(meta: Amf0Object): void {
    this.session?.sendMetadata(meta);
  }

  /** Bytes written and not yet handed to the kernel. */
  backlog(): number {
    return this.socket?.writableLength ?? 0;
  }

  close(reason?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket?.destroy();
    this.emit('close', { reason });
  }

  private awaitStatus(code: string, start: () => void): Promise<void> {
    if (!this.session) return Promise.reject(new Error('not connected'));
    return new Promise((resolve, reject) => {
      const off = this.on('status', (s) => {
        if (s.code === code) {
          off();
          resolve();
        } else if (s.level === 'error') {
          off();
          reject(new Error(`${s.code}: ${s.description}`));
        }
      });
      start();
    });
  }
}
