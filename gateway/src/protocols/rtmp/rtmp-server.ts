/**
 * The RTMP server: owns the TCP sockets and the session lifecycle. Protocol work is done by the
 * sans-IO RtmpServerSession; media goes through RtmpToStream / RtmpReader. Any error from a peer
 * closes that one connection with a logged reason.
 */
import { queryCredentials, type AccessRefusal, type AccessRequest, type RefusalReason } from '../../core/access.js';
import type { MediaEvent } from './server-session.js';
import { createServer, type Server, type Socket } from 'node:net';
import { listen } from '../../net/listen.js';
import { StreamBusyError, describeError } from '../../core/errors.js';
import { sessionId, type Logger } from '../../core/log.js';
import type { PublisherInfo, ReaderHandle, Stream } from '../../core/stream.js';
import { rtmpStreamPath } from '../../core/path.js';
import type { StreamRegistry } from '../../core/stream-registry.js';
import { RtmpReader } from './from-stream.js';
import { RtmpServerSession } from './server-session.js';
import { RtmpToStream } from './to-stream.js';

export interface RtmpServerOptions {
  registry: StreamRegistry;
  log: Logger;
  chunkSize: number;
  maxMessageSize: number;
  handshakeTimeoutMs: number;
}

export class RtmpServer {
  private readonly server: Server;
  private readonly connections = new Set<RtmpConnection>();

  constructor(options: RtmpServerOptions) {
    this.server = createServer({ noDelay: true }, (socket) => {
      const conn = new RtmpConnection(socket, options, () => this.connections.delete(conn));
      this.connections.add(conn);
    });
    this.server.on('error', (err) => options.log.error('rtmp server error', { reason: err.message }));
  }

  listen(port: number, host: string): Promise<number> {
    return listen(this.server, port, host);
  }


  get connectionCount(): number {
    return this.connections.size;
  }

  close(): Promise<void> {
    for (const c of [...this.connections]) c.close('server shutting down', 'shutdown');
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Media held per publish while the admission gate decides (a client that does not wait for the answer). */
const MAX_HELD_BYTES = 4 * 1024 * 1024;
const MAX_HELD_MESSAGES = 2000;

/** The onStatus code of each refusal (what ffmpeg and OBS print). */
const PUBLISH_REFUSAL: { [R in RefusalReason]: string } = {
  unauthorized: 'NetStream.Publish.Unauthorized',
  forbidden: 'NetStream.Publish.Forbidden',
  'not-found': 'NetStream.Publish.BadName',
  busy: 'NetStream.Publish.BadName',
  unavailable: 'NetStream.Publish.Failed',
};
const PLAY_REFUSAL: { [R in RefusalReason]: string } = {
  unauthorized: 'NetStream.Play.Unauthorized',
  forbidden: 'NetStream.Play.Forbidden',
  'not-found': 'NetStream.Play.StreamNotFound',
  busy: 'NetStream.Play.Failed',
  unavailable: 'NetStream.Play.Failed',
};

/** One TCP connection: a publisher, a player, or (rarely) both on different message streams. */
class RtmpConnection {
  readonly id = sessionId('rtmp');
  private readonly log: Logger;
  private readonly session: RtmpServerSession;
  private readonly remote: string;
  private setupTimer: NodeJS.Timeout | null;
  private closed = false;
  private app = '';
  /** The query of the app name in `connect` (`rtmp://host/live?token=…`). */
  private appQuery = '';
  private flashVer = '';
  /** Publishing message streams: stream id → its Stream, adapter and the publisher the registry knows. */
  private readonly publishing = new Map<number, { stream: Stream; ingest: RtmpToStream; publisher: PublisherInfo }>();
  /** Media sent on a stream id whose publish the admission gate is deciding: replayed on accept. */
  private readonly admitting = new Map<number, { messages: MediaEvent[]; bytes: number }>();
  /** Publishes waiting for a silent publisher of their path to be taken over. */
  private readonly waiting = new Map<number, NodeJS.Timeout>();
  /** Playing message streams: stream id → reader and its path. */
  private readonly playing = new Map<number, { handle: ReaderHandle; reader: RtmpReader; path: string }>();

  constructor(
    private readonly socket: Socket,
    private readonly options: RtmpServerOptions,
    private readonly onClosed: () => void,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.log = options.log.child({ id: this.id, protocol: 'rtmp', remote: this.remote });
    this.session = new RtmpServerSession({
      send: (bytes) => this.write(bytes),
      maxMessageSize: options.maxMessageSize,
      outChunkSize: options.chunkSize,
    });
    this.setupTimer = setTimeout(
      () => this.close(`no publish or play within ${options.handshakeTimeoutMs} ms of connecting`),
      options.handshakeTimeoutMs,
    );
    this.bindSession();
    socket.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      try {
        this.session.feed(chunk);
        for (const pub of this.publishing.values()) pub.ingest.flush();
      } catch (err) {
        this.close(describeError(err));
      }
    });
    socket.on('error', (err) => this.close(`socket error: ${err.message}`, 'peer'));
    socket.on('close', () => this.close('connection closed by peer', 'peer'));
    socket.on('end', () => this.close('connection closed by peer', 'peer'));
  }

