/**
 * The server side of one RTMP connection, without a socket: bytes in (`feed`), typed events and
 * bytes out (`send`). The host decides whether to accept a publish or play, possibly later (so that
 * authentication can be asynchronous); until it does, no status is sent.
 */
import { ProtocolError } from '../../core/errors.js';
import { TypedEmitter } from '../../core/events.js';
import { decodeAmf0, type Amf0Object, type Amf0Value } from '../../format/amf0.js';
import { ChunkReader, type RtmpMessage } from './chunk-reader.js';
import { ServerHandshake } from './handshake.js';
import {
  MessageType,
  UserControlEvent,
  acknowledgement,
  commandMessage,
  dataMessage,
  onStatus,
  setChunkSize,
  setPeerBandwidth,
  statusInfo,
  userControl,
  windowAckSize,
} from './messages.js';

export interface RtmpServerSessionOptions {
  send: (bytes: Buffer) => void;
  maxMessageSize?: number;
  maxChunkSize?: number;
  /** Chunk size livegate sends with (default 4096). */
  outChunkSize?: number;
  windowAckSize?: number;
  amfMaxDepth?: number;
}

export interface ConnectEvent {
  app: string;
  tcUrl?: string;
  flashVer?: string;
  objectEncoding: number;
  /** Query string that came with the app name ("" if none). */
  query: string;
  command: Amf0Object;
}
export interface PublishEvent {
  streamId: number;
  app: string;
  name: string;
  query: string;
  type: string;
}
export interface PlayEvent {
  streamId: number;
  app: string;
  name: string;
  query: string;
  start: number;
}
export interface MediaEvent {
  streamId: number;
  typeId: 8 | 9 | 18;
  timestamp: number;
  payload: Buffer;
  /** Decoded AMF0 values of a data message, `@setDataFrame` removed. */
  values?: Amf0Value[];
}

export type RtmpServerSessionEvents = {
  connect: ConnectEvent;
  publish: PublishEvent;
  play: PlayEvent;
  unpublish: { streamId: number; name: string };
  'stop-play': { streamId: number };
  pause: { streamId: number; paused: boolean; positionMs: number };
  media: MediaEvent;
};

/** Splits "name?query" (the query keeps tokens for authentication). */
export function splitQuery(s: string): { name: string; query: string } {
  const i = s.indexOf('?');
  return i < 0 ? { name: s, query: '' } : { name: s.slice(0, i), query: s.slice(i + 1) };
}

const MAX_STREAMS = 8;

export class RtmpServerSession extends TypedEmitter<RtmpServerSessionEvents> {
  readonly outChunkSize: number;
  private readonly handshake = new ServerHandshake();
  private readonly reader: ChunkReader;
  private handshakeDone = false;
  private connected = false;
  private app = '';
  private objectEncoding = 0;
  private nextStreamId = 1;
  private readonly streams = new Map<number, { kind: 'idle' | 'publish' | 'play'; name: string }>();
  private received = 0;
  private lastAck = 0;
  private peerWindow = 0;
  private readonly window: number;

  constructor(private readonly options: RtmpServerSessionOptions) {
    super();
    this.outChunkSize = options.outChunkSize ?? 4096;
    this.window = options.windowAckSize ?? 2_500_000;
    this.reader = new ChunkReader({
      maxMessageSize: options.maxMessageSize,
      maxChunkSize: options.maxChunkSize,
    });
    // Listener errors are bugs in livegate, not peer errors: let them reach the caller of feed().
    this.onListenerError = (err) => {
      throw err;
    };
  }

  /** Feeds received bytes. Throws ParseError / LimitError / ProtocolError on a peer violation. */
  feed(bytes: Buffer): void {
    this.received += bytes.length;
    let data = bytes;
    if (!this.handshakeDone) {
      const step = this.handshake.feed(bytes);
      if (step.send) this.options.send(step.send);
      if (!step.done) return;
      this.handshakeDone = true;
      data = step.rest ?? Buffer.alloc(0);
      if (data.length === 0) return;
    }
    for (const msg of this.reader.push(data)) this.onMessage(msg);
    // §5.4.3: acknowledge every window of bytes received.
    const window = this.peerWindow || this.window;
    if (this.received - this.lastAck >= window) {
      this.lastAck = this.received;
      this.options.send(acknowledgement(this.received, this.outChunkSize));
    }
  }

