/**
 * The RTSP `Transport` header (RFC 2326 §12.39, RFC 7826 §18.54): what a client asks for in SETUP —
 * a comma-separated list in order of preference — and what the server answers. Pure.
 */

export interface RtspTransport {
  /** `RTP/AVP` (also `RTP/AVPF`, `RTP/SAVP` are parsed; the server chooses what it serves). */
  profile: string;
  lower: 'UDP' | 'TCP';
  multicast: boolean;
  /** TCP: the `$` channels for RTP and RTCP. */
  interleaved?: [number, number];
  /** UDP: the client's RTP and RTCP ports. */
  clientPort?: [number, number];
  /** UDP: the server's RTP and RTCP ports (in answers). */
  serverPort?: [number, number];
  /** SSRC in hex (8 digits), in answers to players. */
  ssrc?: number;
  /** `record` for publishers (RFC 2326 spells it `mode="RECORD"`), `play` otherwise. */
  mode: 'play' | 'record';
}

/** At most this many transports offered in one header. */
const MAX_TRANSPORTS = 8;

function range(value: string, max: number): [number, number] | null {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(value);
  if (!m) return null;
  const a = Number(m[1]);
  const b = m[2] === undefined ? a + 1 : Number(m[2]);
  return a <= max && b <= max ? [a, b] : null;
}

/** The transports of one header, in the client's order; a malformed entry is skipped, not fatal. */
export function parseTransports(header: string): RtspTransport[] {
  const out: RtspTransport[] = [];
  for (const spec of header.split(',').slice(0, MAX_TRANSPORTS)) {
    const [spec0, ...params] = spec.trim().split(';');
    const parts = (spec0 ?? '').toUpperCase().split('/');
    if (parts[0] !== 'RTP' || parts.length < 2) continue;
    const lower = parts[2] ?? 'UDP';
    if (lower !== 'UDP' && lower !== 'TCP') continue;
    const t: RtspTransport = { profile: `${parts[0]}/${parts[1]}`, lower, multicast: false, mode: 'play' };
    let ok = true;
    for (const param of params) {
      const eq = param.indexOf('=');
      const name = (eq < 0 ? param : param.slice(0, eq)).trim().toLowerCase();
      const value = eq < 0 ? '' : param.slice(eq + 1).trim().replace(/^"|"$/g, '');
      switch (name) {
        case 'multicast':
          t.multicast = true;
          break;
        case 'interleaved':
        case 'client_port':
        case 'server_port': {
          const r = range(value, name === 'interleaved' ? 255 : 65535);
          if (!r) ok = false;
          else if (name === 'interleaved') t.interleaved = r;
          else if (name === 'client_port') t.clientPort = r;
          else t.serverPort = r;
          break;
        }
        case 'ssrc':
          if (/^[0-9a-f]{1,8}$/i.test(value)) t.ssrc = parseInt(value, 16) >>> 0;
          break;
        case 'mode':
          t.mode = value.toLowerCase() === 'record' || value.toLowerCase() === 'receive' ? 'record' : 'play';
          break;
        default:
        // unicast, destination, ttl, source, …: nothing livegate needs.
      }
    }
    if (ok) out.push(t);
  }
  return out;
}

/** The header value for an answer. */
export function formatTransport(t: RtspTransport): string {
  const parts = [t.lower === 'TCP' ? `${t.profile}/TCP` : t.profile, t.multicast ? 'multicast' : 'unicast'];
  if (t.interleaved) parts.push(`interleaved=${t.interleaved[0]}-${t.interleaved[1]}`);
  if (t.clientPort) parts.push(`client_port=${t.clientPort[0]}-${t.clientPort[1]}`);
  if (t.serverPort) parts.push(`server_port=${t.serverPort[0]}-${t.serverPort[1]}`);
  if (t.ssrc !== undefined) parts.push(`ssrc=${(t.ssrc >>> 0).toString(16).toUpperCase().padStart(8, '0')}`);
  if (t.mode === 'record') parts.push('mode=record');
  return parts.join(';');
}
