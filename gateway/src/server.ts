/** Wires every part together from a Config: the registry, the HTTP server and the protocol servers. */
import { redactUrl } from './core/redact-url.js';
import { registerEventsApi } from './api/events-api.js';
import { registerInfoApi } from './api/info-api.js';
import { registerSrtApi } from './api/srt-api.js';
import { registerWebrtcPortsApi } from './api/webrtc-ports-api.js';
import { registerSessionsApi } from './api/sessions-api.js';
import { registerMetrics } from './api/metrics.js';
import { registerStreamsApi } from './api/streams-api.js';
import type { Config } from './config/schema.js';
import { LivegateError } from './core/errors.js';
import { createLogger, type Logger } from './core/log.js';
import { StreamRegistry } from './core/stream-registry.js';
import { HttpServer, readTls } from './http/http-server.js';
import { WebAssets } from './http/web-assets.js';
import { FlvServer } from './protocols/flv/flv-server.js';
import { RtmpServer } from './protocols/rtmp/rtmp-server.js';
import { SrtServer } from './protocols/srt/srt-server.js';
import { RtspServer } from './protocols/rtsp/rtsp-server.js';
import { registerRtspApi } from './api/rtsp-api.js';
import { registerSourcesApi } from './api/sources-api.js';
import { RtspSourceDriver } from './protocols/rtsp/rtsp-source.js';
import { RtmpSourceDriver } from './protocols/rtmp/rtmp-source.js';
import { SrtSourceDriver } from './protocols/srt/srt-source.js';
import { SourceManager } from './core/sources.js';
import { RelayManager } from './core/relays.js';
import { RecordingManager } from './protocols/hls/recorder.js';
import { registerRecordingsApi } from './api/recordings-api.js';
import { RtmpPushDriver } from './protocols/rtmp/rtmp-push.js';
import { SrtPushDriver } from './protocols/srt/srt-push.js';
import { normalizePath } from './core/path.js';
import { WhepServer } from './protocols/webrtc/whep-server.js';
import { aacToOpus, g711Renditions, opusToAac } from './transcode/renditions.js';
import { ConfiguredAccess, type AuthOptions } from './auth/access-checker.js';
import { LifecycleNotifier } from './auth/notifications.js';
import { WhipServer } from './protocols/webrtc/whip-server.js';
import { HlsServer } from './protocols/hls/hls-server.js';
import { WebrtcSessionLimits } from './protocols/webrtc/session-limits.js';
import { WebrtcPorts } from './protocols/webrtc/webrtc-ports.js';
import type { Announced } from './nat/public-addresses.js';
import { hostname } from 'node:os';
import type { ClusterNode } from './cluster/cluster-node.js';
import { registerClusterApi } from './api/cluster-api.js';

export interface GatewayOptions {
  log?: Logger;
}

export interface ListeningPorts {
  rtmp?: number;
  http?: number;
  https?: number;
  srt?: number;
  rtsp?: number;
  /** RTSP over TLS (with `http.tls`). */
  rtsps?: number;
  /** The shared RTSP UDP pair (RTP, RTCP). */
  rtspUdp?: [number, number];
  /** The shared WebRTC media port (UDP) and ICE-TCP port. */
  webrtcUdp?: number;
  webrtcTcp?: number;
}

/** A port could not be opened (in use, no permission). */
export class ListenError extends LivegateError {
  constructor(what: string, port: number, host: string, cause: NodeJS.ErrnoException) {
    const why = cause.code === 'EADDRINUSE' ? 'is already in use' : cause.code === 'EACCES' ? 'needs more privileges' : `failed (${cause.message})`;
    super('ERR_CONFIG', `${what} port ${port} on ${host} ${why}`, { cause });
  }
}