  acceptPublish(streamId: number): void {
    const s = this.streams.get(streamId);
    if (s) s.kind = 'publish';
    this.send(userControl(UserControlEvent.StreamBegin, streamId, this.outChunkSize));
    this.send(onStatus(streamId, statusInfo('status', 'NetStream.Publish.Start', `${s?.name ?? ''} is now published.`, { details: s?.name ?? '' }), this.outChunkSize));
  }

  rejectPublish(streamId: number, code: string, description: string): void {
    this.send(onStatus(streamId, statusInfo('error', code, description), this.outChunkSize));
  }

  acceptPlay(streamId: number): void {
    const s = this.streams.get(streamId);
    if (s) s.kind = 'play';
    const name = s?.name ?? '';
    const cs = this.outChunkSize;
    this.send(userControl(UserControlEvent.StreamIsRecorded, streamId, cs));
    this.send(userControl(UserControlEvent.StreamBegin, streamId, cs));
    this.send(onStatus(streamId, statusInfo('status', 'NetStream.Play.Reset', `Playing and resetting ${name}.`, { details: name }), cs));
    this.send(onStatus(streamId, statusInfo('status', 'NetStream.Play.Start', `Started playing ${name}.`, { details: name }), cs));
    // |RtmpSampleAccess is what Flash players expect, and players that read FLV data skip it by name.
    // No other data message goes out here: ffmpeg makes a "Data: none" stream of any unknown one
    // (e.g. onStatus NetStream.Data.Start), and `-map 0 -c copy` to a file then fails on it.
    this.send(dataMessage(streamId, ['|RtmpSampleAccess', true, true], cs));
  }

  rejectPlay(streamId: number, code: string, description: string): void {
    this.send(onStatus(streamId, statusInfo('error', code, description), this.outChunkSize));
  }

  /** The published stream ended: players get UnpublishNotify and StreamEOF. */
  sendEndOfStream(streamId: number): void {
    const s = this.streams.get(streamId);
    if (s) s.kind = 'idle';
    this.send(onStatus(streamId, statusInfo('status', 'NetStream.Play.UnpublishNotify', `${s?.name ?? ''} is now unpublished.`), this.outChunkSize));
    this.send(userControl(UserControlEvent.StreamEOF, streamId, this.outChunkSize));
  }

  /** Sends pre-chunked bytes (shared media Buffers). */
  writeRaw(bytes: Buffer): void {
    this.options.send(bytes);
  }

  private send(bytes: Buffer): void {
    this.options.send(bytes);
  }

  private onMessage(msg: RtmpMessage): void {
    switch (msg.typeId) {
      case MessageType.SetChunkSize:
      case MessageType.Abort:
      case MessageType.Acknowledgement:
        return; // applied by the chunk reader / nothing to do
      case MessageType.WindowAckSize:
        if (msg.payload.length >= 4) this.peerWindow = msg.payload.readUInt32BE(0);
        return;
      case MessageType.SetPeerBandwidth:
        return;
      case MessageType.UserControl:
        return this.onUserControl(msg.payload);
      case MessageType.CommandAmf0:
        return this.onCommand(msg, msg.payload);
      case MessageType.CommandAmf3:
        // AMF3 command messages start with a format byte, then AMF0 (§7.1.1).
        return this.onCommand(msg, msg.payload.subarray(1));
      case MessageType.Audio:
      case MessageType.Video:
        this.requireConnected();
        this.emit('media', { streamId: msg.streamId, typeId: msg.typeId, timestamp: msg.timestamp, payload: msg.payload });
        return;
      case MessageType.DataAmf0:
      case MessageType.DataAmf3:
        return this.onData(msg, msg.typeId === MessageType.DataAmf3 ? msg.payload.subarray(1) : msg.payload);
      case MessageType.Aggregate:
        return this.onAggregate(msg);
      default:
        return; // shared objects and unknown types: ignored
    }
  }

