/**
 * WHIP ingest (RFC 9725; MediaMTX's layout): `POST /{path}/whip` with an SDP offer → `201` + answer
 * (every candidate in it) + `Location: /{path}/whip/{session}` + `ETag` + `Link` ICE servers;
 * `PATCH` trickle → 204; `DELETE` → 200; `OPTIONS` → 204 with CORS and `Accept-Post`.
 * Errors: 400 bad content type, SDP or path; 422 nothing livegate can receive (every offered
 * section must be usable: no partial success); 409 the path is being published; 404 unknown session.
 *
 * What OBS's WHIP output needs, and gets: exactly 201, a relative Location, an answer well within
 * its 8 s timeout (ICE-lite gathers nothing remote), and offers without candidates that never
 * trickle (the browser's or OBS's address is learnt from its first STUN check).
 */
import type { AccessRequest } from '../../core/access.js';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeError, LimitError, ParseError, StreamBusyError } from '../../core/errors.js';
import { sessionId, type Logger } from '../../core/log.js';
import { RefusalLog } from '../../core/refusal-log.js';
import { normalizePath, type StreamRegistry } from '../../core/stream-registry.js';
import { MAX_SDP_BYTES, parseOfferMedia, type OfferedMedia } from '../../format/sdp-offer.js';
import { sendJson, type HttpServer } from '../../http/http-server.js';
import { iceServersFor, linkHeader } from '../../nat/ice-servers.js';
import { bearerToken, contentType, problem, readBody } from './http-util.js';
import { httpCredentials, sendRefusal } from '../../http/problem.js';
import { apiAllowed } from '../../http/api-access.js';
import type { WebrtcOptions, WebrtcNetwork } from './peer-connection.js';
import { receiveCodecs, WhipSession } from './whip-session.js';
import { clientIp, type SessionSlot, type WebrtcSessionLimits } from './session-limits.js';

export interface WhipServerOptions {
  registry: StreamRegistry;
  log: Logger;
  webrtc: WebrtcOptions;
  /** The shared UDP/TCP media ports (null: a socket per session, `webrtc.portRange`). */
  network: WebrtcNetwork | null;
  /** Shared with WHEP: how many sessions, and how many still negotiating per client address. */
  limits: WebrtcSessionLimits;
}

const WHIP = /^\/(?<path>.+)\/whip$/;
const WHIP_SESSION = /^\/(?<path>.+)\/whip\/(?<session>[0-9a-f-]{36})$/;
/** OBS gives up after 8 s; an answer that is not ready well before is refused instead. */
const ANSWER_TIMEOUT_MS = 6000;

/** Why an offer cannot be taken, or null. WHIP (RFC 9725 §4.2): one audio and one video at most. */
export function refuseOffer(media: readonly OfferedMedia[]): string | null {
  const av = media.filter((m) => m.kind === 'audio' || m.kind === 'video');
  if (av.length === 0) return 'the offer has no audio or video section';
  if (media.some((m) => m.kind !== 'audio' && m.kind !== 'video')) return 'only audio and video sections are supported (no data channels)';
  if (av.filter((m) => m.kind === 'audio').length > 1 || av.filter((m) => m.kind === 'video').length > 1) {
    return 'at most one audio and one video section';
  }
  for (const m of av) {
    if (m.direction === 'recvonly' || m.direction === 'inactive') return `the ${m.kind} section is ${m.direction}: a WHIP offer sends`;
    if (m.simulcast) return `the ${m.kind} section is simulcast, which livegate does not take: offer one encoding`;
    if (receiveCodecs(m).length === 0) {
      return m.kind === 'video' ? 'the video section offers neither H264 (packetization-mode 1) nor VP8' : 'the audio section does not offer Opus';
    }
  }
  return null;
}

export class WhipServer {
  readonly sessions = new Map<string, WhipSession>();
  /** 503s to one client are logged once per 5 s (a flood of offers must not flood the log). */
  private readonly refusals: RefusalLog;

  constructor(private readonly options: WhipServerOptions) {
    this.refusals = new RefusalLog(options.log);
  }