export class Gateway {
  readonly registry: StreamRegistry;
  private accessChecker: ConfiguredAccess;
  /** POSTs on_publish / on_unpublish / on_read / on_read_end (auth.hook.notifyUrl). */
  readonly notifier: LifecycleNotifier | null;
  readonly log: Logger;
  readonly ports: ListeningPorts = {};
  private readonly http: HttpServer | null;
  private readonly flv: FlvServer;
  private readonly rtmp: RtmpServer | null;
  readonly srt: SrtServer | null;
  readonly rtsp: RtspServer | null;
  /** Pull sources (`paths[].source`). */
  readonly sources: SourceManager;
  /** Push relays (`paths[].push`). */
  readonly relays: RelayManager;
  /** Recording to disk (with HLS in its fMP4 variant). */
  readonly recordings: RecordingManager | null;
  readonly whep: WhepServer | null;
  readonly whip: WhipServer | null;
  readonly hls: HlsServer | null;
  /** The shared WebRTC media ports (null when WebRTC is off or `webrtc.portRange` is set). */
  readonly webrtcPorts: WebrtcPorts | null;
  /** The SDK at /sdk/livegate.js and the demo at / (null without HTTP). */
  readonly web: WebAssets | null;
  /** This process as a member of a cluster on Redis (`cluster.redis`), once started. */
  cluster: ClusterNode | null = null;
  private stopEvents: (() => void) | null = null;
  private closing: Promise<void> | null = null;

