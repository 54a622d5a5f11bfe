/**
 * One livegate process as a member of a cluster on Redis (`cluster.redis`):
 *
 * - **registry of nodes**: every heartbeat writes this node's record (id, URLs, load, the paths it
 *   has) with a TTL, so a node that dies drops out of the cluster by itself;
 * - **path ownership**: a publish is admitted only once this node holds the path's claim (taken
 *   atomically if free, renewed every heartbeat while the path is live here, released when it ends);
 *   while Redis is unreachable new publishes fail closed (`unavailable`), live streams go on, and the
 *   claims are re-established when it is back;
 * - **edges**: a reader asking for a path this node does not have finds its holder and pulls the path
 *   from it over SRT (or RTMP) — one pull per path however many local readers, through the pull
 *   source lifecycle of `core/sources.ts` (start on demand, linger, stop); a pull whose origin no
 *   longer holds the path is stopped, so its readers come back and find the path where it is now.
 */
import { cpuUsage } from 'node:process';
import { describeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { isInternalReader } from '../core/reader.js';
import type { SourceConfig, SourceManager } from '../core/sources.js';
import type { PathOwnership, StreamRegistry } from '../core/stream-registry.js';
import type { Stream } from '../core/stream.js';
import type { RedisStore } from './redis-store.js';

export interface NodeUrls {
  http: string | null;
  rtmp: string | null;
  srt: string | null;
}

export interface NodeLoad {
  /** Client readers of every stream on the node. */
  readers: number;
  streams: number;
  /** CPU used by the process since the last heartbeat, in cores (1 = one core busy). */
  cpu: number;
  /** Estimated egress: each stream's bitrate times its client readers (bit/s). */
  bandwidthBps: number;
}

/** What a node writes to Redis (and `GET /api/v1/cluster` shows). */
export interface NodeRecord {
  id: string;
  urls: NodeUrls;
  startedAt: string;
  updatedAt: string;
  load: NodeLoad;
  /** Paths live on this node: published here (`origin`) or pulled from another node (`edge`). */
  paths: { path: string; role: 'origin' | 'edge' }[];
  /** Paths this node pulls, and from which node. */
  pulls: { path: string; from: string }[];
}

export interface ClusterNodeOptions {
  id: string;
  ttlMs: number;
  heartbeatMs: number;
  pullProtocol: 'srt' | 'rtmp';
  pullLatencyMs: number;
  pullCredentials?: { token?: string | undefined; user?: string | undefined; pass?: string | undefined } | undefined;
  lingerMs: number;
  startTimeoutMs: number;
}

/** The query parameter an edge's pull carries: the origin tells its edges from its other readers by it. */
export const EDGE_QUERY_PARAM = 'cluster_node';

/** A claim taken for a publish that never started (the client went away) is released after this. */
const UNUSED_CLAIM_MS = 10_000;
const MAX_RECORD_PATHS = 10_000;

/** A node record read from Redis, or null when it is not one (another program's key, a broken write). */
function parseRecord(json: string): NodeRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Partial<NodeRecord>;
  const urls = r.urls as Partial<NodeUrls> | undefined;
  const url = (u: unknown): boolean => u === null || typeof u === 'string';
  if (typeof r.id !== 'string' || typeof urls !== 'object' || urls === null || !url(urls.http) || !url(urls.rtmp) || !url(urls.srt)) return null;
  if (!Array.isArray(r.paths) || !Array.isArray(r.pulls) || typeof r.load !== 'object' || r.load === null) return null;
  if (typeof r.load.readers !== 'number' || typeof r.load.cpu !== 'number') return null;
  return r as NodeRecord;
}

export type ClaimAnswer = { ok: true } | { ok: false; reason: 'busy' | 'unavailable'; message: string };

export class ClusterNode implements PathOwnership {
  /** Paths this node holds, and when each was claimed. */
  private readonly owned = new Map<string, number>();
  /** Paths this node pulls, and the node it pulls each from. */
  private readonly pulls = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;
  private readonly startedAt = new Date().toISOString();
  private lastCpu = cpuUsage();
  private lastCpuAt = performance.now();
  private load: NodeLoad = { readers: 0, streams: 0, cpu: 0, bandwidthBps: 0 };
  private nodesCache: { at: number; records: NodeRecord[] } | null = null;
  private downSince: number | null = null;
  private lastBeatError: string | null = null;
  private lastBeatErrorAt = 0;
  private closed = false;
  private readonly offs: (() => void)[] = [];