  private requireConnected(): void {
    if (!this.connected) throw new ProtocolError('media or command before connect');
  }

  private onUserControl(p: Buffer): void {
    if (p.length < 6) return;
    if (p.readUInt16BE(0) === UserControlEvent.PingRequest) {
      this.send(userControl(UserControlEvent.PingResponse, p.readUInt32BE(2), this.outChunkSize));
    }
  }

  private decode(payload: Buffer): Amf0Value[] {
    return decodeAmf0(payload, { maxDepth: this.options.amfMaxDepth ?? 32 });
  }

  private onData(msg: RtmpMessage, payload: Buffer): void {
    this.requireConnected();
    let values = this.decode(payload);
    if (values[0] === '@setDataFrame') values = values.slice(1);
    this.emit('media', { streamId: msg.streamId, typeId: 18, timestamp: msg.timestamp, payload, values });
  }

  /** §7.1.6 aggregate: a run of FLV-tag-like sub-messages, each followed by its back pointer. */
  private onAggregate(msg: RtmpMessage): void {
    this.requireConnected();
    const p = msg.payload;
    let pos = 0;
    let base: number | null = null;
    while (pos + 11 <= p.length) {
      const type = p[pos]!;
      const size = p.readUIntBE(pos + 1, 3);
      const ts = (p.readUIntBE(pos + 4, 3) | (p[pos + 7]! << 24)) >>> 0;
      if (pos + 11 + size + 4 > p.length) throw new ProtocolError('aggregate sub-message runs past the message');
      base ??= ts;
      const timestamp = (msg.timestamp + (ts - base)) >>> 0;
      const body = p.subarray(pos + 11, pos + 11 + size);
      if (type === MessageType.Audio || type === MessageType.Video) {
        this.emit('media', { streamId: msg.streamId, typeId: type, timestamp, payload: body });
      } else if (type === MessageType.DataAmf0) {
        this.onData({ ...msg, timestamp, payload: body }, body);
      }
      pos += 11 + size + 4;
    }
  }

  private onCommand(msg: RtmpMessage, payload: Buffer): void {
    const values = this.decode(payload);
    const name = values[0];
    const txn = typeof values[1] === 'number' ? values[1] : 0;
    if (typeof name !== 'string') throw new ProtocolError('command message without a name');
    if (name !== 'connect') this.requireConnected();
    const cs = this.outChunkSize;
    switch (name) {
      case 'connect':
        return this.onConnect(txn, values[2]);
      case 'releaseStream':
      case 'FCPublish': {
        if (name === 'FCPublish') {
          const stream = typeof values[3] === 'string' ? values[3] : '';
          this.send(commandMessage(0, ['onFCPublish', 0, null, statusInfo('status', 'NetStream.Publish.Start', stream, { details: stream })], cs));
        }
        if (txn > 0) this.send(commandMessage(0, ['_result', txn, null, undefined], cs));
        return;
      }
      case 'createStream': {
        if (this.streams.size >= MAX_STREAMS) throw new ProtocolError(`more than ${MAX_STREAMS} message streams`);
        const id = this.nextStreamId++;
        this.streams.set(id, { kind: 'idle', name: '' });
        this.send(commandMessage(0, ['_result', txn, null, id], cs));
        return;
      }
      case 'publish': {
        const s = this.streamFor(msg.streamId);
        const raw = typeof values[3] === 'string' ? values[3] : '';
        const { name: key, query } = splitQuery(raw);
        s.name = key;
        const type = typeof values[4] === 'string' ? values[4] : 'live';
        this.emit('publish', { streamId: msg.streamId, app: this.app, name: key, query, type });
        return;
      }
      case 'play': {
        const s = this.streamFor(msg.streamId);
        const raw = typeof values[3] === 'string' ? values[3] : '';
        const { name: key, query } = splitQuery(raw);
        s.name = key;
        const start = typeof values[4] === 'number' ? values[4] : -2;
        this.emit('play', { streamId: msg.streamId, app: this.app, name: key, query, start });
        return;
      }
      case 'pause': {
        const paused = values[3] === true;
        const positionMs = typeof values[4] === 'number' ? values[4] : 0;
        const code = paused ? 'NetStream.Pause.Notify' : 'NetStream.Unpause.Notify';
        this.send(onStatus(msg.streamId, statusInfo('status', code, paused ? 'Paused.' : 'Unpaused.'), cs));
        this.emit('pause', { streamId: msg.streamId, paused, positionMs });
        return;
      }
      case 'FCUnpublish':
      case 'closeStream':
      case 'deleteStream': {
        const id = name === 'deleteStream' && typeof values[3] === 'number' ? values[3] : msg.streamId;
        this.endStream(id, name === 'deleteStream');
        if (name === 'FCUnpublish' && txn > 0) this.send(commandMessage(0, ['_result', txn, null, undefined], cs));
        return;
      }
      case 'getStreamLength':
        if (txn > 0) this.send(commandMessage(0, ['_result', txn, null, 0], cs));
        return;
      case 'receiveAudio':
      case 'receiveVideo':
      case '_checkbw':
      case '_result':
      case '_error':
      case 'onBWDone':
        return;
      default:
        if (txn > 0) {
          this.send(commandMessage(0, ['_error', txn, null, statusInfo('error', 'NetConnection.Call.Failed', `unknown command ${name.slice(0, 64)}`)], cs));
        }
    }
  }

