/**
 * The client side of an RTMP connection, without a socket: connect, then publish or play one stream.
 * Used by relays (later) and by tests (e.g. to send Enhanced RTMP, which ffmpeg 5.1 cannot).
 */
import { ProtocolError } from '../../core/errors.js';
import { TypedEmitter } from '../../core/events.js';
import { decodeAmf0, encodeAmf0, ecmaArray, type Amf0Object, type Amf0Value } from '../../format/amf0.js';
import { ChunkReader, type RtmpMessage } from './chunk-reader.js';
import { chunkMessage } from './chunk-writer.js';
import { ClientHandshake } from './handshake.js';
import { Csid, MessageType, UserControlEvent, acknowledgement, commandMessage, setChunkSize, userControl, windowAckSize } from './messages.js';

export interface StatusEvent {
  code: string;
  level: string;
  description: string;
}

export type RtmpClientSessionEvents = {
  /** Result of connect (NetConnection.Connect.*) */
  connected: StatusEvent;
  status: StatusEvent;
  /** createStream answered. */
  stream: { streamId: number };
  media: { typeId: 8 | 9 | 18; timestamp: number; payload: Buffer };
};

export interface RtmpClientSessionOptions {
  send: (bytes: Buffer) => void;
  /** Chunk size to send with (default 4096). */
  chunkSize?: number;
  maxMessageSize?: number;
}

export class RtmpClientSession extends TypedEmitter<RtmpClientSessionEvents> {
  private readonly handshake = new ClientHandshake();
  private readonly reader: ChunkReader;
  private handshakeDone = false;
  private txn = 1;
  private readonly pending = new Map<number, string>();
  readonly chunkSize: number;
  streamId = 0;
  private received = 0;
  private lastAck = 0;
  private window = 2_500_000;

  constructor(private readonly options: RtmpClientSessionOptions) {
    super();
    this.chunkSize = options.chunkSize ?? 4096;
    this.reader = new ChunkReader({ maxMessageSize: options.maxMessageSize });
    this.onListenerError = (err) => {
      throw err;
    };
  }

  /** C0+C1: call once, first. */
  start(): void {
    this.options.send(this.handshake.start());
  }

  feed(bytes: Buffer): void {
    this.received += bytes.length;
    let data = bytes;
    if (!this.handshakeDone) {
      const step = this.handshake.feed(bytes);
      if (step.send) this.options.send(step.send);
      if (!step.done) return;
      this.handshakeDone = true;
      this.options.send(setChunkSize(this.chunkSize, 128));
      this.emit('status', { code: 'Handshake.Done', level: 'status', description: '' });
      data = step.rest ?? Buffer.alloc(0);
    }
    for (const msg of this.reader.push(data)) this.onMessage(msg);
    if (this.received - this.lastAck >= this.window) {
      this.lastAck = this.received;
      this.options.send(acknowledgement(this.received, this.chunkSize));
    }
  }

  connect(app: string, tcUrl: string): void {
    const cmd: Amf0Object = {
      app,
      type: 'nonprivate',
      flashVer: 'FMLE/3.0 (compatible; livegate)',
      tcUrl,
      fpad: false,
      capabilities: 15,
      audioCodecs: 0x0fff,
      videoCodecs: 0x00ff,
      videoFunction: 1,
      objectEncoding: 0,
      // Enhanced RTMP v1: the codecs this client can send or receive.
      fourCcList: ['hvc1', 'av01', 'vp09', 'avc1', 'Opus'],
    };
    this.command(0, 'connect', [cmd]);
  }

  createStream(): void {
    this.command(0, 'createStream', [null]);
  }

  publish(name: string): void {
    this.command(0, 'releaseStream', [null, name]);
    this.command(0, 'FCPublish', [null, name]);
    this.createStream();
    this.once('stream', ({ streamId }) => this.command(streamId, 'publish', [null, name, 'live'], 0));
  }