  private constructor(readonly config: Config, options: GatewayOptions) {
    this.log = options.log ?? createLogger(config.logLevel);
    const s = config.streams;
    this.accessChecker = new ConfiguredAccess(accessOptions(config));
    if (this.accessChecker.open) this.log.warn('no authentication configured: anyone who reaches livegate may publish and read every path (see docs/auth.md)');
    const aacRendition = { bitrate: config.transcode.aacBitrate, lingerMs: config.transcode.lingerMs, log: this.log };
    const opusRendition = { bitrate: config.transcode.opusBitrate, decoder: config.transcode.aacDecoder, lingerMs: config.transcode.lingerMs, log: this.log };
    this.registry = new StreamRegistry(
      {
        allowTakeover: s.allowTakeover,
        takeoverAfterSilenceMs: s.takeoverAfterSilenceMs,
        publisherIdleTimeoutMs: s.publisherIdleTimeoutMs,
        maxBacklogBytes: s.readerMaxBacklogBytes,
        stuckTimeoutMs: s.readerStuckTimeoutMs,
        gop: { maxBytes: s.gopCacheMaxBytes, maxUnits: s.gopCacheMaxUnits },
        // Every publish, read, API and metrics request is admitted by the registry, which asks this.
        access: this.accessChecker,
        endSessionsOnExpiry: config.auth.jwt?.endSessionsOnExpiry ?? false,
        failureThrottle: config.auth.failures,
        // A stream's audio in the codec a reader plays: once per stream, shared by its readers.
        renditions: [
          opusToAac(aacRendition),
          aacToOpus(opusRendition),
          ...g711Renditions(aacRendition, opusRendition),
        ],
      },
      this.log,
    );
    this.registry.on('publish', (stream) =>
      this.log.info('stream live', { path: stream.path, publisher: stream.publisher.id, protocol: stream.publisher.protocol }),
    );
    this.registry.on('unpublish', ({ stream, reason }) => this.log.info('stream ended', { path: stream.path, reason }));
    this.registry.on('takeover', ({ stream, previous }) =>
      this.log.info('stream continues with a new publisher', { path: stream.path, publisher: stream.publisher.id, protocol: stream.publisher.protocol, previous: previous.id }),
    );
    this.notifier = config.auth.hook?.notifyUrl ? new LifecycleNotifier(config.auth.hook.notifyUrl, this.registry, this.log) : null;
    this.flv = new FlvServer({ registry: this.registry, log: this.log });
    this.http = config.http.enabled
      ? new HttpServer({
          headersTimeoutMs: config.http.headersTimeoutMs,
          corsOrigin: config.http.corsOrigin,
          log: this.log,
          ...(config.http.tls ? { tls: { cert: config.http.tls.cert, key: config.http.tls.key } } : {}),
        })
      : null;
    // WHIP publishers and WHEP viewers share one budget of sessions and, unless a port range is
    // asked for, one UDP port and one ICE-TCP port.
    const limits = new WebrtcSessionLimits({ maxSessions: config.webrtc.maxSessions, maxNegotiatingPerIp: config.webrtc.maxNegotiatingPerIp });
    const webrtc = this.http !== null && config.webrtc.enabled;
    this.webrtcPorts = webrtc && !config.webrtc.portRange ? new WebrtcPorts(config.webrtc, config.host, this.log) : null;
    const network = this.webrtcPorts;
    this.whep = webrtc ? new WhepServer({ registry: this.registry, log: this.log, webrtc: config.webrtc, network, limits }) : null;
    this.whip = webrtc ? new WhipServer({ registry: this.registry, log: this.log, webrtc: config.webrtc, network, limits }) : null;
    this.web = this.http ? new WebAssets({ demo: config.http.demo, log: this.log }) : null;
    this.hls = this.http && config.hls.enabled ? new HlsServer({ registry: this.registry, log: this.log, ...config.hls }) : null;
    const hls = this.hls;
    this.recordings = hls && config.hls.variant === 'fmp4' ? new RecordingManager(this.registry, (stream) => hls.muxerLease(stream), config.recording, this.log) : null;
    // Before HLS's routes: `/recordings/{path}/{id}/index.m3u8` is not a live path's playlist.
    if (this.http && this.recordings) registerRecordingsApi(this.http, this.recordings, this.registry);
    if (this.http) {
      this.flv.register(this.http);
      this.whep?.register(this.http);
      this.hls?.register(this.http);
      this.whip?.register(this.http);
      registerStreamsApi(this.http, this.registry);
      registerSessionsApi(this.http, this.registry);
      if (this.webrtcPorts) registerWebrtcPortsApi(this.http, this.webrtcPorts, this.registry);
      this.stopEvents = registerEventsApi(this.http, this.registry);
      registerInfoApi(this.http, () => ({
        play: { webrtc: this.whep !== null, flv: true, hls: this.hls !== null },
        publish: { webrtc: this.whip !== null, rtmp: config.rtmp.enabled, srt: config.srt.enabled, rtsp: config.rtsp.enabled },
        ports: { ...this.ports },
      }));
      this.web!.register(this.http);
    }
    this.rtmp = config.rtmp.enabled
      ? new RtmpServer({
          registry: this.registry,
          log: this.log,
          chunkSize: config.rtmp.chunkSize,
          maxMessageSize: config.rtmp.maxMessageSize,
          handshakeTimeoutMs: config.rtmp.handshakeTimeoutMs,
        })
      : null;
    this.srt = config.srt.enabled
      ? new SrtServer({
          registry: this.registry,
          log: this.log,
          latencyMs: config.srt.latencyMs,
          peerIdleTimeoutMs: config.srt.peerIdleTimeoutMs,
          receiveBufferBytes: config.srt.receiveBufferBytes,
          maxConnections: config.srt.maxConnections,
          passphrases: config.srt.passphrases,
          keyRefreshPackets: config.srt.keyRefreshPackets,
          keyPreAnnouncePackets: config.srt.keyPreAnnouncePackets,
        })
      : null;
    if (this.http && this.srt) registerSrtApi(this.http, this.srt, this.registry);
    this.rtsp = config.rtsp.enabled
      ? new RtspServer(this.registry, this.log, {
          udp: config.rtsp.udp,
          udpRtpPort: config.rtsp.udpRtpPort,
          udpRtcpPort: config.rtsp.udpRtcpPort,
          sessionTimeoutMs: config.rtsp.sessionTimeoutMs,
          requestTimeoutMs: config.rtsp.requestTimeoutMs,
          maxConnections: config.rtsp.maxConnections,
          maxSessions: config.rtsp.maxSessions,
          jitterBufferMs: config.rtsp.jitterBufferMs,
          realm: config.rtsp.realm,
          announceHost: config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host,
        }, config.http.tls ? readTls(config.http.tls) : undefined)
      : null;
    this.sources = new SourceManager(
      this.registry,
      config.paths.filter((p) => p.source).map((p) => ({
        path: normalizePath(p.path)!,
        url: p.source!,
        onDemand: p.sourceOnDemand,
        lingerMs: p.sourceOnDemandLingerMs,
        startTimeoutMs: p.sourceOnDemandStartTimeoutMs,
        options: { rtspTransport: p.rtspTransport },
      })),
      [
        new RtspSourceDriver({ requestTimeoutMs: 5000, udpTimeoutMs: 3000, mediaTimeoutMs: 5000, jitterBufferMs: config.rtsp.jitterBufferMs, bindHost: config.host === '::' ? '0.0.0.0' : config.host }),
        new RtmpSourceDriver(),
        new SrtSourceDriver(),
      ],
      this.log,
    );
    if (this.http && this.rtsp) registerRtspApi(this.http, this.rtsp, this.registry);
    this.relays = new RelayManager(
      this.registry,
      config.paths.filter((p) => p.push.length > 0).map((p) => ({ pattern: p.path, push: p.push })),
      [new RtmpPushDriver(), new SrtPushDriver()],
      this.log,
    );
    if (this.http) registerSourcesApi(this.http, this.sources, this.relays, this.registry);
    if (this.http) {
      registerMetrics(this.http, {
        registry: this.registry,
        srtSessions: () => this.srt?.sessions() ?? [],
        webrtcSessions: () => ({ whip: this.whip?.sessions.size ?? 0, whep: this.whep?.sessions.size ?? 0 }),
        webrtcDropped: () => this.webrtcPorts?.mux.stats.dropped ?? null,
      });
    }
  }

