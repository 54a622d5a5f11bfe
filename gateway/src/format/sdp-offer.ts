/**
 * Just enough SDP (RFC 8866) reading to judge a WebRTC offer before handing it to the WebRTC stack:
 * which media sections it has and which codecs each offers. Pure, with size limits.
 */
import { LimitError, ParseError } from '../core/errors.js';

export interface OfferedCodec {
  payloadType: number;
  /** Upper-cased encoding name, e.g. "H264", "OPUS". */
  name: string;
  clockRate: number;
  fmtp: { [key: string]: string };
}

export interface OfferedMedia {
  kind: string;
  mid?: string;
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  codecs: OfferedCodec[];
  /** The section sends several encodings (RFC 8853 a=simulcast / a=rid, or an SSRC group SIM). */
  simulcast: boolean;
}

export const MAX_SDP_BYTES = 64 * 1024;

export function parseOfferMedia(sdp: string): OfferedMedia[] {
  if (sdp.length > MAX_SDP_BYTES) throw new LimitError(`SDP of ${sdp.length} bytes exceeds ${MAX_SDP_BYTES}`);
  const lines = sdp.split(/\r?\n/);
  if (!lines[0]?.startsWith('v=0')) throw new ParseError('SDP does not start with v=0');
  const media: OfferedMedia[] = [];
  let current: (OfferedMedia & { pts: number[] }) | null = null;
  let sessionDirection: OfferedMedia['direction'] = 'sendrecv';
  for (const line of lines) {
    if (line.startsWith('m=')) {
      const parts = line.slice(2).split(' ');
      if (parts.length < 4) throw new ParseError(`malformed media line "${line.slice(0, 80)}"`);
      current = { kind: parts[0]!, direction: sessionDirection, codecs: [], simulcast: false, pts: parts.slice(3).map(Number) };
      media.push(current);
      if (media.length > 16) throw new LimitError('more than 16 media sections');
      continue;
    }
    const dir = /^a=(sendrecv|sendonly|recvonly|inactive)$/.exec(line)?.[1] as OfferedMedia['direction'] | undefined;
    if (dir) {
      if (current) current.direction = dir;
      else sessionDirection = dir;
      continue;
    }
    if (!current) continue;
    if (line.startsWith('a=mid:')) current.mid = line.slice(6).trim();
    if (line.startsWith('a=simulcast:') || line.startsWith('a=rid:') || line.startsWith('a=ssrc-group:SIM')) current.simulcast = true;
    const rtpmap = /^a=rtpmap:(\d+) ([^/\s]+)\/(\d+)/.exec(line);
    if (rtpmap) {
      current.codecs.push({ payloadType: Number(rtpmap[1]), name: rtpmap[2]!.toUpperCase(), clockRate: Number(rtpmap[3]), fmtp: {} });
      continue;
    }
    const fmtp = /^a=fmtp:(\d+) (.*)$/.exec(line);
    if (fmtp) {
      const codec = current.codecs.find((c) => c.payloadType === Number(fmtp[1]));
      if (!codec) continue;
      for (const kv of fmtp[2]!.split(';')) {
        const [k, v] = kv.split('=');
        if (k) codec.fmtp[k.trim().toLowerCase()] = (v ?? '').trim();
      }
    }
  }
  if (media.length === 0) throw new ParseError('SDP has no media sections');
  return media.map(({ kind, mid, direction, codecs, simulcast }) => ({ kind, mid, direction, codecs, simulcast }));
}

/** An offered H264 codec that uses packetization-mode 1 (what livegate sends). */
export function hasH264Mode1(m: OfferedMedia): boolean {
  return m.codecs.some((c) => c.name === 'H264' && c.fmtp['packetization-mode'] === '1');
}

/** The offer's audio has this G.711 law at 8 kHz (browsers always offer PCMU and PCMA). */
export function hasG711(m: OfferedMedia, law: 'pcmu' | 'pcma'): boolean {
  return m.codecs.some((c) => c.name === law.toUpperCase() && c.clockRate === 8000);
}

export function hasOpus(m: OfferedMedia): boolean {
  return m.codecs.some((c) => c.name === 'OPUS' && c.clockRate === 48000);
}