  constructor(
    private readonly registry: StreamRegistry,
    private readonly sources: SourceManager,
    private readonly store: RedisStore,
    private readonly o: ClusterNodeOptions,
    private readonly urls: NodeUrls,
    private readonly log: Logger,
  ) {}

  get id(): string {
    return this.o.id;
  }

  /** Connects to Redis, registers the node and starts the heartbeat (a Redis that is down is retried). */
  async start(): Promise<void> {
    this.offs.push(
      this.store.on('ready', () => {
        const outage = this.downSince === null ? null : Date.now() - this.downSince;
        this.downSince = null;
        this.log.info('cluster: Redis connected', { node: this.id, ...(outage !== null ? { outageMs: outage, reclaiming: this.owned.size } : {}) });
        void this.heartbeat();
      }),
      this.store.on('down', ({ reason }) => {
        this.downSince ??= Date.now();
        this.log.error('cluster: Redis unreachable — live streams go on, new publishes are refused until it is back', { node: this.id, reason });
      }),
      this.registry.on('publish', (stream) => this.onPublish(stream)),
      this.registry.on('unpublish', ({ stream }) => this.onUnpublish(stream.path)),
    );
    this.registry.setOwnership(this);
    this.sources.setResolver((path) => this.resolve(path));
    await this.store.connect();
    if (!this.store.connected) {
      this.downSince = Date.now();
      this.log.error('cluster: Redis unreachable at start — serving locally, new publishes are refused until it is back', { node: this.id, reason: this.store.lastError });
    }
    await this.heartbeat();
    this.timer = setInterval(() => void this.heartbeat(), this.o.heartbeatMs);
    this.timer.unref();
  }

  // ---- path ownership --------------------------------------------------------------------------

  async claim(path: string): Promise<ClaimAnswer> {
    if (this.closed) return { ok: false, reason: 'unavailable', message: 'the node is shutting down' };
    if (!this.store.connected) return { ok: false, reason: 'unavailable', message: 'the cluster cannot be reached (Redis is down): new publishes are refused until it is back' };
    let holder: string;
    try {
      holder = await this.store.claim(path, this.id, this.o.ttlMs);
    } catch (err) {
      return { ok: false, reason: 'unavailable', message: `the cluster cannot be reached (${describeError(err)}): new publishes are refused until it is back` };
    }
    if (holder === this.id) {
      if (!this.owned.has(path)) this.owned.set(path, Date.now());
      return { ok: true };
    }
    return { ok: false, reason: 'busy', message: `stream "${path}" is being published on node ${holder}` };
  }

  private isPull(path: string): boolean {
    return this.sources.running(path)?.resolved === true;
  }

  private onPublish(stream: Stream): void {
    if (this.owned.has(stream.path) || this.isPull(stream.path)) return;
    // Published without the gate's claim (a configured pull source): claim it now; a path held
    // elsewhere cannot be refused any more, so it is only said.
    void this.claim(stream.path).then((answer) => {
      if (!answer.ok) this.log.error('cluster: a local stream could not claim its path', { path: stream.path, why: answer.message });
    });
  }

  private onUnpublish(path: string): void {
    this.pulls.delete(path);
    if (!this.owned.has(path) || this.registry.get(path)) return;
    this.owned.delete(path);
    this.store.release(path, this.id).catch(() => {
      /* Redis is down: the claim expires by itself */
    });
  }

  // ---- edges -----------------------------------------------------------------------------------

  /** The pull source of a path another node holds (the SourceManager's resolver). */
  private async resolve(path: string): Promise<SourceConfig | null> {
    if (this.closed || !this.store.connected) return null;
    const holder = await this.store.holder(path);
    if (holder === null || holder === this.id) return null;
    const json = await this.store.node(holder);
    const record = json === null ? null : parseRecord(json);
    if (record === null) return null;
    const url = this.pullUrl(record, path);
    if (!url) {
      this.log.warn('cluster: the origin has no URL to pull from', { path, origin: holder, protocol: this.o.pullProtocol });
      return null;
    }
    this.pulls.set(path, holder);
    return { path, url, onDemand: true, lingerMs: this.o.lingerMs, startTimeoutMs: this.o.startTimeoutMs, options: {} };
  }