  private streamFor(id: number): { kind: 'idle' | 'publish' | 'play'; name: string } {
    const s = this.streams.get(id);
    if (!s) throw new ProtocolError(`command on message stream ${id}, which was never created`);
    return s;
  }

  private endStream(id: number, remove: boolean): void {
    const s = this.streams.get(id);
    if (!s) return;
    if (s.kind === 'publish') this.emit('unpublish', { streamId: id, name: s.name });
    else if (s.kind === 'play') this.emit('stop-play', { streamId: id });
    s.kind = 'idle';
    if (remove) this.streams.delete(id);
  }

  private onConnect(txn: number, cmd: Amf0Value): void {
    if (this.connected) throw new ProtocolError('connect sent twice');
    const command: Amf0Object = cmd && typeof cmd === 'object' && !Array.isArray(cmd) && !(cmd instanceof Date) ? cmd : {};
    const rawApp = typeof command.app === 'string' ? command.app : '';
    const { name: app, query } = splitQuery(rawApp.replace(/^\/+|\/+$/g, ''));
    this.app = app;
    this.objectEncoding = typeof command.objectEncoding === 'number' ? command.objectEncoding : 0;
    this.connected = true;
    const cs = this.outChunkSize;
    this.send(windowAckSize(this.window, 128));
    this.send(setPeerBandwidth(this.window, 2, 128));
    // Set Chunk Size goes out at the default size; everything after uses the new one.
    this.send(setChunkSize(cs, 128));
    const properties: Amf0Object = { fmsVer: 'FMS/3,0,1,123', capabilities: 31, mode: 1 };
    const info: Amf0Object = statusInfo('status', 'NetConnection.Connect.Success', 'Connection succeeded.', {
      objectEncoding: this.objectEncoding,
    });
    // Enhanced RTMP v2: echo the codecs the client offered, meaning we accept them all.
    if (Array.isArray(command.fourCcList)) info.fourCcList = command.fourCcList;
    this.send(commandMessage(0, ['_result', txn, properties, info], cs));
    this.send(commandMessage(0, ['onBWDone', 0, null], cs));
    this.emit('connect', {
      app,
      tcUrl: typeof command.tcUrl === 'string' ? command.tcUrl : undefined,
      flashVer: typeof command.flashVer === 'string' ? command.flashVer : undefined,
      objectEncoding: this.objectEncoding,
      query,
      command,
    });
  }
}