  register(http: HttpServer): void {
    http.route('POST', WHIP, (req, res, params, url) => this.onPost(req, res, params.path ?? '', url));
    http.route('OPTIONS', WHIP, (_req, res) => this.onOptions(res));
    http.route('PATCH', WHIP_SESSION, (req, res, params) => this.onPatch(req, res, this.sessionAt(params)));
    http.route('DELETE', WHIP_SESSION, (_req, res, params) => this.onDelete(res, this.sessionAt(params)));
    http.route('GET', '/api/v1/whip/sessions', async (req, res, _params, url) => {
      if (!(await apiAllowed(this.options.registry, req, res, url))) return;
      sendJson(res, 200, { sessions: [...this.sessions.values()].map((s) => s.stats()) });
    });
  }

  closeAll(reason: string): void {
    for (const s of [...this.sessions.values()]) s.close(reason);
  }

  /** CORS preflight, and the endpoint's self-description (RFC 9725 §4.1: Accept-Post). */
  private onOptions(res: ServerResponse): void {
    const headers: { [k: string]: string } = {
      'Access-Control-Allow-Methods': 'POST, OPTIONS',
      'Access-Control-Allow-Headers': 'Authorization, Content-Type, If-Match',
      'Access-Control-Max-Age': '86400',
      'Accept-Post': 'application/sdp',
    };
    res.writeHead(204, headers).end();
  }

  /**
   * The session limits come first, before the offer is even read (see WhepServer.onPost); the place
   * is given back unless a session takes it.
   */
  private async onPost(req: IncomingMessage, res: ServerResponse, rawPath: string, url: URL): Promise<void> {
    const ip = clientIp(req.socket.remoteAddress);
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const admission = this.options.limits.admit(ip);
    if (!admission.ok) {
      this.refusals.refused(`${ip}|503`, 'publish refused', { protocol: 'whip', path: rawPath, remote, status: 503, reason: admission.reason }, 'warn');
      return problem(res, 503, admission.reason, { 'Retry-After': String(admission.retryAfterSeconds) });
    }
    try {
      await this.answerOffer(req, res, rawPath, url, remote, admission.slot);
    } finally {
      if (!admission.slot.held) admission.slot.release();
    }
  }

  private async answerOffer(req: IncomingMessage, res: ServerResponse, rawPath: string, url: URL, remote: string, slot: SessionSlot): Promise<void> {
    const id = sessionId('whip');
    const path = normalizePath(rawPath);
    const log = this.options.log.child({ id, protocol: 'whip', path: path ?? rawPath, remote });
    const refuse = (status: number, reason: string, headers?: { [k: string]: string }): void => {
      log.info('publish refused', { status, reason });
      problem(res, status, reason, headers);
    };
    if (contentType(req) !== 'application/sdp') return refuse(400, 'Content-Type must be application/sdp');
    if (!path) return refuse(400, `"${rawPath}" is not a valid stream path`);
    const registry = this.options.registry;
    // The admission gate first: a refused client costs its refusal, not an SDP parse.
    const admittedRequest: AccessRequest = { action: 'publish', protocol: 'whip', path, ...httpCredentials(req, url), ip: clientIp(req.socket.remoteAddress), id, query: url.search.slice(1), userAgent: req.headers['user-agent'] ?? '' };
    const admitted = await registry.admit(admittedRequest);
    // A path whose publisher is only silent may be free by the time ICE is done: publish() decides then.
    if (!admitted.ok && !(admitted.reason === 'busy' && admitted.retryInMs !== undefined)) {
      log.info('publish refused', { status: admitted.reason, reason: admitted.message });
      return sendRefusal(res, admitted);
    }
    let offer: string;
    try {
      offer = await readBody(req, MAX_SDP_BYTES);
    } catch (err) {
      return refuse(err instanceof LimitError ? 413 : 400, describeError(err));
    }
    let media: OfferedMedia[];
    try {
      media = parseOfferMedia(offer);
    } catch (err) {
      if (!(err instanceof ParseError || err instanceof LimitError)) throw err;
      return refuse(400, `unparsable SDP offer: ${err.message}`);
    }
    if (!/^a=ice-ufrag:/m.test(offer) || !/^a=ice-pwd:/m.test(offer) || !/^a=fingerprint:/m.test(offer)) {
      return refuse(400, 'the offer has no ICE credentials (ice-ufrag, ice-pwd) or no DTLS fingerprint');
    }
    const why = refuseOffer(media);
    if (why) return refuse(422, why);
    // RFC 9725 §4.2: an offerer that insists on being the DTLS client is not supported here.
    if (/^a=setup:active/m.test(offer)) return refuse(422, 'a=setup:active is not supported: offer a=setup:actpass');
    const uuid = randomUUID();
    const session = new WhipSession(uuid, media, {
      id,
      remote,
      path,
      log,
      webrtc: this.options.webrtc,
      network: this.options.network,
      registry,
      bearer: bearerToken(req),
      query: url.search.length > 1 ? url.search.slice(1) : undefined,
      slot: slot.hold(),
    });
    let answer: string;
    try {
      answer = await withTimeout(session.answer(offer), ANSWER_TIMEOUT_MS);
    } catch (err) {
      session.close(`negotiation failed: ${describeError(err)}`);
      return refuse(422, `cannot answer the offer: ${describeError(err)}`);
    }
    let grant = admitted.ok ? admitted : null;
    try {
      // The path's publisher was only silent: it may be taken over once silent long enough, and the
      // gate is asked again then (for a grant, or the refusal that stands).
      if (!grant) {
        const wait = registry.check(path);
        if (!wait.ok && wait.retryInMs !== undefined) await sleep(wait.retryInMs + 20);
        const again = await registry.admit({ ...admittedRequest, id });
        if (!again.ok) {
          session.close(`refused: ${again.message}`);
          log.info('publish refused', { status: again.reason, reason: again.message });
          return sendRefusal(res, again);
        }
        grant = again;
      }
      if (session.isClosed) return refuse(422, 'the session closed before it could publish');
      session.publish(grant);
    } catch (err) {
      session.close(describeError(err));
      if (err instanceof StreamBusyError) return refuse(409, `stream "${path}" is already being published`);
      throw err;
    }
    this.sessions.set(uuid, session);
    session.onClosed = () => this.sessions.delete(uuid);
    const headers: { [k: string]: string | string[] } = {
      'Content-Type': 'application/sdp',
      Location: `/${path}/whip/${uuid}`,
      ETag: `"${uuid}"`,
      'Accept-Patch': 'application/trickle-ice-sdpfrag',
    };
    const links = iceServersFor(this.options.webrtc.iceServers, uuid).map(linkHeader);
    if (links.length > 0) headers.Link = links;
    res.writeHead(201, headers);
    res.end(answer);
    log.info('publish started', { session: uuid, authorization: session.bearer ? 'bearer' : undefined });
  }

