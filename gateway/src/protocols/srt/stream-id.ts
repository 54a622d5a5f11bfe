/**
 * SRT stream ids → what the caller wants: which path, publish or read, and its credentials.
 * Three forms, tried in this order (see shared notes, "A4. Stream ID conventions"):
 * 1. SRT Access Control (draft Appendix B): `#!::r=live/cam1,m=publish,u=user,s=session` — unknown
 *    keys are tolerated (vendors add their own, e.g. `bmd_uuid=…`);
 * 2. MediaMTX: `publish:path[:user:pass][:query]` and `read:…`;
 * 3. a bare path, whose mode follows from what the caller does (livegate: the server's default).
 */
export type SrtMode = 'publish' | 'read';

export interface StreamIdRequest {
  path: string;
  /** null when the id does not say (a bare path, or `#!::` without `m`… which means request). */
  mode: SrtMode | null;
  user?: string;
  password?: string;
  /** A session id / token (`s=` of the standard form), kept for authentication. */
  session?: string;
  /** The query part of the MediaMTX form (`token=…`), kept for authentication. */
  query?: string;
}

export type StreamIdResult = { ok: true; request: StreamIdRequest } | { ok: false; reason: string; badMode?: boolean };

export function parseStreamId(raw: string): StreamIdResult {
  let id = raw.trim();
  // Some callers send the id percent-encoded (newer ffmpeg decodes it, others pass what the user
  // typed); no valid path or key contains '%', so decoding is safe.
  if (/%[0-9a-fA-F]{2}/.test(id)) {
    try {
      id = decodeURIComponent(id);
    } catch {
      return { ok: false, reason: 'stream id has broken percent-encoding' };
    }
  }
  if (id.length === 0) return { ok: false, reason: 'empty stream id' };
  if (id.startsWith('#!::')) return parseAccessControl(id.slice(4));
  if (id.startsWith('#!:{')) return { ok: false, reason: 'nested #!:{…} stream ids are not supported' };
  const m = /^(publish|read):(.*)$/.exec(id);
  if (m) return parseMediaMtx(m[1] as SrtMode, m[2]!);
  return { ok: true, request: splitQuery(id, null) };
}

function splitQuery(pathAndQuery: string, mode: SrtMode | null): StreamIdRequest {
  const q = pathAndQuery.indexOf('?');
  if (q < 0) return { path: pathAndQuery, mode };
  return { path: pathAndQuery.slice(0, q), mode, query: pathAndQuery.slice(q + 1) };
}

function parseAccessControl(body: string): StreamIdResult {
  const values = new Map<string, string>();
  for (const pair of body.split(',')) {
    if (pair.length === 0) continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) return { ok: false, reason: `stream id item "${pair}" is not key=value` };
    values.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const r = values.get('r');
  if (!r) return { ok: false, reason: 'stream id has no resource (r=)' };
  const t = values.get('t');
  if (t !== undefined && t !== 'stream') return { ok: false, reason: `stream id type t=${t} is not supported (only stream)`, badMode: true };
  const m = values.get('m') ?? 'request';
  let mode: SrtMode;
  if (m === 'publish') mode = 'publish';
  else if (m === 'request') mode = 'read';
  else return { ok: false, reason: `stream id mode m=${m} is not supported (publish or request)`, badMode: true };
  const request = splitQuery(r, mode);
  const u = values.get('u');
  const s = values.get('s');
  if (u !== undefined) request.user = u;
  if (s !== undefined) request.session = s;
  return { ok: true, request };
}

function parseMediaMtx(mode: SrtMode, rest: string): StreamIdResult {
  const parts = rest.split(':');
  const path = parts[0] ?? '';
  if (path.length === 0) return { ok: false, reason: `"${mode}:" stream id without a path` };
  const request: StreamIdRequest = { path, mode };
  if (parts.length === 2) request.query = parts[1];
  else if (parts.length === 3) {
    request.user = parts[1];
    request.password = parts[2];
  } else if (parts.length >= 4) {
    request.user = parts[1];
    request.password = parts[2];
    request.query = parts.slice(3).join(':');
  }
  return { ok: true, request };
}
