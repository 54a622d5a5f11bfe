/**
 * WHEP playback (draft-ietf-wish-whep; MediaMTX's layout): `POST /{path}/whep` with an SDP offer →
 * `201` + answer + `Location: /{path}/whep/{session}`; `PATCH` (trickle) → 204; `DELETE` → 200.
 * Errors: 400 bad content type or SDP, 422 no H264 (packetization-mode 1; VP8 for a WHIP publisher's
 * VP8) or no Opus, 409 stream
 * not live (with Retry-After), 404 unknown session.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeError, LimitError, ParseError } from '../../core/errors.js';
import { bearerToken, contentType, problem, readBody } from './http-util.js';
import { httpCredentials, sendRefusal } from '../../http/problem.js';
import { apiAllowed } from '../../http/api-access.js';
import { sessionId, type Logger } from '../../core/log.js';
import { RefusalLog } from '../../core/refusal-log.js';
import { normalizePath, type StreamRegistry } from '../../core/stream-registry.js';
import { hasH264Mode1, hasG711, hasOpus, MAX_SDP_BYTES, parseOfferMedia } from '../../format/sdp-offer.js';
import { sendJson, type HttpServer } from '../../http/http-server.js';
import { iceServersFor, linkHeader } from '../../nat/ice-servers.js';
import type { WebrtcAudioCodec } from './rtp-units.js';
import { WhepSession } from './whep-session.js';
import { clientIp, type SessionSlot, type WebrtcSessionLimits } from './session-limits.js';
import type { WebrtcOptions, WebrtcNetwork } from './peer-connection.js';

export interface WhepServerOptions {
  registry: StreamRegistry;
  log: Logger;
  webrtc: WebrtcOptions;
  /** The shared UDP/TCP media ports (null: a socket per session, `webrtc.portRange`). */
  network: WebrtcNetwork | null;
  /** Shared with WHIP: how many sessions, and how many still negotiating per client address. */
  limits: WebrtcSessionLimits;
}

const WHEP = /^\/(?<path>.+)\/whep$/;
const WHEP_SESSION = /^\/(?<path>.+)\/whep\/(?<session>[0-9a-f-]{36})$/;

export class WhepServer {
  readonly sessions = new Map<string, WhepSession>();
  private readonly reaper: NodeJS.Timeout;
  /** 503s to one client are logged once per 5 s (a flood of offers must not flood the log). */
  private readonly refusals: RefusalLog;

  constructor(private readonly options: WhepServerOptions) {
    this.refusals = new RefusalLog(options.log);
    this.reaper = setInterval(() => this.reap(), 1000);
    this.reaper.unref();
    // Viewers whose publisher went away move to the next publisher of the same path.
    this.offPublish = options.registry.on('publish', (stream) => {
      for (const s of this.sessions.values()) if (s.waitingFor === stream.path) s.resume(stream);
    });
  }

  private readonly offPublish: () => void;

  register(http: HttpServer): void {
    http.route('POST', WHEP, (req, res, params, url) => this.onPost(req, res, params.path ?? '', url));
    http.route('PATCH', WHEP_SESSION, (req, res, params) => this.onPatch(req, res, params.session ?? ''));
    http.route('DELETE', WHEP_SESSION, (_req, res, params) => this.onDelete(res, params.session ?? ''));
    http.route('GET', '/api/v1/webrtc/sessions', async (req, res, _params, url) => {
      if (!(await apiAllowed(this.options.registry, req, res, url))) return;
      sendJson(res, 200, { sessions: await Promise.all([...this.sessions.values()].map((s) => s.stats())) });
    });
  }

  closeAll(reason: string): void {
    clearInterval(this.reaper);
    this.offPublish();
    for (const s of [...this.sessions.values()]) s.close(reason);
  }

  private linkHeaders(user: string): string[] {
    return iceServersFor(this.options.webrtc.iceServers, user).map(linkHeader);
  }

  /**
   * The session limits come first, before the offer is even read: a client flooding offers costs a
   * 503 each, not an SDP parse (and a peer connection) each. The place taken is given back unless a
   * session is made, which then holds it until it closes.
   */
  private async onPost(req: IncomingMessage, res: ServerResponse, rawPath: string, url: URL): Promise<void> {
    const ip = clientIp(req.socket.remoteAddress);
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const admission = this.options.limits.admit(ip);
    if (!admission.ok) {
      this.refusals.refused(`${ip}|503`, 'play refused', { protocol: 'whep', path: rawPath, remote, status: 503, reason: admission.reason }, 'warn');
      return problem(res, 503, admission.reason, { 'Retry-After': String(admission.retryAfterSeconds) });
    }
    try {
      await this.answerOffer(req, res, rawPath, url, remote, admission.slot);
    } finally {
      if (!admission.slot.held) admission.slot.release();
    }
  }