  /** The session a URL names: its id and its path must both match. */
  private sessionAt(params: { [k: string]: string }): WhipSession | undefined {
    const session = this.sessions.get(params.session ?? '');
    return session && normalizePath(params.path ?? '') === session.path ? session : undefined;
  }

  private async onPatch(req: IncomingMessage, res: ServerResponse, session: WhipSession | undefined): Promise<void> {
    if (!session) return problem(res, 404, 'unknown session');
    if (contentType(req) !== 'application/trickle-ice-sdpfrag') return problem(res, 415, 'Content-Type must be application/trickle-ice-sdpfrag');
    // RFC 9725 §4.3.1: a PATCH for another version of the session (a stale ETag) gets 412.
    const ifMatch = req.headers['if-match'];
    if (ifMatch && ifMatch !== '*' && ifMatch !== `"${session.uuid}"`) return problem(res, 412, 'If-Match does not match the session ETag');
    let frag: string;
    try {
      frag = await readBody(req, MAX_SDP_BYTES);
    } catch (err) {
      return problem(res, err instanceof LimitError ? 413 : 400, describeError(err));
    }
    // An ICE restart (new ufrag/pwd) is not supported (RFC 9725 §4.3.2 allows that): 422.
    if (req.headers['if-match'] === '*' || /^a=ice-ufrag:/m.test(frag)) {
      const current = /^a=ice-ufrag:(.*)$/m.exec(session.pc.remoteDescription?.sdp ?? '')?.[1]?.trim();
      const asked = /^a=ice-ufrag:(.*)$/m.exec(frag)?.[1]?.trim();
      if (req.headers['if-match'] === '*' || (asked && current && asked !== current)) return problem(res, 422, 'ICE restart is not supported');
    }
    // livegate answers as ICE-lite: the publisher's address is learnt from its checks (peer
    // reflexive), so trickled candidates need no action.
    res.writeHead(204).end();
  }

  private onDelete(res: ServerResponse, session: WhipSession | undefined): void {
    if (!session) return problem(res, 404, 'unknown session');
    session.close('DELETE from the publisher');
    res.writeHead(200).end();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