  private write(bytes: Buffer): void {
    if (!this.closed && this.socket.writable) this.socket.write(bytes);
  }

  private bindSession(): void {
    const s = this.session;
    s.on('connect', (e) => {
      this.app = e.app;
      this.appQuery = e.query;
      this.flashVer = typeof e.flashVer === 'string' ? e.flashVer.slice(0, 256) : '';
      this.log.debug('connect', { app: e.app, tcUrl: e.tcUrl, flashVer: e.flashVer });
    });
    s.on('publish', (e) => this.later(this.onPublish(e.streamId, e.app || this.app, e.name, e.query)));
    s.on('play', (e) => this.later(this.onPlay(e.streamId, e.app || this.app, e.name, e.query)));
    s.on('unpublish', (e) => this.endPublish(e.streamId, 'publisher unpublished'));
    s.on('stop-play', (e) => this.endPlay(e.streamId, 'player stopped'));
    s.on('pause', (e) => this.playing.get(e.streamId)?.reader.setPaused(e.paused));
    s.on('media', (e) => {
      const pub = this.publishing.get(e.streamId);
      if (!pub) {
        // A client that sends media right after its publish command (before the answer) is not
        // made to lose it while the admission gate decides: held, bounded, and replayed on accept.
        const held = this.admitting.get(e.streamId);
        if (held && held.bytes + e.payload.length <= MAX_HELD_BYTES && held.messages.length < MAX_HELD_MESSAGES) {
          held.messages.push(e);
          held.bytes += e.payload.length;
        }
        return; // otherwise, media on a stream that is not publishing: ignored, as other servers do
      }
      this.ingest(pub.ingest, e);
    });
  }

  private ingest(ingest: RtmpToStream, e: MediaEvent): void {
    const now = performance.now();
    if (e.typeId === 9) ingest.video(e.timestamp, e.payload, now);
    else if (e.typeId === 8) ingest.audio(e.timestamp, e.payload, now);
    else if (e.values) ingest.data(e.values);
  }

  /** Runs an asynchronous command handler: an error closes this connection, never the process. */
  private later(work: Promise<void>): void {
    work.catch((err: unknown) => this.close(`internal error: ${describeError(err)}`));
  }

  /** What the admission gate is asked: credentials from the stream key's query, or the app's. */
  private accessRequest(action: 'publish' | 'read', path: string, query: string): AccessRequest {
    const credentials = { ...queryCredentials(new URLSearchParams(this.appQuery)), ...queryCredentials(new URLSearchParams(query)) };
    return { action, protocol: 'rtmp', path, ...credentials, ip: this.socket.remoteAddress ?? '', id: this.id, query, userAgent: this.flashVer };
  }

  /** After a refusal of credentials, the client reads its status, then the connection closes. */
  private endAfterRefusal(refusal: AccessRefusal): void {
    if (refusal.reason !== 'unauthorized' && refusal.reason !== 'forbidden') return;
    this.close(`refused: ${refusal.message}`, 'refused');
  }

  private async onPublish(streamId: number, app: string, name: string, query: string, waited = false): Promise<void> {
    const resolved = rtmpStreamPath(app, name);
    const log = this.log.child({ path: 'path' in resolved ? resolved.path : `${app}/${name}` });
    if ('error' in resolved) {
      log.warn('publish refused', { reason: resolved.error });
      this.session.rejectPublish(streamId, 'NetStream.Publish.BadName', resolved.error);
      return;
    }
    const path = resolved.path;
    if (!this.admitting.has(streamId)) this.admitting.set(streamId, { messages: [], bytes: 0 });
    const admitted = await this.options.registry.admit(this.accessRequest('publish', path, query));
    if (this.closed) return;
    // What was held stays held while the publish waits for a silent publisher (below).
    const waits = !admitted.ok && admitted.reason === 'busy' && admitted.retryInMs !== undefined && !waited;
    const held = waits ? undefined : this.admitting.get(streamId);
    if (!waits) this.admitting.delete(streamId);
    if (!admitted.ok) {
      if (admitted.reason === 'busy' && admitted.retryInMs !== undefined && !waited) {
        // The path's publisher has gone quiet: if it stays so, this one takes over (no answer yet).
        log.info('publish waits for the silent publisher of its path', { waitMs: admitted.retryInMs });
        const timer = setTimeout(() => {
          this.waiting.delete(streamId);
          if (!this.closed) this.later(this.onPublish(streamId, app, name, query, true));
        }, admitted.retryInMs + 20);
        this.waiting.set(streamId, timer);
        return;
      }
      log.warn('publish refused', { reason: admitted.reason, why: admitted.message });
      this.session.rejectPublish(streamId, PUBLISH_REFUSAL[admitted.reason], admitted.message);
      this.endAfterRefusal(admitted);
      return;
    }
    const publisher: PublisherInfo = {
      id: this.id,
      protocol: 'rtmp',
      remoteAddress: this.remote,
      query,
      grant: admitted,
      close: (reason) => this.close(reason),
    };
    let stream: Stream;
    try {
      stream = this.options.registry.publish(path, publisher);
    } catch (err) {
      if (!(err instanceof StreamBusyError)) throw err;
      log.warn('publish refused', { reason: err.message });
      this.session.rejectPublish(streamId, 'NetStream.Publish.BadName', err.message);
      return;
    }
    const ingest = new RtmpToStream(stream, log);
    this.publishing.set(streamId, { stream, ingest, publisher });
    this.clearSetupTimer();
    this.session.acceptPublish(streamId);
    for (const e of held?.messages ?? []) this.ingest(ingest, e);
    log.info('publish started', { query: query ? 'present' : undefined, heldMessages: held?.messages.length || undefined });
  }

