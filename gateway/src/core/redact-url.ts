/**
 * A URL as logs and the API may show it: the password, and the secrets a query can carry
 * (`passphrase`, `pass`, `token`, and the credentials inside an SRT `streamid` such as
 * `read:path:user:pass:token=…`), replaced by `***`.
 */
const SECRET_KEYS = ['passphrase', 'pass', 'token'];

function redactStreamId(id: string): string {
  const m = /^(publish|read):([^:]*)(.*)$/.exec(id);
  if (!m) return id;
  const rest = m[3]!.slice(1).split(':');
  if (m[3] === '') return id;
  // `:query`, `:user:pass` or `:user:pass:query`.
  const redactQuery = (q: string): string => {
    const p = new URLSearchParams(q);
    for (const k of SECRET_KEYS) if (p.has(k)) p.set(k, '***');
    return p.toString();
  };
  if (rest.length === 1) return `${m[1]}:${m[2]}:${redactQuery(rest[0]!)}`;
  const query = rest.length > 2 ? `:${redactQuery(rest.slice(2).join(':'))}` : '';
  return `${m[1]}:${m[2]}:${rest[0]}:***${query}`;
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const k of SECRET_KEYS) if (u.searchParams.has(k)) u.searchParams.set(k, '***');
    const streamId = u.searchParams.get('streamid');
    if (streamId !== null) u.searchParams.set('streamid', redactStreamId(streamId));
    return u.toString();
  } catch {
    return url;
  }
}
