import { normalizePath } from '../core/path.js';
import { z } from 'zod';
import { blockListOf } from '../auth/ip-rules.js';
import { storedPasswordError } from '../auth/password.js';
import { parsePublicAddress } from '../nat/public-addresses.js';

const port = z.number().int().min(0).max(65535);
const action = z.enum(['publish', 'read', 'api', 'metrics']);
const permission = z.object({ action, path: z.string().min(1).optional() }).strict();
const cidrs = z.array(z.string()).superRefine((list, ctx) => {
  try {
    blockListOf(list);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});
const MiB = 1024 * 1024;

/** The whole configuration, with every default, so that livegate runs with no file at all. */
export const configSchema = z
  .object({
    /** Address every server binds to. */
    host: z.string().min(1).default('0.0.0.0'),
    /** Host name printed in the start-up URLs (the machine's name as clients reach it). */
    publicHost: z.string().min(1).optional(),
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    rtmp: z
      .object({
        enabled: z.boolean().default(true),
        port: port.default(1935),
        /** Chunk size livegate sends with (Set Chunk Size); larger means fewer chunk headers. */
        chunkSize: z.number().int().min(128).max(65536).default(4096),
        /** Largest RTMP message accepted (a video keyframe must fit). */
        maxMessageSize: z.number().int().min(64 * 1024).max(16 * MiB - 1).default(8 * MiB),
        /** A connection that has not finished the handshake and connect by then is closed. */
        handshakeTimeoutMs: z.number().int().positive().default(10_000),
      })
      .strict()
      .prefault({}),
    http: z
      .object({
        enabled: z.boolean().default(true),
        port: port.default(8080),
        /** Time a client has to send its request headers (slow-loris protection). */
        headersTimeoutMs: z.number().int().positive().default(10_000),
        /** Access-Control-Allow-Origin for the media and API routes. */
        corsOrigin: z.string().default('*'),
        /** Serve the demo app at `/` (the SDK is always served at `/sdk/livegate.js`). */
        demo: z.boolean().default(true),
        /**
         * HTTPS and WSS on a port of their own, every HTTP route (HTTP/2 by ALPN, HTTP/1.1 for the
         * others and for WebSockets). `npm run certs` makes a development certificate; SIGHUP reloads
         * the files (after a renewal).
         */
        tls: z.object({ port: port.default(8443), cert: z.string().min(1), key: z.string().min(1) }).strict().optional(),
      })
      .strict()
      .prefault({}),
    /** Recording to disk as fMP4 segments with a VOD playlist (needs HLS, fMP4 variant). */
    /**
     * An origin–edge cluster on Redis (off unless `redis` is set): nodes register with a TTL, each
     * live path is claimed by the node it is published on, and a reader on another node pulls it
     * from there. See docs/cluster.md.
     */
    cluster: z
      .object({
        /** `redis://[user:pass@]host:port[/db]` or `rediss://…` (TLS). Unset: no cluster. */
        redis: z.string().url().optional(),
        /** This node's id in the cluster (default: the host name and the HTTP port). */
        nodeId: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/).optional(),
        /** The host other nodes and redirected players reach this node at (default: `host`, or the machine's name when that is a wildcard). */
        advertiseHost: z.string().min(1).optional(),
        /** Every key livegate writes starts with this (several clusters, or other users, can share a Redis). */
        keyPrefix: z.string().max(64).default('livegate:'),
        /** Node records and path claims expire this long after their last renewal (ms): a dead node's paths are free after it. */
        ttlMs: z.number().int().min(1000).max(120_000).default(5000),
        /** How often records and claims are renewed (ms); at most a third of `ttlMs`. */
        heartbeatMs: z.number().int().min(100).max(40_000).default(1000),
        /**
         * How an edge pulls a path from its origin: RTMP (TCP; the cheapest and fastest to start
         * inside a data centre) or SRT (loss recovery and encryption between regions).
         */
        pullProtocol: z.enum(['srt', 'rtmp']).default('rtmp'),
        /** SRT latency of edge pulls (ms): inside a data centre far less than over the internet. */
        pullLatencyMs: z.number().int().min(20).max(8000).default(60),
        /** Credentials an edge presents to its origin when reads need them (a `token`, or `user` and `pass`). */
        pullCredentials: z
          .object({ token: z.string().min(1).optional(), user: z.string().min(1).optional(), pass: z.string().min(1).optional() })
          .strict()
          .optional(),
        /** An edge's pull stops this long after its last local reader left (ms). */
        lingerMs: z.number().int().nonnegative().default(5000),
        /** How long a reader on an edge waits for the pull to start (ms). */
        startTimeoutMs: z.number().int().positive().default(5000),
        /** An HTTP player (FLV, HLS) asking a node that does not have the path is sent (302) to the least-loaded node that has it. */
        redirect: z.boolean().default(false),
      })
      .strict()
      .superRefine((c, ctx) => {
        if (c.heartbeatMs * 3 > c.ttlMs) ctx.addIssue({ code: 'custom', path: ['heartbeatMs'], message: 'heartbeatMs must be at most a third of ttlMs' });
      })
      .prefault({}),
    recording: z
      .object({
        dir: z.string().min(1).default('./recordings'),
        /** Path patterns recorded whenever they are live (others on demand through the API). */
        paths: z.array(z.string().min(1)).default([]),
        /** Segment files of about this long, cut at keyframes (ms). */
        segmentDurationMs: z.number().int().min(500).max(60_000).default(6000),
        /** Finished recordings older than this are deleted (hours; 0: kept). */
        maxAgeHours: z.number().nonnegative().default(0),
        /** Finished recordings are deleted oldest first past this many bytes in all (0: no limit). */
        maxBytes: z.number().int().nonnegative().default(0),
      })
      .strict()
      .prefault({}),
    hls: z
      .object({
        /** Serve every live path as (LL-)HLS at `/{path}/index.m3u8`. */
        enabled: z.boolean().default(true),
        /** Part target duration (ms): LL-HLS clients get media in pieces this long. */
        partTargetMs: z.number().int().min(50).max(2000).default(200),
        /** Least segment duration (ms); segments start at the first keyframe after it. */
        segmentTargetMs: z.number().int().min(500).max(30_000).default(1000),
        /** Complete segments kept in the window (and in memory). */
        segmentCount: z.number().int().min(3).max(60).default(7),
        /** A path's HLS muxer stops after this long without a request. */
        idleTimeoutMs: z.number().int().positive().default(30_000),
        /** `fmp4`: fMP4/CMAF with LL-HLS parts; `mpegts`: classic MPEG-TS segments for old players. */
        variant: z.enum(['fmp4', 'mpegts']).default('fmp4'),
      })
      .strict()
      .prefault({}),
    webrtc: z
      .object({
        enabled: z.boolean().default(true),
        /** The one UDP port of every WebRTC session's media (ICE, DTLS, SRTP); 0: any free port. */
        udpPort: port.default(8189),
        /** The ICE-TCP port (passive candidates, RFC 6544) for clients whose networks block UDP; false: none. */
        tcpPort: z.union([port, z.literal(false)]).default(8189),
        /**
         * A UDP port per session from this range, [min, max], instead of the one shared port (werift's
         * own sockets; no ICE-TCP). For setups that need it; the shared port is the default.
         */
        portRange: z.tuple([port, port]).optional(),
        /**
         * Where the world reaches this machine, announced in candidates besides its own addresses:
         * "IP", "IP:port" (a port-forwarded NAT whose public port differs from the local one) or a
         * host name (resolved at start and every `publicAddressRefreshMs`).
         */
        publicAddresses: z
          .array(z.string().min(1))
          .default([])
          .superRefine((list, ctx) => {
            for (const a of list) {
              try {
                parsePublicAddress(a);
              } catch (err) {
                ctx.addIssue({ code: 'custom', message: (err as Error).message });
              }
            }
          }),
        publicAddressRefreshMs: z.number().int().min(1000).default(300_000),
        /** Asks this STUN server (stun:host[:port]) for the public IP at start. Off by default: livegate sends nothing anywhere unless told. */
        stunDetect: z
          .string()
          .regex(/^stun:[A-Za-z0-9.-]+(:\d{1,5})?$/, 'stun:host[:port]')
          .optional(),
        /**
         * WHEP viewers' packets go out through livegate's own SRTP send path (AES_CM_128_HMAC_SHA1_80,
         * header written in place, one send): about 4× cheaper per packet than werift's. false: werift's.
         */
        fastRtp: z.boolean().default(true),
        /** Extra IPs announced with the local ports (older name; publicAddresses covers it). */
        additionalHosts: z.array(z.string().min(1)).default([]),
        /**
         * The IPv4 address of the interface WebRTC binds to and announces. Never loopback on a real
         * network. All interfaces (announcing every non-loopback address) when absent.
         */
        interface: z.ipv4().optional(),
        /** STUN/TURN servers given to clients in Link headers (livegate itself contacts none). */
        iceServers: z
          .array(
            z
              .object({
                urls: z.string().min(1),
                username: z.string().optional(),
                credential: z.string().optional(),
                /** coturn static-auth-secret: short-lived credentials are made per client (TURN REST API). */
                secret: z.string().min(1).optional(),
                ttlSeconds: z.number().int().positive().optional(),
              })
              .strict(),
          )
          .default([]),
        /** A viewer with no RTCP/ICE activity for this long is closed (ICE-lite has no consent checks). */
        sessionTimeoutMs: z.number().int().positive().default(30_000),
        /**
         * A WHIP or WHEP session whose ICE has not completed this long after its answer is closed
         * (its socket freed): a client that never connects holds nothing for long.
         */
        iceTimeoutMs: z.number().int().min(1000).default(10_000),
        /** WHIP publishers and WHEP viewers at most, together; more get 503. */
        maxSessions: z.number().int().positive().default(1000),
        /** Sessions from one client address that have not completed ICE yet, at most; more get 503. */
        maxNegotiatingPerIp: z.number().int().positive().default(16),
        /**
         * When a stream's publisher goes away, its WebRTC viewers wait this long for a new one and
         * carry on with it (RTP time running on, no new negotiation). 0 ends them at once.
         */
        republishGraceMs: z.number().int().nonnegative().default(10_000),
        /**
         * A WHIP publisher that sends no RTP for this long is gone: its stream ends (a closed browser
         * tab says nothing, and ICE-lite has no consent checks to notice).
         */
        publisherMediaTimeoutMs: z.number().int().positive().default(5000),
        /**
         * In-order packets of a WHIP publisher pass at once; after a gap, later packets wait at most
         * this long for the retransmission before the gap is given up (ms).
         */
        jitterBufferMs: z.number().int().min(0).max(5000).default(150),
      })
      .strict()
      .prefault({}),
    transcode: z
      .object({
        /** Opus bitrate of the AAC → Opus transcoder, bits per second. */
        opusBitrate: z.number().int().min(6000).max(510_000).default(128_000),
        /**
         * AAC decoder of the AAC → Opus transcoder: "wasm" (FAAD2 in process, GPL-2.0) or "ffmpeg"
         * (an ffmpeg child process per transcoded stream, for deployments that avoid GPL code).
         */
        aacDecoder: z.enum(['wasm', 'ffmpeg']).default('wasm'),
        /**
         * AAC bitrate of the Opus → AAC transcoder (FLV and RTMP readers of Opus streams), bits per
         * second, for stereo; mono streams get half.
         */
        aacBitrate: z.number().int().min(32_000).max(320_000).default(128_000),
        /** How long a transcoder lives on after its last viewer leaves (ms). */
        lingerMs: z.number().int().nonnegative().default(5000),
      })
      .strict()
      .prefault({}),
    srt: z
      .object({
        enabled: z.boolean().default(true),
        /** UDP port of the SRT listener (every connection shares it). */
        port: port.default(8890),
        /** TSBPD latency livegate asks for, ms (the larger of both sides' wishes applies). */
        latencyMs: z.number().int().min(0).max(10_000).default(120),
        /** A peer silent for this long is dropped (libsrt's default is 5 s). */
        peerIdleTimeoutMs: z.number().int().positive().default(5000),
        /** Kernel receive (and send) buffer of the UDP socket. */
        receiveBufferBytes: z.number().int().min(64 * 1024).default(8 * MiB),
        maxConnections: z.number().int().positive().default(1000),
        /**
         * Passphrases (10–79 characters) per path pattern (`live/*`): callers must publish or read
         * matching paths with that passphrase (AES-128/192/256 as the caller chooses); the first
         * matching rule that names the mode wins.
         */
        passphrases: z
          .array(
            z
              .object({
                path: z.string().min(1),
                publish: z.string().min(10).max(79).optional(),
                read: z.string().min(10).max(79).optional(),
              })
              .strict(),
          )
          .default([]),
        /** Packets sent with one key before livegate switches to a fresh one (libsrt: 2^24). */
        keyRefreshPackets: z.number().int().min(100).default(0x1000000),
        /** Packets before and after the switch during which both keys are announced (libsrt: 2^16). */
        keyPreAnnouncePackets: z.number().int().min(1).default(0x10000),
      })
      .strict()
      .refine((s) => s.keyPreAnnouncePackets * 2 < s.keyRefreshPackets, 'srt.keyPreAnnouncePackets must be under half of srt.keyRefreshPackets')
      .prefault({}),
    rtsp: z
      .object({
        enabled: z.boolean().default(true),
        /** TCP port of RTSP requests and interleaved media (env LIVEGATE_RTSP_PORT). */
        port: port.default(8554),
        /** UDP transport on one RTP/RTCP port pair shared by every session; false: TCP (interleaved) only. */
        udp: z.boolean().default(true),
        udpRtpPort: port.default(8000),
        udpRtcpPort: port.default(8001),
        /** A UDP session with no request, RTCP or RTP from its client for this long is closed (ms). */
        sessionTimeoutMs: z.number().int().min(1000).default(60_000),
        /** A connection without a session that completes no request for this long is closed (ms). */
        requestTimeoutMs: z.number().int().min(100).default(10_000),
        maxConnections: z.number().int().positive().default(4096),
        maxSessions: z.number().int().positive().default(4096),
        /** A gap in a UDP publisher's packets waits this long for reordered packets (ms). */
        jitterBufferMs: z.number().int().min(0).max(5000).default(100),
        /** The realm of Basic authentication challenges. */
        realm: z.string().min(1).max(64).default('livegate'),
        /** RTSPS (RTSP over TLS, `rtsps://`) on this TCP port, with `http.tls`'s certificate; served only when `http.tls` is set. */
        tlsPort: port.default(8322),
      })
      .strict()
      .refine((r) => !r.udp || r.udpRtpPort === 0 || r.udpRtpPort !== r.udpRtcpPort, 'rtsp.udpRtpPort and rtsp.udpRtcpPort must differ')
      .prefault({}),
    /**
     * Per-path settings. `source`: a stream livegate pulls itself (an rtsp://, rtsps://, rtmp:// or
     * srt:// URL, credentials in the URL; an exact path). Always on, or `sourceOnDemand`: the first
     * reader starts it, it stops a linger after the last. `push`: every live path matching `path` (a
     * pattern: `live/*`, `~regex`) is sent on to these rtmp:// or srt:// URLs (`{path}`, `{name}` in them).
     */
    paths: z
      .array(
        z
          .object({
            path: z.string().min(1),
            source: z.string().regex(/^(rtsps?|rtmp|srt):\/\/[^\s]+$/i, 'source must be an rtsp://, rtsps://, rtmp:// or srt:// URL').optional(),
            sourceOnDemand: z.boolean().default(false),
            /** On demand: how long the source stays connected after its last reader (ms). */
            sourceOnDemandLingerMs: z.number().int().nonnegative().default(10_000),
            /** On demand: how long a reader's request waits for the source to go live (ms). */
            sourceOnDemandStartTimeoutMs: z.number().int().positive().default(10_000),
            /** RTSP sources: UDP first with a fall back to TCP (auto), or one of them only. */
            rtspTransport: z.enum(['auto', 'udp', 'tcp']).default('auto'),
            push: z.array(z.string().regex(/^(rtmp|srt):\/\/[^\s]+$/i, 'push targets are rtmp:// or srt:// URLs')).max(16).default([]),
          })
          .strict()
          .superRefine((p, ctx) => {
            const pattern = p.path.includes('*') || p.path.startsWith('~');
            if (p.source && (pattern || normalizePath(p.path) === null)) ctx.addIssue({ code: 'custom', message: `paths: a source needs an exact stream path ("${p.path}")` });
            if (!pattern && normalizePath(p.path) === null) ctx.addIssue({ code: 'custom', message: `paths: "${p.path}" is not a valid stream path or pattern` });
            if (!p.source && p.push.length === 0) ctx.addIssue({ code: 'custom', message: `paths: "${p.path}" has neither source nor push` });
          }),
      )
      .default([])
      .refine((list) => {
        const sources = list.filter((p) => p.source).map((p) => normalizePath(p.path));
        return new Set(sources).size === sources.length;
      }, 'paths: each path has at most one source'),
    auth: z
      .object({
        /** Methods asked in order until one has a verdict; none: anyone may publish and read (a warning at start). */
        methods: z.array(z.enum(['users', 'jwt', 'hook'])).default([]),
        /** Internal users; `user: any` stands for every client. */
        users: z
          .array(
            z
              .object({
                user: z.string().min(1),
                /** Plain, `sha256:<hex>` or `$scrypt$…` (npm run hash-password). */
                pass: z
                  .string()
                  .optional()
                  .superRefine((p, ctx) => {
                    const error = p === undefined ? null : storedPasswordError(p);
                    if (error) ctx.addIssue({ code: 'custom', message: error });
                  }),
                ips: cidrs.optional(),
                permissions: z.array(permission).default([]),
              })
              .strict(),
          )
          .default([]),
        jwt: z
          .object({
            secret: z.string().min(16).optional(),
            publicKey: z.string().optional(),
            jwksUrl: z.url().optional(),
            algorithms: z.array(z.enum(['HS256', 'RS256', 'ES256'])).min(1).default(['HS256', 'RS256', 'ES256']),
            issuer: z.string().optional(),
            audience: z.string().optional(),
            permissionsClaim: z.string().min(1).default('permissions'),
            clockToleranceS: z.number().min(0).max(300).default(5),
            /** Least time between two fetches of the JWKS (a token with an unknown key id fetches it again). */
            jwksCooldownMs: z.number().int().min(0).default(5000),
            /** Close sessions when their token expires (not only refuse new ones). */
            endSessionsOnExpiry: z.boolean().default(false),
          })
          .strict()
          .refine((j) => j.secret !== undefined || j.publicKey !== undefined || j.jwksUrl !== undefined, 'auth.jwt needs secret, publicKey or jwksUrl')
          .optional(),
        hook: z
          .object({
            /** POSTed `{ action, protocol, path, user, password, token, ip, id, query, userAgent }`; 2xx allows. */
            url: z.url(),
            timeoutMs: z.number().int().positive().default(2000),
            /** Seconds an allow answer is remembered. */
            cacheSeconds: z.number().min(0).default(0),
            /** Lifecycle notifications (on_publish, on_unpublish, on_read, on_read_end) are POSTed here. */
            notifyUrl: z.url().optional(),
          })
          .strict()
          .optional(),
        /** Bad credentials from one address past `freeFailures` in `windowMs` are answered slower and slower. */
        failures: z
          .object({
            freeFailures: z.number().int().min(0).default(10),
            windowMs: z.number().int().positive().default(60_000),
            baseDelayMs: z.number().int().min(0).default(250),
            maxDelayMs: z.number().int().min(0).default(4000),
          })
          .strict()
          .prefault({}),
        /** Per action, CIDRs allowed and denied (deny wins; an allow list admits only its addresses). */
        ipRules: z.array(z.object({ actions: z.array(action).optional(), allow: cidrs.optional(), deny: cidrs.optional() }).strict()).default([]),
      })
      .strict()
      .refine((a) => !a.methods.includes('jwt') || a.jwt !== undefined, 'auth.methods names jwt: configure auth.jwt')
      .refine((a) => !a.methods.includes('hook') || a.hook !== undefined, 'auth.methods names hook: configure auth.hook')
      .prefault({}),
    streams: z
      .object({
        /**
         * A second publisher on a live path replaces the first at once instead of being refused
         * (readers stay and carry on with the new one).
         */
        allowTakeover: z.boolean().default(false),
        /**
         * A publisher that has sent nothing for this long is replaced by a new publisher of the same
         * path (an encoder that crashed and restarted before its old session timed out); readers stay
         * and carry on with the new one. A publisher that is still sending is never replaced.
         */
        takeoverAfterSilenceMs: z.number().int().min(100).default(1000),
        /** A publisher that sends no media for this long is disconnected. */
        publisherIdleTimeoutMs: z.number().int().positive().default(10_000),
        gopCacheMaxBytes: z.number().int().positive().default(32 * MiB),
        gopCacheMaxUnits: z.number().int().positive().default(4000),
        /** Above this backlog a reader skips to the next keyframe. */
        readerMaxBacklogBytes: z.number().int().positive().default(8 * MiB),
        /** A reader that stays behind for this long is disconnected. */
        readerStuckTimeoutMs: z.number().int().positive().default(10_000),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
