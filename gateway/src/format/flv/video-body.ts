/**
 * FLV/RTMP video tag bodies: legacy (FLV spec §E.4.3.1: AVC codec id 7, and the common non-standard
 * HEVC id 12) and Enhanced RTMP (veovera E-RTMP v1/v2: IsExHeader, PacketType, FourCC). Pure.
 */
import { ParseError } from '../../core/errors.js';
import { skipModEx } from './modex.js';

export type FlvVideoCodec = 'h264' | 'h265' | 'av1' | 'vp9' | 'unknown';
export type VideoPacketType = 'sequence-start' | 'coded-frames' | 'sequence-end' | 'metadata' | 'mpeg2ts-sequence-start' | 'multitrack' | 'unknown';

export interface VideoBody {
  codec: FlvVideoCodec;
  fourCC?: string;
  /** 1 keyframe, 2 inter, 3 disposable inter, 4 generated keyframe, 5 info/command. */
  frameType: number;
  packetType: VideoPacketType;
  compositionTimeMs: number;
  /** The configuration record (sequence start) or the NAL units / OBUs (coded frames). */
  data: Buffer;
  enhanced: boolean;
  /** Command byte of a frameType 5 tag. */
  command?: number;
}

const FOURCC_CODEC: { [fourCC: string]: FlvVideoCodec } = { avc1: 'h264', hvc1: 'h265', av01: 'av1', vp09: 'vp9' };
const CODEC_FOURCC: { [codec: string]: string } = { h264: 'avc1', h265: 'hvc1', av1: 'av01', vp9: 'vp09' };

// E-RTMP VideoPacketType values.
const EX_SEQUENCE_START = 0;
const EX_CODED_FRAMES = 1;
const EX_SEQUENCE_END = 2;
const EX_CODED_FRAMES_X = 3;
const EX_METADATA = 4;
const EX_MPEG2TS_SEQUENCE_START = 5;
const EX_MULTITRACK = 6;

export function parseVideoBody(body: Buffer): VideoBody {
  if (body.length < 1) throw new ParseError('empty video tag');
  const b0 = body[0]!;
  if (b0 & 0x80) return parseEnhanced(body);
  const frameType = (b0 >> 4) & 0x0f;
  const codecId = b0 & 0x0f;
  if (frameType === 5) return { codec: 'unknown', frameType, packetType: 'unknown', compositionTimeMs: 0, data: body.subarray(2), enhanced: false, command: body[1] };
  if (codecId !== 7 && codecId !== 12) {
    return { codec: 'unknown', fourCC: `legacy-${codecId}`, frameType, packetType: 'unknown', compositionTimeMs: 0, data: body.subarray(1), enhanced: false };
  }
  if (body.length < 5) throw new ParseError('AVC video tag shorter than 5 bytes');
  const avcPacketType = body[1]!;
  const packetType: VideoPacketType = avcPacketType === 0 ? 'sequence-start' : avcPacketType === 1 ? 'coded-frames' : avcPacketType === 2 ? 'sequence-end' : 'unknown';
  return {
    codec: codecId === 7 ? 'h264' : 'h265',
    frameType,
    packetType,
    compositionTimeMs: body.readIntBE(2, 3),
    data: body.subarray(5),
    enhanced: false,
  };
}

function parseEnhanced(body: Buffer): VideoBody {
  const b0 = body[0]!;
  const frameType = (b0 >> 4) & 0x07;
  const { packetType, pos: start } = skipModEx(body, 1, b0 & 0x0f, 'video');
  let pos = start;
  if (frameType === 5 && packetType !== EX_METADATA) {
    return { codec: 'unknown', frameType, packetType: 'unknown', compositionTimeMs: 0, data: body.subarray(pos + 4), enhanced: true, command: body[pos + 4] };
  }
  if (packetType === EX_MULTITRACK) {
    return { codec: 'unknown', frameType, packetType: 'multitrack', compositionTimeMs: 0, data: body.subarray(pos), enhanced: true };
  }
  if (pos + 4 > body.length) throw new ParseError('Enhanced RTMP video tag without FourCC');
  const fourCC = body.toString('latin1', pos, pos + 4);
  pos += 4;
  const codec = FOURCC_CODEC[fourCC] ?? 'unknown';
  let compositionTimeMs = 0;
  let type: VideoPacketType;
  switch (packetType) {
    case EX_SEQUENCE_START:
      type = 'sequence-start';
      break;
    case EX_CODED_FRAMES:
      type = 'coded-frames';
      // Only AVC and HEVC carry a composition time here (E-RTMP v1, "CodedFrames").
      if (codec === 'h264' || codec === 'h265') {
        if (pos + 3 > body.length) throw new ParseError('Enhanced RTMP coded frames without composition time');
        compositionTimeMs = body.readIntBE(pos, 3);
        pos += 3;
      }
      break;
    case EX_CODED_FRAMES_X:
      type = 'coded-frames';
      break;
    case EX_SEQUENCE_END:
      type = 'sequence-end';
      break;
    case EX_METADATA:
      type = 'metadata';
      break;
    case EX_MPEG2TS_SEQUENCE_START:
      type = 'mpeg2ts-sequence-start';
      break;
    default:
      type = 'unknown';
  }
  return { codec, fourCC, frameType, packetType: type, compositionTimeMs, data: body.subarray(pos), enhanced: true };
}

export interface VideoBodyInput {
  codec: 'h264' | 'h265' | 'av1' | 'vp9';
  packetType: 'sequence-start' | 'coded-frames' | 'sequence-end';
  keyframe: boolean;
  compositionTimeMs: number;
  data: Buffer;
}

/**
 * Builds a video tag body: legacy AVC for h264 (what every FLV player reads), Enhanced RTMP for the
 * others. HEVC coded frames use CodedFramesX when the composition time is 0 (3 bytes shorter).
 */
export function buildVideoBody(v: VideoBodyInput): Buffer {
  const frameType = v.keyframe ? 1 : 2;
  if (v.codec === 'h264') {
    const b = Buffer.allocUnsafe(5 + v.data.length);
    b[0] = (frameType << 4) | 7;
    b[1] = v.packetType === 'sequence-start' ? 0 : v.packetType === 'coded-frames' ? 1 : 2;
    b.writeIntBE(v.packetType === 'coded-frames' ? v.compositionTimeMs : 0, 2, 3);
    v.data.copy(b, 5);
    return b;
  }
  let packetType: number;
  let withCts = false;
  if (v.packetType === 'sequence-start') packetType = EX_SEQUENCE_START;
  else if (v.packetType === 'sequence-end') packetType = EX_SEQUENCE_END;
  else if (v.codec === 'h265' && v.compositionTimeMs !== 0) {
    packetType = EX_CODED_FRAMES;
    withCts = true;
  } else packetType = v.codec === 'h265' ? EX_CODED_FRAMES_X : EX_CODED_FRAMES;
  const head = 5 + (withCts ? 3 : 0);
  const b = Buffer.allocUnsafe(head + v.data.length);
  b[0] = 0x80 | (frameType << 4) | packetType;
  b.write(CODEC_FOURCC[v.codec]!, 1, 'latin1');
  if (withCts) b.writeIntBE(v.compositionTimeMs, 5, 3);
  v.data.copy(b, head);
  return b;
}