  play(name: string): void {
    this.createStream();
    this.once('stream', ({ streamId }) => {
      this.options.send(userControl(UserControlEvent.SetBufferLength, streamId, this.chunkSize, 100));
      this.command(streamId, 'play', [null, name, -2], 0);
    });
  }

  sendMedia(typeId: 8 | 9 | 18, timestamp: number, payload: Buffer): void {
    const csid = typeId === 8 ? Csid.Audio : typeId === 9 ? Csid.Video : Csid.Data;
    this.options.send(chunkMessage({ csid, typeId, timestamp, streamId: this.streamId, payload }, this.chunkSize));
  }

  sendMetadata(meta: Amf0Object): void {
    this.sendMedia(18, 0, encodeAmf0('@setDataFrame', 'onMetaData', ecmaArray({ ...meta })));
  }

  /** FCUnpublish + deleteStream. */
  unpublish(name: string): void {
    this.command(0, 'FCUnpublish', [null, name]);
    this.command(0, 'deleteStream', [null, this.streamId], 0);
  }

  private command(streamId: number, name: string, args: Amf0Value[], txn?: number): void {
    const id = txn ?? this.txn++;
    if (id > 0) this.pending.set(id, name);
    this.options.send(commandMessage(streamId, [name, id, ...args], this.chunkSize));
  }

  private onMessage(msg: RtmpMessage): void {
    switch (msg.typeId) {
      case MessageType.WindowAckSize:
        if (msg.payload.length >= 4) {
          this.window = msg.payload.readUInt32BE(0);
          this.options.send(windowAckSize(this.window, this.chunkSize));
        }
        return;
      case MessageType.UserControl:
        if (msg.payload.length >= 6 && msg.payload.readUInt16BE(0) === UserControlEvent.PingRequest) {
          this.options.send(userControl(UserControlEvent.PingResponse, msg.payload.readUInt32BE(2), this.chunkSize));
        } else if (msg.payload.length >= 6 && msg.payload.readUInt16BE(0) === UserControlEvent.StreamEOF) {
          this.emit('status', { code: 'StreamEOF', level: 'status', description: '' });
        }
        return;
      case MessageType.CommandAmf0:
      case MessageType.CommandAmf3:
        return this.onCommand(decodeAmf0(msg.typeId === MessageType.CommandAmf3 ? msg.payload.subarray(1) : msg.payload));
      case MessageType.Audio:
      case MessageType.Video:
      case MessageType.DataAmf0:
        this.emit('media', { typeId: msg.typeId, timestamp: msg.timestamp, payload: msg.payload });
        return;
      default:
        return;
    }
  }

  private onCommand(values: Amf0Value[]): void {
    const [name, txn] = values;
    if (name === '_result' || name === '_error') {
      const what = typeof txn === 'number' ? this.pending.get(txn) : undefined;
      if (typeof txn === 'number') this.pending.delete(txn);
      const info = asStatus(values[3]);
      if (what === 'connect') {
        this.emit('connected', info ?? { code: name === '_result' ? 'NetConnection.Connect.Success' : 'NetConnection.Connect.Rejected', level: 'status', description: '' });
      } else if (what === 'createStream') {
        if (name !== '_result' || typeof values[3] !== 'number') throw new ProtocolError('createStream failed');
        this.streamId = values[3];
        this.emit('stream', { streamId: values[3] });
      }
      return;
    }
    if (name === 'onStatus') {
      const info = asStatus(values[3]);
      if (info) this.emit('status', info);
    }
  }
}

function asStatus(v: Amf0Value): StatusEvent | null {
  if (!v || typeof v !== 'object' || Array.isArray(v) || v instanceof Date) return null;
  return {
    code: typeof v.code === 'string' ? v.code : '',
    level: typeof v.level === 'string' ? v.level : '',
    description: typeof v.description === 'string' ? v.description : '',
  };
}
