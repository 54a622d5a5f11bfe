/** The addresses of one path on a livegate server (the same path names it on every protocol). */

/** The path as livegate spells it: no leading, trailing or doubled slashes. */
export function cleanPath(path: string): string {
  return path.split('/').filter((s) => s.length > 0).join('/');
}

/** The server's base URL without a trailing slash (http(s)://host:port). */
export function cleanServer(server: string): string {
  const url = new URL(server, typeof location === 'undefined' ? undefined : location.href);
  return url.origin + url.pathname.replace(/\/+$/, '');
}

export type Endpoint = 'whep' | 'whip' | 'flv' | 'ws-flv' | 'hls';

/** The URL of `path`'s endpoint; `token` goes in the query for the endpoints that cannot carry a header. */
export function endpointUrl(server: string, path: string, endpoint: Endpoint, token?: string): string {
  const base = cleanServer(server);
  const p = cleanPath(path).split('/').map(encodeURIComponent).join('/');
  let url: URL;
  switch (endpoint) {
    case 'whep':
    case 'whip':
      return `${base}/${p}/${endpoint}`;
    case 'flv':
    case 'ws-flv':
      url = new URL(`${base}/${p}.flv`);
      if (endpoint === 'ws-flv') url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      break;
    case 'hls':
      url = new URL(`${base}/${p}/index.m3u8`);
      break;
  }
  if (token) url.searchParams.set('token', token);
  return url.href;
}

/** `Authorization: Bearer` for a token, or nothing. */
export function authHeaders(token?: string): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}
