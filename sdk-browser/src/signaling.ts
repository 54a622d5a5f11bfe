/** WHIP/WHEP signalling shared by the player and the publisher: one POST of a complete offer, DELETE to end. */
import { asLivegateError, errorFromResponse, LivegateError } from './errors.js';
import { authHeaders } from './urls.js';

export interface SignalledSession {
  /** The session URL (absolute), for DELETE. */
  location: string | null;
  /** ICE servers the server offered in `Link: <…>; rel="ice-server"` headers. */
  iceServers: RTCIceServer[];
}

/**
 * Resolves once the offer has a candidate to show (the first one gathered), when gathering is
 * complete, or after `maxMs`. livegate answers as ICE-lite: it never checks the browser's candidates,
 * it learns the browser's address from the browser's own checks, so waiting for the whole gathering
 * (150 ms and more; seconds with an unreachable STUN/TURN server) would only delay the first frame.
 */
export function firstCandidate(pc: RTCPeerConnection, maxMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete' || /\r?\na=candidate:/.test(pc.localDescription?.sdp ?? '')) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      pc.removeEventListener('icecandidate', check);
      resolve();
    };
    const check = (): void => {
      if (pc.iceGatheringState === 'complete' || /\r?\na=candidate:/.test(pc.localDescription?.sdp ?? '')) done();
    };
    const timer = setTimeout(done, maxMs);
    pc.addEventListener('icegatheringstatechange', check);
    pc.addEventListener('icecandidate', check);
  });
}

/**
 * Offers `pc`'s local description to a WHIP or WHEP endpoint and applies the answer. The server
 * answers with every candidate, so nothing is trickled: the browser's checks reach the server's
 * candidates whatever the offer carried.
 */
export async function negotiate(pc: RTCPeerConnection, url: string, kind: 'whip' | 'whep', token: string | undefined, signal: AbortSignal): Promise<SignalledSession> {
  await pc.setLocalDescription(await pc.createOffer());
  await firstCandidate(pc, 2000);
  if (signal.aborted) throw new LivegateError('network', 'cancelled');
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', ...authHeaders(token) },
      body: pc.localDescription?.sdp ?? '',
      signal,
    });
  } catch (err) {
    throw asLivegateError(err);
  }
  if (res.status !== 201 && res.status !== 200) throw await errorFromResponse(res, kind);
  const answer = await res.text();
  const loc = res.headers.get('Location');
  const location = loc ? new URL(loc, res.url || url).href : null;
  const iceServers = parseIceServerLinks(res.headers.get('Link'));
  try {
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  } catch (err) {
    if (location) void deleteSession(location, token);
    throw new LivegateError('unsupported-codec', `the ${kind.toUpperCase()} answer was not accepted: ${(err as Error).message}`, { cause: err });
  }
  return { location, iceServers };
}

/** Ends a session; `keepalive` lets it finish while the page unloads. Never throws. */
export async function deleteSession(location: string, token: string | undefined): Promise<void> {
  try {
    await fetch(location, { method: 'DELETE', headers: authHeaders(token), keepalive: true });
  } catch {
    // The server ends the session by its own timeout.
  }
}

/**
 * ICE servers from `Link` headers (RFC 9725 §4.6): `<turn:host:3478?transport=udp>; rel="ice-server";
 * username="u"; credential="c"`. Several headers arrive joined by commas.
 */
export function parseIceServerLinks(header: string | null): RTCIceServer[] {
  if (!header) return [];
  const out: RTCIceServer[] = [];
  const link = /<([^>]*)>((?:\s*;\s*[A-Za-z0-9_-]+(?:\s*=\s*(?:"[^"]*"|[^;,]*))?)*)/g;
  for (let m = link.exec(header); m; m = link.exec(header)) {
    const params: Record<string, string> = {};
    const param = /;\s*([A-Za-z0-9_-]+)(?:\s*=\s*(?:"([^"]*)"|([^;,]*)))?/g;
    for (let p = param.exec(m[2] ?? ''); p; p = param.exec(m[2] ?? '')) params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').trim();
    if (params.rel !== 'ice-server') continue;
    const server: RTCIceServer = { urls: m[1]! };
    if (params.username !== undefined) server.username = params.username;
    if (params.credential !== undefined) server.credential = params.credential;
    out.push(server);
  }
  return out;
}