  private async answerOffer(req: IncomingMessage, res: ServerResponse, rawPath: string, url: URL, remote: string, slot: SessionSlot): Promise<void> {
    const id = sessionId('whep');
    const path = normalizePath(rawPath);
    const log = this.options.log.child({ id, protocol: 'whep', path: path ?? rawPath, remote });
    const type = contentType(req);
    if (type !== 'application/sdp') {
      log.info('play refused', { reason: `content type "${type}"` });
      return problem(res, 400, 'Content-Type must be application/sdp');
    }
    if (!path) {
      log.info('play refused', { reason: 'invalid path' });
      return problem(res, 400, `"${rawPath}" is not a valid stream path`);
    }
    // The admission gate first: a refused client costs its refusal, not an SDP parse.
    const admitted = await this.options.registry.admit({ action: 'read', protocol: 'whep', path, ...httpCredentials(req, url), ip: clientIp(req.socket.remoteAddress), id, query: url.search.slice(1), userAgent: req.headers['user-agent'] ?? '' });
    if (!admitted.ok) {
      log.info('play refused', { status: admitted.reason, reason: admitted.message });
      return sendRefusal(res, admitted);
    }
    let offer: string;
    try {
      offer = await readBody(req, MAX_SDP_BYTES);
    } catch (err) {
      log.info('play refused', { reason: describeError(err) });
      return problem(res, err instanceof LimitError ? 413 : 400, describeError(err));
    }
    let media;
    try {
      media = parseOfferMedia(offer);
    } catch (err) {
      if (!(err instanceof ParseError || err instanceof LimitError)) throw err;
      log.info('play refused', { reason: describeError(err) });
      return problem(res, 400, `unparsable SDP offer: ${err.message}`);
    }
    const video = media.find((m) => m.kind === 'video');
    const audio = media.find((m) => m.kind === 'audio');
    const live = this.options.registry.get(path);
    // A WHIP publisher's VP8 goes to viewers as VP8; everything else is H264.
    const liveVideo = live?.tracks.find((t) => t.kind === 'video')?.codec ?? live?.publisher.videoCodec;
    const videoCodec = liveVideo === 'vp8' ? 'vp8' : 'h264';
    if (videoCodec === 'vp8' && !video?.codecs.some((c) => c.name === 'VP8')) {
      log.info('play refused', { reason: 'the stream is VP8 and the offer has no VP8' });
      return problem(res, 422, 'the stream is VP8: the offer must include VP8');
    }
    if (videoCodec === 'h264' && (!video || !hasH264Mode1(video))) {
      log.info('play refused', { reason: 'no H264 packetization-mode 1 in the offer' });
      return problem(res, 422, 'the offer must include H264 with packetization-mode=1');
    }
    // A camera's G.711 goes to viewers as it is when they offer it (browsers do); otherwise as Opus.
    const liveAudio = live?.tracks.find((t) => t.kind === 'audio')?.codec;
    const audioCodec: WebrtcAudioCodec = (liveAudio === 'pcmu' || liveAudio === 'pcma') && audio && hasG711(audio, liveAudio) ? liveAudio : 'opus';
    if (audioCodec === 'opus' && (!audio || !hasOpus(audio))) {
      log.info('play refused', { reason: 'no Opus in the offer' });
      return problem(res, 422, 'the offer must include Opus');
    }
    const stream = this.options.registry.get(path);
    if (!stream) {
      log.info('play refused', { reason: 'stream not live' });
      return problem(res, 404, `stream "${path}" is not live`);
    }
    if (stream.videoReordered) {
      log.info('play refused', { reason: 'stream has B-frames' });
      return problem(
        res,
        422,
        'the stream has H264 B-frames, which WebRTC players cannot decode: publish without B-frames (x264 bframes=0, OBS "bf=0"), or play it over HTTP-FLV',
      );
    }
    const uuid = randomUUID();
    const bearer = bearerToken(req);
    const session = new WhepSession(uuid, stream, {
      id,
      remote,
      log,
      webrtc: this.options.webrtc,
      network: this.options.network,
      bearer,
      grant: admitted,
      videoCodec,
      audioCodec,
      slot: slot.hold(),
    });
    let answer: string;
    try {
      answer = await session.answer(offer);
    } catch (err) {
      session.close(`negotiation failed: ${describeError(err)}`);
      return problem(res, 422, `cannot answer the offer: ${describeError(err)}`);
    }
    if (stream.isEnded) {
      session.close('stream ended during negotiation');
      return problem(res, 404, `stream "${path}" is not live`);
    }
    this.sessions.set(uuid, session);
    session.onClosed = () => this.sessions.delete(uuid);
    session.start();
    const headers: { [k: string]: string | string[] } = {
      'Content-Type': 'application/sdp',
      Location: `/${stream.path}/whep/${uuid}`,
      ETag: `"${uuid}"`,
      'Accept-Patch': 'application/trickle-ice-sdpfrag',
    };
    const links = this.linkHeaders(uuid);
    if (links.length > 0) headers.Link = links;
    res.writeHead(201, headers);
    res.end(answer);
    log.info('play started', { session: uuid, authorization: bearer ? 'bearer' : undefined });
  }

  private async onPatch(req: IncomingMessage, res: ServerResponse, uuid: string): Promise<void> {
    const session = this.sessions.get(uuid);
    if (!session) return problem(res, 404, 'unknown session');
    const type = contentType(req);
    if (type !== 'application/trickle-ice-sdpfrag') return problem(res, 415, 'Content-Type must be application/trickle-ice-sdpfrag');
    try {
      await readBody(req, MAX_SDP_BYTES);
    } catch (err) {
      return problem(res, 400, describeError(err));
    }
    // livegate answers as ICE-lite: the viewer's candidates are learnt from its checks (peer
    // reflexive), so trickled candidates need no action.
    session.touch();
    res.writeHead(204).end();
  }

  private onDelete(res: ServerResponse, uuid: string): void {
    const session = this.sessions.get(uuid);
    if (!session) return problem(res, 404, 'unknown session');
    session.close('DELETE from the viewer');
    res.writeHead(200).end();
  }

  private reap(): void {
    const now = performance.now();
    for (const s of this.sessions.values()) {
      if (now - s.lastActivity > this.options.webrtc.sessionTimeoutMs) s.close(`no activity for ${this.options.webrtc.sessionTimeoutMs} ms`);
    }
  }
}