  /** The credentials checker in use (from `auth.*`). */
  get access(): ConfiguredAccess {
    return this.accessChecker;
  }

  /**
   * Applies a reloaded configuration (SIGHUP) without dropping a session: the access rules
   * (`auth.*`) for every request from now on, and the TLS certificate for new connections. Other
   * settings need a restart. Throws (and changes nothing) on an auth configuration it cannot use.
   */
  reload(config: Config): void {
    const access = new ConfiguredAccess(accessOptions(config));
    this.accessChecker = access;
    this.registry.setAccess(access);
    this.http?.reloadTls();
    if (config.http.tls) this.rtsp?.reloadTls(readTls(config.http.tls));
    this.log.info('configuration reloaded', { auth: access.open ? 'open' : config.auth.methods.join(',') });
    if (access.open) this.log.warn('no authentication configured: anyone who reaches livegate may publish and read every path (see docs/auth.md)');
  }

  /** The addresses WebRTC candidates announce, with their ports (empty without the shared ports). */
  webrtcAddresses(): Announced[] {
    return this.webrtcPorts?.announced() ?? [];
  }

  /** Starts every enabled server; rejects with ListenError when a port cannot be opened. */
  static async start(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
    const gw = new Gateway(config, options);
    // In a cluster, nothing is published before the node holds its claims (joinCluster, below).
    if (config.cluster.redis) gw.registry.setOwnership({ claim: () => Promise.resolve({ ok: false, reason: 'unavailable', message: 'the node is joining its cluster' }) });
    try {
      if (gw.rtmp) gw.ports.rtmp = await listen('RTMP', config.rtmp.port, config.host, (p, h) => gw.rtmp!.listen(p, h));
      if (gw.http) gw.ports.http = await listen('HTTP', config.http.port, config.host, (p, h) => gw.http!.listen(p, h));
      if (gw.http?.secureServer && config.http.tls) gw.ports.https = await listen('HTTPS', config.http.tls.port, config.host, (p, h) => gw.http!.listenSecure(p, h));
      if (gw.srt) gw.ports.srt = await listen('SRT', config.srt.port, config.host, (p, h) => gw.srt!.listen(p, h));
      if (gw.rtsp) {
        gw.ports.rtsp = await listen('RTSP', config.rtsp.port, config.host, (p, h) => gw.rtsp!.listen(p, h));
        if (gw.rtsp.hasTls) gw.ports.rtsps = await listen('RTSPS', config.rtsp.tlsPort, config.host, (p, h) => gw.rtsp!.listenSecure(p, h));
        const udp = gw.rtsp.udpPorts;
        if (udp) gw.ports.rtspUdp = [udp.rtp, udp.rtcp];
      }
      if (gw.webrtcPorts) {
        const webrtcPorts = gw.webrtcPorts;
        const ports = await listen('WebRTC', config.webrtc.udpPort, config.webrtc.interface ?? config.host, () => webrtcPorts.start().then((p) => p.udp));
        gw.ports.webrtcUdp = ports;
        if (webrtcPorts.mux.ports.tcp !== null) gw.ports.webrtcTcp = webrtcPorts.mux.ports.tcp;
      }
      if (config.cluster.redis) await gw.joinCluster(config.cluster.redis);
    } catch (err) {
      await gw.close();
      throw err;
    }
    return gw;
  }