  private pullUrl(origin: NodeRecord, path: string): string | null {
    const cred = this.o.pullCredentials;
    const query = new URLSearchParams({ [EDGE_QUERY_PARAM]: this.id });
    if (cred?.token) query.set('token', cred.token);
    if (this.o.pullProtocol === 'srt') {
      if (!origin.urls.srt) return null;
      const u = new URL(origin.urls.srt);
      // The MediaMTX form `read:path[:user:pass]:query`, which livegate's SRT listener reads.
      const streamId = cred?.user && cred.pass ? `read:${path}:${cred.user}:${cred.pass}:${query}` : `read:${path}:${query}`;
      u.search = new URLSearchParams({ streamid: streamId, latency: String(this.o.pullLatencyMs) }).toString();
      return u.toString();
    }
    if (!origin.urls.rtmp) return null;
    if (cred?.user && cred.pass) {
      query.set('user', cred.user);
      query.set('pass', cred.pass);
    }
    return `${origin.urls.rtmp.replace(/\/$/, '')}/${path}?${query}`;
  }

  // ---- heartbeat -------------------------------------------------------------------------------

  private heartbeat(): Promise<void> {
    if (this.beating || this.closed) return this.beating ?? Promise.resolve();
    this.beating = this.beat()
      .catch((err: unknown) => {
        // Said once per kind of failure and minute: a Redis that answers slowly fails every beat.
        const error = describeError(err);
        const now = Date.now();
        if (this.store.connected && (error !== this.lastBeatError || now - this.lastBeatErrorAt > 60_000)) {
          this.log.warn('cluster: heartbeat failed', { node: this.id, error });
          this.lastBeatError = error;
          this.lastBeatErrorAt = now;
        }
      })
      .finally(() => (this.beating = null));
    return this.beating;
  }

  private async beat(): Promise<void> {
    this.measure();
    if (!this.store.connected) return;
    await this.store.putNode(this.id, JSON.stringify(this.record()), this.o.ttlMs);
    await this.renewClaims();
    await this.checkPulls();
  }

  private async renewClaims(): Promise<void> {
    const now = Date.now();
    const renew: string[] = [];
    for (const [path, since] of this.owned) {
      const stream = this.registry.get(path);
      if (stream || now - since < UNUSED_CLAIM_MS) renew.push(path);
      else {
        this.owned.delete(path);
        await this.store.release(path, this.id);
      }
    }
    const holders = await this.store.claimAll(renew, this.id, this.o.ttlMs);
    holders.forEach((holder, i) => {
      const path = renew[i]!;
      if (holder === this.id) return;
      // Lost (Redis lost its data and another node was admitted first): two origins must not be, so
      // this one gives the path up.
      this.owned.delete(path);
      const stream = this.registry.get(path);
      this.log.error('cluster: the path is now held by another node; ending the local publish', { path, holder });
      if (stream) {
        stream.publisher.close(`the path is now published on node ${holder}`);
        this.registry.unpublish(stream, `the path is now published on node ${holder}`);
      }
    });
  }

  /** A pull whose origin no longer holds the path is stopped (its readers end and come back). */
  private async checkPulls(): Promise<void> {
    for (const path of [...this.pulls.keys()]) if (!this.sources.running(path)) this.pulls.delete(path);
    const paths = [...this.pulls.keys()];
    const holders = await this.store.holders(paths);
    holders.forEach((holder, i) => {
      const path = paths[i]!;
      const from = this.pulls.get(path);
      if (holder === from) return;
      this.pulls.delete(path);
      this.sources.stopResolved(path, holder === null ? `origin ${from} no longer has the path` : `the path moved from ${from} to ${holder}`);
    });
  }

