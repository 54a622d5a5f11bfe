/**
 * The cluster's shared state in Redis, and nothing else: node records and path claims, each a key
 * with a TTL. A claim is taken or renewed by one atomic script (set if absent, or extend if it is
 * already this node's), and released only by its holder, so two nodes can never both hold a path and
 * a dead node's claims are free once their TTL has run out. Plain keys, GET/SET/PEXPIRE/DEL/SCAN and
 * EVAL: any Redis 6+ works, managed ones included (ElastiCache, Memorystore, Azure Cache, Upstash).
 *
 * Every command fails fast while Redis is unreachable (no offline queue, a command timeout), so that
 * callers can fail closed at once instead of hanging; the client reconnects by itself.
 */
import { Redis } from 'ioredis';
import { TypedEmitter } from '../core/events.js';

/** Takes `KEYS[1]` for `ARGV[1]` for `ARGV[2]` ms if free, extends it if already its; returns the holder. */
const CLAIM = `
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return holder`;

/** Deletes `KEYS[1]` only if `ARGV[1]` holds it. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const MAX_RECORD_BYTES = 256 * 1024;
const SCAN_BATCH = 500;

export type StoreEvents = {
  /** Connected (again): claims should be re-established. */
  ready: undefined;
  /** The connection was lost or could not be made. */
  down: { reason: string };
};

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  /** A command not answered within this long fails (ms). */
  commandTimeoutMs: number;
}

export class RedisStore extends TypedEmitter<StoreEvents> {
  private readonly redis: Redis;
  private up = false;
  private closed = false;

  constructor(private readonly o: RedisStoreOptions) {
    super();
    this.redis = new Redis(o.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: o.commandTimeoutMs,
      connectTimeout: Math.max(1000, o.commandTimeoutMs * 2),
      // Reconnect for ever, quickly at first: an outage must end as soon as Redis is back.
      retryStrategy: (times) => Math.min(100 * times, 1000),
      enableReadyCheck: true,
    });
    this.redis.on('ready', () => {
      this.up = true;
      this.emit('ready', undefined);
    });
    this.redis.on('error', (err: Error) => {
      if (this.up || !this.closed) this.markDown(err.message);
    });
    this.redis.on('close', () => this.markDown('connection closed'));
  }

  private markDown(reason: string): void {
    if (this.closed) return;
    const wasUp = this.up;
    this.up = false;
    if (wasUp) this.emit('down', { reason });
    else if (reason !== 'connection closed') this.lastError = reason;
  }

  /** The last connection error while down (for the API). */
  lastError: string | null = null;

  get connected(): boolean {
    return this.up;
  }

  /** Starts connecting; resolves when connected or the first attempt failed (it goes on trying). */
  async connect(): Promise<void> {
    try {
      await this.redis.connect();
    } catch (err) {
      this.lastError = err instanceof Error ? err.message : String(err);
    }
  }

  private key(kind: 'node' | 'path', name: string): string {
    return `${this.o.keyPrefix}${kind}:${name}`;
  }

  /** Takes or renews a path claim; resolves with the node that holds it afterwards. */
  async claim(path: string, node: string, ttlMs: number): Promise<string> {
    return String(await this.redis.eval(CLAIM, 1, this.key('path', path), node, String(ttlMs)));
  }

  /** Takes or renews many claims in one round trip; the holder of each, in order. */
  async claimAll(paths: readonly string[], node: string, ttlMs: number): Promise<string[]> {
    if (paths.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const p of paths) pipeline.eval(CLAIM, 1, this.key('path', p), node, String(ttlMs));
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, value]) => {
      if (err) throw err;
      return String(value);
    });
  }

  async release(path: string, node: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key('path', path), node);
  }

  /** The node holding `path`, or null. */
  async holder(path: string): Promise<string | null> {
    return this.redis.get(this.key('path', path));
  }

  /** Holders of many paths in one round trip (null: free). */
  async holders(paths: readonly string[]): Promise<(string | null)[]> {
    if (paths.length === 0) return [];
    return this.redis.mget(paths.map((p) => this.key('path', p)));
  }

  async putNode(id: string, record: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.key('node', id), record, 'PX', ttlMs);
  }

  async deleteNode(id: string): Promise<void> {
    await this.redis.del(this.key('node', id));
  }

  /** One node's record (JSON), or null when it has expired. */
  async node(id: string): Promise<string | null> {
    const v = await this.redis.get(this.key('node', id));
    return v !== null && v.length <= MAX_RECORD_BYTES ? v : null;
  }

  /** Every node record (JSON). */
  async nodes(): Promise<string[]> {
    const keys = await this.scan(this.key('node', '*'));
    if (keys.length === 0) return [];
    return (await this.redis.mget(keys)).filter((v): v is string => v !== null && v.length <= MAX_RECORD_BYTES);
  }

  /** Every claimed path and its holder. */
  async claims(): Promise<{ path: string; node: string }[]> {
    const keys = await this.scan(this.key('path', '*'));
    if (keys.length === 0) return [];
    const holders = await this.redis.mget(keys);
    const prefix = this.key('path', '');
    const out: { path: string; node: string }[] = [];
    keys.forEach((k, i) => {
      const node = holders[i];
      if (node) out.push({ path: k.slice(prefix.length), node });
    });
    return out;
  }

  private async scan(match: string): Promise<string[]> {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_BATCH);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0' && out.length < 100_000);
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.up = false;
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
