/**
 * The SDP of an RTSP presentation (RFC 2326 §C, RFC 7826 appendix D): what an ANNOUNCE carries and a
 * camera's DESCRIBE answers — per media: payload type, codec, clock rate, channels, fmtp parameters
 * (values kept whole: base64 `sprop-parameter-sets` end in `=`), and the control URL for SETUP.
 * Static payload types (PCMU 0, PCMA 8, …) need no rtpmap. Pure, with size limits.
 */
import { LimitError, ParseError } from '../core/errors.js';

export interface RtspMedia {
  kind: 'video' | 'audio' | 'application' | string;
  payloadType: number;
  /** Upper-cased encoding name: H264, H265, MPEG4-GENERIC, MP4A-LATM, OPUS, PCMU, PCMA, … */
  codec: string;
  clockRate: number;
  channels: number;
  /** fmtp parameters by lower-case name. */
  fmtp: Record<string, string>;
  /** `a=control` as written (absolute or relative to the base); '' when absent. */
  control: string;
}

export interface RtspPresentation {
  /** Session-level `a=control` ('' or '*' when absent). */
  control: string;
  media: RtspMedia[];
}

export const MAX_RTSP_SDP_BYTES = 64 * 1024;
const MAX_MEDIA = 8;

/** RFC 3551 §6 static payload types livegate may meet. */
const STATIC: Record<number, { codec: string; clockRate: number; channels: number }> = {
  0: { codec: 'PCMU', clockRate: 8000, channels: 1 },
  8: { codec: 'PCMA', clockRate: 8000, channels: 1 },
  14: { codec: 'MPA', clockRate: 90000, channels: 1 },
  26: { codec: 'JPEG', clockRate: 90000, channels: 1 },
  32: { codec: 'MPV', clockRate: 90000, channels: 1 },
  33: { codec: 'MP2T', clockRate: 90000, channels: 1 },
};

/** `a=fmtp` parameters: `;`-separated, the value everything after the first `=`. */
export function parseFmtp(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of text.split(';')) {
    const eq = kv.indexOf('=');
    const name = (eq < 0 ? kv : kv.slice(0, eq)).trim().toLowerCase();
    if (name) out[name] = eq < 0 ? '' : kv.slice(eq + 1).trim();
  }
  return out;
}

export function parseRtspSdp(sdp: string): RtspPresentation {
  if (sdp.length > MAX_RTSP_SDP_BYTES) throw new LimitError(`SDP of ${sdp.length} bytes exceeds ${MAX_RTSP_SDP_BYTES}`);
  const lines = sdp.split(/\r?\n/);
  if (!lines[0]?.startsWith('v=0')) throw new ParseError('SDP does not start with v=0');
  const presentation: RtspPresentation = { control: '', media: [] };
  type Section = { kind: string; formats: number[]; rtpmap: Map<number, { codec: string; clockRate: number; channels: number }>; fmtp: Map<number, Record<string, string>>; control: string };
  const sections: Section[] = [];
  let current: Section | null = null;
  for (const line of lines) {
    if (line.startsWith('m=')) {
      const parts = line.slice(2).trim().split(/\s+/);
      if (parts.length < 4) throw new ParseError(`malformed media line "${line.slice(0, 80)}"`);
      current = { kind: parts[0]!, formats: parts.slice(3).map(Number).filter((n) => Number.isInteger(n) && n >= 0 && n < 128), rtpmap: new Map(), fmtp: new Map(), control: '' };
      sections.push(current);
      if (sections.length > MAX_MEDIA) throw new LimitError(`more than ${MAX_MEDIA} media sections`);
      continue;
    }
    if (line.startsWith('a=control:')) {
      const value = line.slice(10).trim();
      if (current) current.control = value;
      else presentation.control = value;
      continue;
    }
    if (!current) continue;
    const rtpmap = /^a=rtpmap:(\d+)\s+([^/\s]+)\/(\d+)(?:\/(\d+))?/.exec(line);
    if (rtpmap) {
      current.rtpmap.set(Number(rtpmap[1]), { codec: rtpmap[2]!.toUpperCase(), clockRate: Number(rtpmap[3]), channels: rtpmap[4] ? Number(rtpmap[4]) : 1 });
      continue;
    }
    const fmtp = /^a=fmtp:(\d+)\s+(.*)$/.exec(line);
    if (fmtp) current.fmtp.set(Number(fmtp[1]), parseFmtp(fmtp[2]!));
  }
  for (const s of sections) {
    // The first format of a section is the one an RTSP sender uses.
    const pt = s.formats[0];
    if (pt === undefined) continue;
    const map = s.rtpmap.get(pt) ?? STATIC[pt];
    if (!map) continue;
    presentation.media.push({ kind: s.kind, payloadType: pt, codec: map.codec, clockRate: map.clockRate, channels: map.channels, fmtp: s.fmtp.get(pt) ?? {}, control: s.control });
  }
  if (presentation.media.length === 0) throw new ParseError('SDP has no media livegate can read');
  return presentation;
}

/** The URL to SETUP for `media`: its control resolved against the presentation's base URL (RFC 2326 §C.1.1). */
export function controlUrl(base: string, presentation: RtspPresentation, media: RtspMedia): string {
  const c = media.control;
  if (/^rtsps?:\/\//i.test(c)) return c;
  const root = presentation.control && presentation.control !== '*' && /^rtsps?:\/\//i.test(presentation.control) ? presentation.control : base;
  if (c === '' || c === '*') return root;
  return root.endsWith('/') ? root + c : `${root}/${c}`;
}
