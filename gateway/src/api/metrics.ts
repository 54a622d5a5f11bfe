/**
 * `GET /metrics`: Prometheus text format (prom-client), behind the `metrics` action. Every figure is
 * read from its owner at scrape time (no bookkeeping on the media path) but for the counters of what
 * ended (bytes of streams that are gone) and of refusals. Names are listed in docs/metrics.md.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { StreamRegistry } from '../core/stream-registry.js';
import type { HttpServer } from '../http/http-server.js';
import { clientIp, httpCredentials, sendRefusal } from '../http/problem.js';
import { sessionId } from '../core/log.js';

export interface MetricsSources {
  registry: StreamRegistry;
  /** SRT connections with their counters (null without SRT). */
  srtSessions(): { mode: string; stats: { rttMs: number; packetsLost: number; packetsRetransmitted: number; packetsReceived: number; packetsSent: number } }[];
  /** WebRTC sessions by direction. */
  webrtcSessions(): { whip: number; whep: number };
  /** Packets the shared WebRTC media ports dropped, by why (null without them). */
  webrtcDropped(): { [reason: string]: number } | null;
}

export function registerMetrics(http: HttpServer, sources: MetricsSources): Registry {
  const { registry } = sources;
  const reg = new Registry();
  collectDefaultMetrics({ register: reg, prefix: 'livegate_' });

  // Bytes of streams that have ended, per publishing protocol (live streams' are added at scrape).
  const endedBytesIn = new Map<string, number>();
  registry.on('unpublish', ({ stream }) => endedBytesIn.set(stream.publisher.protocol, (endedBytesIn.get(stream.publisher.protocol) ?? 0) + stream.bytesIn));
  const refusals = new Counter({ name: 'livegate_access_refused_total', help: 'Requests refused by the admission gate, by action, protocol and reason', labelNames: ['action', 'protocol', 'reason'], registers: [reg] });
  registry.on('refused', ({ request, reason }) => refusals.inc({ action: request.action, protocol: request.protocol, reason }));

  new Gauge({ name: 'livegate_streams', help: 'Live streams', registers: [reg], collect() { this.set(registry.list().length); } });
  new Gauge({
    name: 'livegate_readers', help: 'Readers of live streams, by protocol (HLS: one per stream muxer)', labelNames: ['protocol'], registers: [reg],
    collect() {
      this.reset();
      for (const s of registry.list()) for (const r of s.readers()) if (r.remoteAddress !== 'internal') this.inc({ protocol: r.protocol });
    },
  });
  new Gauge({
    name: 'livegate_publishers', help: 'Publishers of live streams, by protocol', labelNames: ['protocol'], registers: [reg],
    collect() {
      this.reset();
      for (const s of registry.list()) this.inc({ protocol: s.publisher.protocol });
    },
  });
  new Counter({
    name: 'livegate_ingest_bytes_total', help: 'Media bytes received from publishers, by protocol', labelNames: ['protocol'], registers: [reg],
    collect() {
      const live = new Map(endedBytesIn);
      for (const s of registry.list()) live.set(s.publisher.protocol, (live.get(s.publisher.protocol) ?? 0) + s.bytesIn);
      this.reset();
      for (const [protocol, bytes] of live) this.inc({ protocol }, bytes);
    },
  });
  new Gauge({ name: 'livegate_ingest_bitrate_bits', help: 'Ingest bitrate of every live stream together (bits/s, last second)', registers: [reg], collect() { this.set(registry.list().reduce((n, s) => n + s.bitrate * 8, 0)); } });
  new Gauge({
    name: 'livegate_transcoders', help: 'Running audio renditions (transcoders), by direction', labelNames: ['from', 'to'], registers: [reg],
    collect() {
      this.reset();
      for (const s of registry.list()) for (const r of s.renditionViews()) this.inc({ from: r.from, to: r.to });
    },
  });
  new Gauge({
    name: 'livegate_outputs', help: 'Per-stream outputs (HLS muxers, the SRT MPEG-TS muxer), by kind', labelNames: ['kind'], registers: [reg],
    collect() {
      this.reset();
      for (const s of registry.list()) for (const o of s.outputViews()) this.inc({ kind: o.name });
    },
  });
  new Gauge({ name: 'livegate_output_bytes', help: 'Memory held by per-stream outputs (HLS windows)', registers: [reg], collect() {
    let n = 0;
    for (const s of registry.list()) for (const o of s.outputViews()) n += Number((o.stats as { bytes?: number } | undefined)?.bytes ?? 0);
    this.set(n);
  } });
  new Gauge({
    name: 'livegate_srt_sessions', help: 'SRT connections, by mode', labelNames: ['mode'], registers: [reg],
    collect() {
      this.reset();
      for (const s of sources.srtSessions()) this.inc({ mode: s.mode });
    },
  });
  new Gauge({ name: 'livegate_srt_rtt_seconds', help: 'Mean round-trip time of the SRT connections', registers: [reg], collect() {
    const all = sources.srtSessions();
    this.set(all.length ? all.reduce((n, s) => n + s.stats.rttMs, 0) / all.length / 1000 : 0);
  } });
  new Gauge({ name: 'livegate_srt_packets_lost', help: 'Packets lost on the live SRT connections (received side)', registers: [reg], collect() { this.set(sources.srtSessions().reduce((n, s) => n + s.stats.packetsLost, 0)); } });
  new Gauge({ name: 'livegate_srt_packets_retransmitted', help: 'Packets retransmitted on the live SRT connections', registers: [reg], collect() { this.set(sources.srtSessions().reduce((n, s) => n + s.stats.packetsRetransmitted, 0)); } });
  new Gauge({
    name: 'livegate_webrtc_sessions', help: 'WebRTC sessions, by direction (whip: publishers, whep: viewers)', labelNames: ['direction'], registers: [reg],
    collect() {
      const s = sources.webrtcSessions();
      this.set({ direction: 'whip' }, s.whip);
      this.set({ direction: 'whep' }, s.whep);
    },
  });

  new Counter({
    name: 'livegate_webrtc_dropped_packets_total', help: 'Packets the shared WebRTC UDP/ICE-TCP ports dropped, by reason (unknownAddress, unknownUfrag, badIntegrity, notACheck, tcpOverflow, tcpFraming)', labelNames: ['reason'], registers: [reg],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(sources.webrtcDropped() ?? {})) this.inc({ reason }, n);
    },
  });

  http.route('GET', '/metrics', async (req, res, _params, url) => {
    const decision = await registry.admit({ action: 'metrics', protocol: 'metrics', path: '', ...httpCredentials(req, url), ip: clientIp(req), id: sessionId('metrics'), query: url.search.slice(1), userAgent: req.headers['user-agent'] ?? '' });
    if (!decision.ok) return sendRefusal(res, decision);
    const body = await reg.metrics();
    res.writeHead(200, { 'Content-Type': reg.contentType, 'Cache-Control': 'no-store' });
    res.end(body);
  });
  return reg;
}