  private measure(): void {
    const now = performance.now();
    const used = cpuUsage(this.lastCpu);
    const elapsedUs = (now - this.lastCpuAt) * 1000;
    this.lastCpu = cpuUsage();
    this.lastCpuAt = now;
    let readers = 0;
    let bandwidth = 0;
    const streams = this.registry.list();
    for (const s of streams) {
      const n = s.readers().filter((r) => !isInternalReader(r)).length;
      readers += n;
      bandwidth += s.bitrate * 8 * n;
    }
    this.load = {
      readers,
      streams: streams.length,
      cpu: elapsedUs > 0 ? Math.round(((used.user + used.system) / elapsedUs) * 1000) / 1000 : 0,
      bandwidthBps: Math.round(bandwidth),
    };
  }

  private record(): NodeRecord {
    const paths: NodeRecord['paths'] = [];
    for (const s of this.registry.list().slice(0, MAX_RECORD_PATHS)) paths.push({ path: s.path, role: this.isPull(s.path) ? 'edge' : 'origin' });
    return {
      id: this.id,
      urls: this.urls,
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      load: this.load,
      paths,
      pulls: [...this.pulls].map(([path, from]) => ({ path, from })),
    };
  }

  // ---- views -----------------------------------------------------------------------------------

  /** Every node's record (cached for a heartbeat). */
  async nodes(): Promise<NodeRecord[]> {
    const now = performance.now();
    if (this.nodesCache && now - this.nodesCache.at < this.o.heartbeatMs) return this.nodesCache.records;
    const records: NodeRecord[] = [];
    for (const json of await this.store.nodes()) {
      const record = parseRecord(json);
      if (record) records.push(record);
    }
    records.sort((a, b) => a.id.localeCompare(b.id));
    this.nodesCache = { at: now, records };
    return records;
  }

  /**
   * Where an HTTP player of `path` should go when this node does not have it: the HTTP URL of the
   * least-loaded other node that has it live, or null (serve it here: the edge pulls it).
   */
  async redirectTarget(path: string): Promise<string | null> {
    if (!this.store.connected || this.registry.get(path)) return null;
    const candidates = (await this.nodes()).filter((n) => n.id !== this.id && n.urls.http && n.paths.some((p) => p.path === path));
    if (candidates.length === 0) return null;
    candidates.sort((a, b) => a.load.readers - b.load.readers || a.load.cpu - b.load.cpu);
    return candidates[0]!.urls.http;
  }

  /** The edges reading from this node: readers that said they are a cluster node. */
  served(): { path: string; edge: string; reader: string; protocol: string }[] {
    const out: { path: string; edge: string; reader: string; protocol: string }[] = [];
    for (const s of this.registry.list()) {
      for (const r of s.readers()) {
        const edge = r.query ? new URLSearchParams(r.query).get(EDGE_QUERY_PARAM) : null;
        if (edge) out.push({ path: s.path, edge, reader: r.id, protocol: r.protocol });
      }
    }
    return out;
  }

  /** What `GET /api/v1/cluster` shows. */
  async view(): Promise<{
    node: string;
    redis: { connected: boolean; lastError: string | null };
    nodes: (NodeRecord & { self: boolean })[];
    paths: { path: string; node: string }[];
    pulls: { path: string; from: string }[];
    served: { path: string; edge: string; reader: string; protocol: string }[];
  }> {
    const connected = this.store.connected;
    let nodes: NodeRecord[] = [this.record()];
    let paths = [...this.owned.keys()].map((path) => ({ path, node: this.id }));
    if (connected) {
      try {
        this.nodesCache = null;
        nodes = await this.nodes();
        paths = (await this.store.claims()).sort((a, b) => a.path.localeCompare(b.path));
      } catch {
        /* shown from this node's own knowledge */
      }
    }
    return {
      node: this.id,
      redis: { connected, lastError: connected ? null : this.store.lastError },
      nodes: nodes.map((n) => ({ ...n, self: n.id === this.id })),
      paths,
      pulls: [...this.pulls].map(([path, from]) => ({ path, from })),
      served: this.served(),
    };
  }

  /** Releases this node's claims and record (a clean shutdown frees its paths at once). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const off of this.offs) off();
    // The ownership stays: `claim` refuses from now on, so nothing is published without a claim.
    this.sources.setResolver(null);
    await this.beating;
    if (this.store.connected) {
      try {
        await Promise.all([...this.owned.keys()].map((p) => this.store.release(p, this.id)));
        await this.store.deleteNode(this.id);
      } catch {
        /* expires by itself */
      }
    }
    await this.store.close();
  }
}
