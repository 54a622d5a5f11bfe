/**
 * The client side of an RTSP connection, for pulling from cameras: requests with CSeq, answers to
 * 401 challenges (Digest MD5/SHA-256 or Basic, from the URL's user and password), responses matched
 * in order, `$` frames handed on as they arrive. One request at a time, with a timeout.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describeError } from '../../core/errors.js';
import { answerChallenge } from './rtsp-auth.js';
import { RtspReader, serializeRequest, type RtspResponse } from './rtsp-reader.js';

export interface RtspClientOptions {
  timeoutMs: number;
  onFrame(channel: number, data: Buffer): void;
  onClose(reason: string): void;
  /** rtsps://: certificates are not checked (cameras use self-signed ones) unless this is true. */
  verifyTls?: boolean;
}

export class RtspClient {
  private socket: Socket | null = null;
  private readonly frames = new RtspReader();
  private cseq = 0;
  private waiting: { resolve(r: RtspResponse): void; reject(e: Error): void; timer: NodeJS.Timeout } | null = null;
  private authorization: { challenges: string[] } | null = null;
  private nc = 0;
  private closed = false;
  readonly user: string;
  readonly pass: string;
  /** The URL without credentials, as requests name it. */
  readonly url: string;
  private readonly host: string;
  private readonly port: number;
  private readonly tls: boolean;
  session: string | null = null;

  constructor(rawUrl: string, private readonly options: RtspClientOptions) {
    const u = new URL(rawUrl);
    if (u.protocol !== 'rtsp:' && u.protocol !== 'rtsps:') throw new Error(`not an rtsp:// URL: ${rawUrl}`);
    this.tls = u.protocol === 'rtsps:';
    this.user = decodeURIComponent(u.username);
    this.pass = decodeURIComponent(u.password);
    u.username = '';
    u.password = '';
    this.url = u.toString();
    this.host = u.hostname;
    this.port = u.port ? Number(u.port) : this.tls ? 322 : 554;
  }

  get remoteAddress(): string {
    return `${this.host}:${this.port}`;
  }

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`connecting to ${this.remoteAddress} timed out`)), this.options.timeoutMs);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
        this.close(err.message);
      };
      const socket = this.tls
        ? tlsConnect({ host: this.host, port: this.port, rejectUnauthorized: this.options.verifyTls === true, servername: this.host }, () => {
            clearTimeout(timer);
            resolve();
          })
        : connect({ host: this.host, port: this.port, noDelay: true }, () => {
            clearTimeout(timer);
            resolve();
          });
      this.socket = socket;
      socket.on('data', (d: Buffer) => this.onData(d));
      socket.on('error', (err) => fail(err));
      socket.on('close', () => this.close('connection closed by the camera'));
    });
  }

  private onData(chunk: Buffer): void {
    let items;
    try {
      items = this.frames.push(chunk);
    } catch (err) {
      this.close(`bad data from the camera: ${describeError(err)}`);
      return;
    }
    for (const item of items) {
      if (item.kind === 'interleaved') this.options.onFrame(item.channel, item.data);
      else if (item.kind === 'response') {
        const w = this.waiting;
        this.waiting = null;
        if (w) {
          clearTimeout(w.timer);
          w.resolve(item);
        }
      }
      // Requests from the camera (rare: ANNOUNCE, GET_PARAMETER) are not answered.
    }
  }

  /** Sends a request; answers a 401 once with the URL's credentials. Rejects on timeout or close. */
  async request(method: string, uri: string, headers: [string, string][] = []): Promise<RtspResponse> {
    let response = await this.send(method, uri, headers);
    if (response.status === 401 && (this.user || this.pass)) {
      this.authorization = { challenges: response.headers.all('www-authenticate') };
      this.nc = 0;
      response = await this.send(method, uri, headers);
    }
    return response;
  }

  private send(method: string, uri: string, headers: [string, string][]): Promise<RtspResponse> {
    if (this.closed || !this.socket) return Promise.reject(new Error('connection closed'));
    if (this.waiting) return Promise.reject(new Error('one request at a time'));
    const all: [string, string][] = [['CSeq', String(++this.cseq)], ['User-Agent', 'livegate'], ...headers];
    if (this.session) all.push(['Session', this.session]);
    if (this.authorization) {
      const value = answerChallenge(this.authorization.challenges, { user: this.user, pass: this.pass, method, uri, nc: ++this.nc });
      if (value) all.push(['Authorization', value]);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`${method} got no answer within ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
      this.waiting = { resolve, reject, timer };
      this.socket!.write(serializeRequest(method, uri, all));
    });
  }

  /** Sends an RTCP packet on an interleaved channel. */
  writeFrame(channel: number, data: Buffer): void {
    if (this.closed || !this.socket) return;
    this.socket.write(Buffer.concat([Buffer.from([0x24, channel, data.length >> 8, data.length & 0xff]), data]));
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    const w = this.waiting;
    this.waiting = null;
    if (w) {
      clearTimeout(w.timer);
      w.reject(new Error(reason));
    }
    this.socket?.destroy();
    this.options.onClose(reason);
  }
}