  private async onPlay(streamId: number, app: string, name: string, query: string): Promise<void> {
    const resolved = rtmpStreamPath(app, name);
    const log = this.log.child({ path: 'path' in resolved ? resolved.path : `${app}/${name}` });
    if ('error' in resolved) {
      log.warn('play refused', { reason: resolved.error });
      this.session.rejectPlay(streamId, 'NetStream.Play.StreamNotFound', resolved.error);
      return;
    }
    const path = resolved.path;
    const admitted = await this.options.registry.admit(this.accessRequest('read', path, query));
    if (this.closed) return;
    const stream = admitted.ok ? this.options.registry.get(path) : undefined;
    if (!admitted.ok || !stream) {
      const refusal: AccessRefusal = admitted.ok ? { ok: false, reason: 'not-found', message: `stream "${path}" is not live` } : admitted;
      log.info('play refused', { reason: refusal.reason, why: refusal.message });
      this.session.rejectPlay(streamId, PLAY_REFUSAL[refusal.reason], refusal.message);
      this.endAfterRefusal(refusal);
      return;
    }
    this.endPlay(streamId, 'play started again');
    this.clearSetupTimer();
    this.session.acceptPlay(streamId);
    const reader = new RtmpReader(
      {
        streamId,
        chunkSize: this.session.outChunkSize,
        write: (bytes) => this.write(bytes),
        beginBatch: () => this.socket.cork(),
        endBatch: () => this.socket.uncork(),
        backlog: () => this.socket.writableLength,
        endOfStream: () => {
          this.playing.delete(streamId);
          this.session.sendEndOfStream(streamId);
          log.info('play ended', { reason: 'end of stream' });
          // Let the player read the end-of-stream status, then close.
          this.socket.end();
        },
        abort: (reason) => this.close(reason),
      },
      this.options.chunkSize,
    );
    // RTMP players play AAC and MP3: Opus audio reaches them as the stream's AAC rendition.
    const handle = stream.addReader({ id: `${this.id}/${streamId}`, protocol: 'rtmp', remoteAddress: this.remote, query, grant: admitted }, reader, { audio: ['aac', 'mp3'] });
    this.playing.set(streamId, { handle, reader, path });
    log.info('play started', { query: query ? 'present' : undefined });
  }

  private endPublish(streamId: number, reason: string): void {
    const pub = this.publishing.get(streamId);
    if (!pub) return;
    this.publishing.delete(streamId);
    // Units already received still reach the readers before their end of stream.
    pub.ingest.flush();
    this.options.registry.unpublish(pub.stream, reason, pub.publisher);
    this.log.info('publish ended', { path: pub.stream.path, reason });
  }

  private endPlay(streamId: number, reason: string): void {
    const play = this.playing.get(streamId);
    if (!play) return;
    this.playing.delete(streamId);
    play.handle.close();
    this.log.info('play ended', { path: play.path, reason });
  }

  private clearSetupTimer(): void {
    if (this.setupTimer) clearTimeout(this.setupTimer);
    this.setupTimer = null;
  }

  /**
   * Idempotent: ends what this connection publishes and plays, then destroys the socket. A close the
   * server decides (error, timeout, take-over, slow reader) is logged at warn; one the peer made, at info.
   */
  /** `refused`: the client's credentials were refused; what was written (its status) is flushed before the close. */
  close(reason: string, by: 'server' | 'peer' | 'shutdown' | 'refused' = 'server'): void {
    if (this.closed) return;
    this.closed = true;
    this.clearSetupTimer();
    for (const t of this.waiting.values()) clearTimeout(t);
    this.waiting.clear();
    this.admitting.clear();
    for (const id of [...this.publishing.keys()]) this.endPublish(id, reason);
    for (const id of [...this.playing.keys()]) this.endPlay(id, reason);
    if (by === 'server') this.log.warn('connection closed', { reason, by: 'server' });
    else this.log.info('connection closed', { reason });
    if (by === 'refused') {
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 2000).unref();
    } else {
      this.socket.destroy();
    }
    this.onClosed();
  }
}
