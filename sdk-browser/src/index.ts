/** Address helpers shared by the player and publisher that later issues add. */
export interface StreamUrls {
  httpFlv: string;
  wsFlv: string;
}

/** Builds the FLV playback URLs of `path` on a livegate server reachable at `base` (e.g. http://host:8080). */
export function streamUrls(base: string, path: string): StreamUrls {
  const http = new URL(`/${path.replace(/^\/+/, '')}.flv`, base);
  const ws = new URL(http);
  ws.protocol = http.protocol === 'https:' ? 'wss:' : 'ws:';
  return { httpFlv: http.href, wsFlv: ws.href };
}
