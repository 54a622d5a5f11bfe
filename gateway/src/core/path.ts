/**
 * One spelling of a stream path for every protocol (RTMP app/key, SRT stream ids, HTTP routes,
 * WHIP/WHEP): what users type after the host, as segments separated by `/`.
 *
 * - Empty segments are collapsed: `live/cam1`, `/live/cam1/`, `live//cam1` and `//live/cam1` are
 *   all `live/cam1` (a doubled slash is a typing slip, not another stream).
 * - Refused (null): no segment at all, a `.` or `..` segment, a character outside
 *   `A-Z a-z 0-9 _ . ~ @ : + -`, a segment over 128 characters, a path over 256.
 */
export const MAX_PATH_LENGTH = 256;
const MAX_SEGMENT_LENGTH = 128;
const SEGMENT = /^[\w.~@:+-]+$/;

export function normalizePath(raw: string): string | null {
  if (raw.length > MAX_PATH_LENGTH * 4) return null;
  const parts = raw.split('/').filter((p) => p.length > 0);
  if (parts.length === 0) return null;
  for (const p of parts) {
    if (p === '.' || p === '..' || p.length > MAX_SEGMENT_LENGTH || !SEGMENT.test(p)) return null;
  }
  const path = parts.join('/');
  return path.length <= MAX_PATH_LENGTH ? path : null;
}

/**
 * The path of an RTMP publish or play: `{app}/{stream key}` (the key's query already split off).
 * An empty key is refused with a reason, not taken as the app alone: OBS users who forget the key
 * would otherwise publish to `live`.
 */
export function rtmpStreamPath(app: string, key: string): { path: string } | { error: string } {
  if (key.replace(/\//g, '').length === 0) return { error: 'empty stream key: give the stream a key (e.g. "cam1" for rtmp://host/live/cam1)' };
  const path = normalizePath(`${app}/${key}`);
  return path ? { path } : { error: `invalid stream path "${app}/${key}"` };
}

const patternCache = new Map<string, RegExp>();

/**
 * Whether `path` matches a path pattern: exact, or with `*` matching any characters (`live/*`
 * matches `live/cam1` and `live/a/b`; `*` alone every path); a pattern `~regex` is a regular
 * expression tested against the path.
 */
export function matchPath(pattern: string, path: string): boolean {
  if (pattern === '*') return true;
  if (!pattern.includes('*') && !pattern.startsWith('~')) return pattern === path;
  let re = patternCache.get(pattern);
  if (!re) {
    re = pattern.startsWith('~') ? new RegExp(pattern.slice(1)) : new RegExp('^' + pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
    if (patternCache.size < 1000) patternCache.set(pattern, re);
  }
  return re.test(path);
}
