/**
 * FLV/RTMP audio tag bodies: legacy (FLV spec §E.4.2.1: AAC = SoundFormat 10, MP3 = 2) and Enhanced
 * RTMP v2 audio (SoundFormat 9 = ExHeader, AudioPacketType, FourCC). Pure.
 */
import { ParseError } from '../../core/errors.js';
import { skipModEx } from './modex.js';

export type FlvAudioCodec = 'aac' | 'mp3' | 'opus' | 'flac' | 'ac3' | 'eac3' | 'unknown';
export type AudioPacketType = 'sequence-start' | 'coded-frames' | 'sequence-end' | 'multichannel-config' | 'multitrack' | 'unknown';

export interface AudioBody {
  codec: FlvAudioCodec;
  soundFormat: number;
  /** 0 = 5.5 kHz, 1 = 11 kHz, 2 = 22 kHz, 3 = 44 kHz (legacy header). */
  soundRate: number;
  soundSize: number;
  stereo: boolean;
  packetType: AudioPacketType;
  data: Buffer;
  enhanced: boolean;
  fourCC?: string;
}

const FOURCC_CODEC: { [fourCC: string]: FlvAudioCodec } = { Opus: 'opus', fLaC: 'flac', 'ac-3': 'ac3', 'ec-3': 'eac3', '.mp3': 'mp3', mp4a: 'aac' };
const EX_AUDIO = 9;

export function parseAudioBody(body: Buffer): AudioBody {
  if (body.length < 1) throw new ParseError('empty audio tag');
  const b0 = body[0]!;
  const soundFormat = b0 >> 4;
  const base = { soundFormat, soundRate: (b0 >> 2) & 3, soundSize: (b0 >> 1) & 1, stereo: (b0 & 1) === 1 };
  if (soundFormat === EX_AUDIO) {
    const { packetType, pos } = skipModEx(body, 1, b0 & 0x0f, 'audio');
    if (packetType === 5) return { ...base, codec: 'unknown', packetType: 'multitrack', data: body.subarray(pos), enhanced: true };
    if (pos + 4 > body.length) throw new ParseError('Enhanced RTMP audio tag without FourCC');
    const fourCC = body.toString('latin1', pos, pos + 4);
    const type: AudioPacketType =
      packetType === 0 ? 'sequence-start' : packetType === 1 ? 'coded-frames' : packetType === 2 ? 'sequence-end' : packetType === 4 ? 'multichannel-config' : 'unknown';
    return { ...base, codec: FOURCC_CODEC[fourCC] ?? 'unknown', packetType: type, data: body.subarray(pos + 4), enhanced: true, fourCC };
  }
  if (soundFormat === 10) {
    if (body.length < 2) throw new ParseError('AAC audio tag shorter than 2 bytes');
    const packetType: AudioPacketType = body[1] === 0 ? 'sequence-start' : body[1] === 1 ? 'coded-frames' : 'unknown';
    return { ...base, codec: 'aac', packetType, data: body.subarray(2), enhanced: false };
  }
  if (soundFormat === 2 || soundFormat === 14) {
    return { ...base, codec: 'mp3', packetType: 'coded-frames', data: body.subarray(1), enhanced: false };
  }
  return { ...base, codec: 'unknown', packetType: 'unknown', data: body.subarray(1), enhanced: false, fourCC: `legacy-${soundFormat}` };
}

export interface AudioBodyInput {
  codec: 'aac' | 'opus' | 'mp3';
  packetType: 'sequence-start' | 'coded-frames';
  data: Buffer;
  sampleRate: number;
  channels: number;
}

/** Builds an audio tag body: legacy for AAC and MP3, Enhanced RTMP (`Opus`) for Opus. */
export function buildAudioBody(a: AudioBodyInput): Buffer {
  if (a.codec === 'aac') {
    const b = Buffer.allocUnsafe(2 + a.data.length);
    b[0] = 0xaf; // AAC, 44 kHz, 16-bit, stereo: fixed for AAC (§E.4.2.1); the ASC has the truth
    b[1] = a.packetType === 'sequence-start' ? 0 : 1;
    a.data.copy(b, 2);
    return b;
  }
  if (a.codec === 'mp3') {
    const rate = a.sampleRate >= 44100 ? 3 : a.sampleRate >= 22050 ? 2 : a.sampleRate >= 11025 ? 1 : 0;
    const b = Buffer.allocUnsafe(1 + a.data.length);
    b[0] = (2 << 4) | (rate << 2) | 2 | (a.channels > 1 ? 1 : 0);
    a.data.copy(b, 1);
    return b;
  }
  const b = Buffer.allocUnsafe(5 + a.data.length);
  b[0] = (EX_AUDIO << 4) | (a.packetType === 'sequence-start' ? 0 : 1);
  b.write('Opus', 1, 'latin1');
  a.data.copy(b, 5);
  return b;
}