  /** Joins the cluster once the ports are known (the node's record carries its URLs). */
  private async joinCluster(redisUrl: string): Promise<void> {
    const c = this.config.cluster;
    const host = c.advertiseHost ?? (this.config.host === '0.0.0.0' || this.config.host === '::' ? hostname() : this.config.host);
    const h = host.includes(':') ? `[${host}]` : host;
    const { http, rtmp, srt } = this.ports;
    const id = c.nodeId ?? `${hostname()}-${http ?? rtmp ?? srt ?? 0}`;
    // Only a cluster member loads the Redis client.
    const [{ RedisStore }, { ClusterNode }] = await Promise.all([import('./cluster/redis-store.js'), import('./cluster/cluster-node.js')]);
    const store = new RedisStore({ url: redisUrl, keyPrefix: c.keyPrefix, commandTimeoutMs: Math.min(2000, c.heartbeatMs * 2) });
    const urls = {
      http: http !== undefined ? `http://${h}:${http}` : null,
      rtmp: rtmp !== undefined ? `rtmp://${h}:${rtmp}` : null,
      srt: srt !== undefined ? `srt://${h}:${srt}` : null,
    };
    const cluster = new ClusterNode(
      this.registry,
      this.sources,
      store,
      {
        id,
        ttlMs: c.ttlMs,
        heartbeatMs: c.heartbeatMs,
        pullProtocol: c.pullProtocol,
        pullLatencyMs: c.pullLatencyMs,
        pullCredentials: c.pullCredentials,
        lingerMs: c.lingerMs,
        startTimeoutMs: c.startTimeoutMs,
      },
      urls,
      this.log.child({ component: 'cluster' }),
    );
    this.cluster = cluster;
    await cluster.start();
    if (this.http) registerClusterApi(this.http, cluster, this.registry, c.redirect);
    this.log.info('cluster joined', { node: id, redis: redactUrl(redisUrl), pull: c.pullProtocol, ttlMs: c.ttlMs, ...urls });
  }

  /** Ends every stream and session and closes the ports. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Each protocol ends its own sessions first (logged as a shutdown, not as a session the server
      // cut off); the registry then ends whatever is left.
      // A clean shutdown frees this node's paths at once (other nodes need not wait for the TTL).
      await this.cluster?.close();
      this.sources.close();
      this.relays.close();
      await this.recordings?.close();
      this.flv.closeAll('server shutting down');
      this.whep?.closeAll('server shutting down');
      this.whip?.closeAll('server shutting down');
      this.stopEvents?.();
      const closed = Promise.all([this.rtmp?.close(), this.http?.close(), this.srt?.close(), this.rtsp?.close(), this.webrtcPorts?.close()]);
      this.registry.closeAll('server shutting down');
      await closed;
    })();
    return this.closing;
  }
}

async function listen(what: string, port: number, host: string, fn: (port: number, host: string) => Promise<number>): Promise<number> {
  try {
    return await fn(port, host);
  } catch (err) {
    throw new ListenError(what, port, host, err as NodeJS.ErrnoException);
  }
}

/** The access checker's options from `auth.*`. */
function accessOptions(config: Config): AuthOptions {
  const a = config.auth;
  return {
    methods: a.methods,
    users: a.users.map((u) => ({ user: u.user, permissions: u.permissions, ...(u.pass !== undefined ? { pass: u.pass } : {}), ...(u.ips ? { ips: u.ips } : {}) })),
    ipRules: a.ipRules,
    ...(a.jwt
      ? {
          jwt: {
            algorithms: a.jwt.algorithms,
            permissionsClaim: a.jwt.permissionsClaim,
            clockToleranceS: a.jwt.clockToleranceS,
            jwksCooldownMs: a.jwt.jwksCooldownMs,
            ...(a.jwt.secret ? { secret: a.jwt.secret } : {}),
            ...(a.jwt.publicKey ? { publicKey: a.jwt.publicKey } : {}),
            ...(a.jwt.jwksUrl ? { jwksUrl: a.jwt.jwksUrl } : {}),
            ...(a.jwt.issuer ? { issuer: a.jwt.issuer } : {}),
            ...(a.jwt.audience ? { audience: a.jwt.audience } : {}),
          },
        }
      : {}),
    ...(a.hook ? { hook: { url: a.hook.url, timeoutMs: a.hook.timeoutMs, cacheSeconds: a.hook.cacheSeconds } } : {}),
  };
}

