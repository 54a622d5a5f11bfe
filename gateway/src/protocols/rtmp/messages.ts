/** RTMP message types, protocol control and user control messages, status objects (spec §5.4, §6.2, §7). */
import { encodeAmf0, type Amf0Object, type Amf0Value } from '../../format/amf0.js';
import { chunkMessage } from './chunk-writer.js';

export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22,
} as const;

export const UserControlEvent = {
  StreamBegin: 0,
  StreamEOF: 1,
  StreamDry: 2,
  SetBufferLength: 3,
  StreamIsRecorded: 4,
  PingRequest: 6,
  PingResponse: 7,
} as const;

/** Chunk stream ids used for what livegate sends. */
export const Csid = { Control: 2, Command: 3, Audio: 4, Data: 5, Video: 6 } as const;

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

/** Protocol control messages go on csid 2, message stream 0 (§5.4). Sent with the given chunk size. */
export function controlMessage(typeId: number, payload: Buffer, chunkSize: number): Buffer {
  return chunkMessage({ csid: Csid.Control, typeId, timestamp: 0, streamId: 0, payload }, chunkSize);
}

export const setChunkSize = (size: number, chunkSize: number): Buffer => controlMessage(MessageType.SetChunkSize, u32(size), chunkSize);
export const acknowledgement = (received: number, chunkSize: number): Buffer =>
  controlMessage(MessageType.Acknowledgement, u32(received), chunkSize);
export const windowAckSize = (size: number, chunkSize: number): Buffer => controlMessage(MessageType.WindowAckSize, u32(size), chunkSize);

/** limitType 2 = dynamic (§5.4.5). */
export function setPeerBandwidth(size: number, limitType: 0 | 1 | 2, chunkSize: number): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(size);
  b[4] = limitType;
  return controlMessage(MessageType.SetPeerBandwidth, b, chunkSize);
}

/** User control message (§6.2 / §7.1.7): event type + event data. */
export function userControl(event: number, data: number, chunkSize: number, extra?: number): Buffer {
  const b = Buffer.alloc(extra === undefined ? 6 : 10);
  b.writeUInt16BE(event);
  b.writeUInt32BE(data >>> 0, 2);
  if (extra !== undefined) b.writeUInt32BE(extra >>> 0, 6);
  return controlMessage(MessageType.UserControl, b, chunkSize);
}

/** An AMF0 command message on csid 3. */
export function commandMessage(streamId: number, values: Amf0Value[], chunkSize: number): Buffer {
  return chunkMessage({ csid: Csid.Command, typeId: MessageType.CommandAmf0, timestamp: 0, streamId, payload: encodeAmf0(...values) }, chunkSize);
}

/** An AMF0 data message (e.g. |RtmpSampleAccess, onMetaData). */
export function dataMessage(streamId: number, values: Amf0Value[], chunkSize: number): Buffer {
  return chunkMessage({ csid: Csid.Data, typeId: MessageType.DataAmf0, timestamp: 0, streamId, payload: encodeAmf0(...values) }, chunkSize);
}

export function statusInfo(level: 'status' | 'error' | 'warning', code: string, description: string, extra: Amf0Object = {}): Amf0Object {
  return { level, code, description, ...extra };
}

/** onStatus(0, null, info) on a message stream (§7.2.2). */
export function onStatus(streamId: number, info: Amf0Object, chunkSize: number): Buffer {
  return commandMessage(streamId, ['onStatus', 0, null, info], chunkSize);
}
