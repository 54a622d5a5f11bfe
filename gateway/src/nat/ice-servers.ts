/**
 * ICE servers handed to WebRTC clients (`Link: <…>; rel="ice-server"`, RFC 9725 §4.6). TURN servers
 * with a shared secret get short-lived credentials per request, as coturn's `use-auth-secret`
 * expects ("TURN REST API"): username = "<expiry unix time>:<user>", password =
 * base64(HMAC-SHA1(secret, username)).
 */
import { createHmac } from 'node:crypto';

export interface IceServerConfig {
  urls: string;
  username?: string;
  credential?: string;
  /** coturn static-auth-secret: credentials are made per request from it. */
  secret?: string;
  /** Lifetime of made credentials (default one day). */
  ttlSeconds?: number;
}

export interface IceServerLink {
  urls: string;
  username?: string;
  credential?: string;
}

export function turnRestCredentials(secret: string, user: string, expiresAt: number): { username: string; credential: string } {
  const username = `${Math.floor(expiresAt)}:${user}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential };
}

/** The servers for one client, with fresh credentials where a secret is configured. */
export function iceServersFor(servers: readonly IceServerConfig[], user: string, nowSeconds = Date.now() / 1000): IceServerLink[] {
  return servers.map((s) => {
    if (s.secret) return { urls: s.urls, ...turnRestCredentials(s.secret, user, nowSeconds + (s.ttlSeconds ?? 86400)) };
    return s.username !== undefined ? { urls: s.urls, username: s.username, credential: s.credential ?? '' } : { urls: s.urls };
  });
}

/** One `Link` header value (quoted-string values escaped, RFC 8288 §3). */
export function linkHeader(s: IceServerLink): string {
  const q = (v: string): string => `"${v.replace(/["\\]/g, '\\$&')}"`;
  let link = `<${s.urls}>; rel="ice-server"`;
  if (s.username !== undefined) link += `; username=${q(s.username)}; credential=${q(s.credential ?? '')}; credential-type="password"`;
  return link;
}
