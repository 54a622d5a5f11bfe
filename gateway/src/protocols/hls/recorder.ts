/**
 * Recording: the HLS muxer's fMP4 parts (the same bytes HLS clients get) written to disk as a VOD
 * recording per stream — `<dir>/<path>/<date>/<id>/` with `init-N.mp4`, segments `seg-K.m4s` of about
 * `segmentDurationMs` (cut at keyframes) and `index.m3u8` (EVENT while it records, VOD once it ends).
 * Writes are asynchronous and in order; a failed write (disk full, directory removed) ends that
 * recording with a logged reason and never touches the live stream. Retention by age and total size.
 */
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { matchPath } from '../../core/path.js';
import type { OutputLease } from '../../core/stream-outputs.js';
import type { Stream } from '../../core/stream.js';
import type { StreamRegistry } from '../../core/stream-registry.js';
import type { HlsMuxer, HlsPart, HlsSegment, InitVersion } from './hls-muxer.js';

export interface RecordingOptions {
  dir: string;
  /** Paths (patterns) recorded whenever they are live. */
  paths: readonly string[];
  segmentDurationMs: number;
  /** Recordings older than this are deleted (0: kept). */
  maxAgeHours: number;
  /** Finished recordings are deleted oldest first past this total (0: no limit). */
  maxBytes: number;
}

export interface RecordingView {
  id: string;
  path: string;
  state: 'recording' | 'done' | 'failed';
  reason?: string;
  durationSeconds: number;
  bytes: number;
  segments: number;
  playlist: string;
}

/** `20261206-015512-ab12`: sortable, the date in it names its directory. */
function newId(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}-${randomBytes(2).toString('hex')}`;
}
const ID = /^(\d{4})(\d{2})(\d{2})-\d{6}-[0-9a-f]{4}$/;
const dateDir = (id: string): string => {
  const m = ID.exec(id)!;
  return `${m[1]}-${m[2]}-${m[3]}`;
};

interface Written {
  file: string;
  duration: number;
  init: number;
  discontinuity: boolean;
}

class Recording {
  readonly id = newId();
  state: RecordingView['state'] = 'recording';
  reason?: string;
  bytes = 0;
  private readonly written: Written[] = [];
  private parts: HlsPart[] = [];
  private partsDuration = 0;
  private lastSegment: HlsSegment | null = null;
  private init: InitVersion | null = null;
  private initCount = 0;
  private discontinuity = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly listener: (part: HlsPart, segment: HlsSegment) => void;
  readonly dir: string;

  constructor(
    readonly stream: Stream,
    private readonly lease: OutputLease<HlsMuxer>,
    root: string,
    private readonly options: RecordingOptions,
    private readonly log: Logger,
  ) {
    this.dir = join(root, ...stream.path.split('/'), dateDir(this.id), this.id);
    this.listener = (part, segment) => this.onPart(part, segment);
    lease.output.partListeners.add(this.listener);
    this.queue(() => mkdir(this.dir, { recursive: true }).then(() => undefined));
  }

  get durationSeconds(): number {
    return this.written.reduce((n, w) => n + w.duration, 0);
  }

  view(): RecordingView {
    return { id: this.id, path: this.stream.path, state: this.state, ...(this.reason ? { reason: this.reason } : {}), durationSeconds: Math.round(this.durationSeconds * 1000) / 1000, bytes: this.bytes, segments: this.written.length, playlist: `/recordings/${this.stream.path}/${this.id}/index.m3u8` };
  }

  private onPart(part: HlsPart, segment: HlsSegment): void {
    if (this.state !== 'recording') return;
    // A recording starts at a segment's first part (a keyframe).
    if (!this.lastSegment && segment.parts[0] !== part) return;
    if (segment !== this.lastSegment) {
      if (segment.init !== this.init) {
        this.flush();
        this.init = segment.init;
        const n = ++this.initCount;
        const data = segment.init.data;
        this.discontinuity = n > 1;
        this.queue(() => writeFile(join(this.dir, `init-${n}.mp4`), data));
      } else if (this.partsDuration * 1000 >= this.options.segmentDurationMs) {
        this.flush();
      }
      this.lastSegment = segment;
    }
    this.parts.push(part);
    this.partsDuration += part.duration;
  }

  /** Writes what is gathered as one segment file, then the playlist. */
  private flush(): void {
    if (this.parts.length === 0) return;
    const data = Buffer.concat(this.parts.map((p) => p.data));
    const w: Written = { file: `seg-${this.written.length}.m4s`, duration: this.partsDuration, init: this.initCount, discontinuity: this.discontinuity };
    this.discontinuity = false;
    this.parts = [];
    this.partsDuration = 0;
    this.written.push(w);
    this.queue(async () => {
      await writeFile(join(this.dir, w.file), data, { flag: 'wx' });
      this.bytes += data.length;
      await this.writePlaylist(false);
    });
  }

  private writePlaylist(ended: boolean): Promise<void> {
    const target = Math.max(1, Math.ceil(Math.max(0, ...this.written.map((w) => w.duration))));
    const lines = ['#EXTM3U', '#EXT-X-VERSION:7', `#EXT-X-TARGETDURATION:${target}`, `#EXT-X-PLAYLIST-TYPE:${ended ? 'VOD' : 'EVENT'}`, '#EXT-X-INDEPENDENT-SEGMENTS'];
    let init = 0;
    for (const w of this.written) {
      if (w.init !== init) {
        if (init !== 0) lines.push('#EXT-X-DISCONTINUITY');
        lines.push(`#EXT-X-MAP:URI="init-${w.init}.mp4"`);
        init = w.init;
      }
      lines.push(`#EXTINF:${w.duration.toFixed(3)},`, w.file);
    }
    if (ended) lines.push('#EXT-X-ENDLIST');
    return writeFile(join(this.dir, 'index.m3u8'), lines.join('\n') + '\n');
  }

  private queue(work: () => Promise<void>): void {
    this.chain = this.chain.then(async () => {
      if (this.state === 'failed') return;
      try {
        await work();
      } catch (err) {
        this.fail(`write failed: ${describeError(err)}`);
      }
    });
  }

  private fail(reason: string): void {
    if (this.state === 'failed') return;
    this.state = 'failed';
    this.reason = reason;
    this.detach();
    this.log.warn('recording ended', { path: this.stream.path, id: this.id, reason });
  }

  private detach(): void {
    this.lease.output.partListeners.delete(this.listener);
    this.lease.release();
  }

  /** Ends the recording: what is gathered is written and the playlist closed (VOD). */
  stop(reason: string): Promise<void> {
    if (this.state !== 'recording') return this.chain;
    this.flush();
    this.detach();
    this.queue(() => this.writePlaylist(true));
    return (this.chain = this.chain.then(() => {
      if (this.state === 'recording') {
        this.state = 'done';
        this.reason = reason;
        this.log.info('recording ended', { path: this.stream.path, id: this.id, reason, seconds: Math.round(this.durationSeconds) });
      }
    }));
  }
}

export class RecordingManager {
  private readonly active = new Map<Stream, Recording>();
  private readonly recent: Recording[] = [];
  private readonly root: string;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly registry: StreamRegistry,
    private readonly lease: (stream: Stream) => OutputLease<HlsMuxer>,
    private readonly options: RecordingOptions,
    private readonly log: Logger,
  ) {
    this.root = resolve(options.dir);
    registry.on('publish', (stream) => {
      if (options.paths.some((p) => matchPath(p, stream.path))) this.start(stream.path);
    });
    registry.on('unpublish', ({ stream, reason }) => void this.active.get(stream)?.stop(`stream ended: ${reason}`).then(() => this.active.delete(stream)));
    this.timer = setInterval(() => void this.retain(), 60_000);
    this.timer.unref();
  }

  /** Starts recording a live path; the recording, or why not. */
  start(path: string): RecordingView | { error: string; status: number } {
    const stream = this.registry.get(path);
    if (!stream) return { error: `stream "${path}" is not live`, status: 404 };
    const running = this.active.get(stream);
    if (running && running.state === 'recording') return running.view();
    const rec = new Recording(stream, this.lease(stream), this.root, this.options, this.log);
    this.active.set(stream, rec);
    this.recent.push(rec);
    if (this.recent.length > 100) this.recent.shift();
    this.log.info('recording started', { path, id: rec.id, dir: rec.dir });
    return rec.view();
  }

  async stop(path: string): Promise<RecordingView | null> {
    const stream = this.registry.get(path);
    const rec = stream ? this.active.get(stream) : undefined;
    if (!rec || !stream) return null;
    await rec.stop('stopped through the API');
    this.active.delete(stream);
    void this.retain();
    return rec.view();
  }

  /** Recordings on disk (finished ones from their playlists) and those running. */
  async list(): Promise<RecordingView[]> {
    const byId = new Map<string, RecordingView>();
    for (const r of this.recent) byId.set(r.id, r.view());
    for (const { path, id, dir } of await this.scan()) {
      if (byId.has(id)) continue;
      try {
        const playlist = await readFile(join(dir, 'index.m3u8'), 'utf8');
        const durations = [...playlist.matchAll(/#EXTINF:([\d.]+)/g)].map((m) => Number(m[1]));
        let bytes = 0;
        for (const f of await readdir(dir)) bytes += (await stat(join(dir, f))).size;
        byId.set(id, { id, path, state: 'done', durationSeconds: Math.round(durations.reduce((a, b) => a + b, 0) * 1000) / 1000, bytes, segments: durations.length, playlist: `/recordings/${path}/${id}/index.m3u8` });
      } catch {
        // A recording without a playlist (nothing was written): not listed.
      }
    }
    return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** The file a `/recordings/{path}/{id}/{file}` request names, or null (never outside the directory). */
  fileOf(path: string, id: string, file: string): string | null {
    if (!ID.test(id) || !/^(index\.m3u8|init-\d{1,6}\.mp4|seg-\d{1,9}\.m4s)$/.test(file)) return null;
    const full = resolve(this.root, ...path.split('/'), dateDir(id), id, file);
    return full.startsWith(this.root + sep) ? full : null;
  }

  private async scan(): Promise<{ path: string; id: string; dir: string }[]> {
    const out: { path: string; id: string; dir: string }[] = [];
    const walk = async (dir: string, segments: string[], depth: number): Promise<void> => {
      if (depth > 12) return;
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        if (/^\d{4}-\d{2}-\d{2}$/.test(e.name) && segments.length > 0) {
          for (const r of await readdir(join(dir, e.name)).catch(() => [] as string[])) if (ID.test(r)) out.push({ path: segments.join('/'), id: r, dir: join(dir, e.name, r) });
        } else await walk(join(dir, e.name), [...segments, e.name], depth + 1);
      }
    };
    await walk(this.root, [], 0);
    return out;
  }

  /** Deletes finished recordings past the age limit, then the oldest past the size limit. */
  private async retain(): Promise<void> {
    const { maxAgeHours, maxBytes } = this.options;
    if (!maxAgeHours && !maxBytes) return;
    const activeIds = new Set([...this.active.values()].map((r) => r.id));
    const all = (await this.list()).filter((r) => !activeIds.has(r.id) && r.state !== 'recording');
    const now = Date.now();
    let total = all.reduce((n, r) => n + r.bytes, 0);
    for (const r of all) {
      const m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})/.exec(r.id)!;
      const at = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
      const old = maxAgeHours > 0 && now - at > maxAgeHours * 3_600_000;
      const over = maxBytes > 0 && total > maxBytes;
      if (!old && !over) continue;
      const dir = resolve(this.root, ...r.path.split('/'), dateDir(r.id), r.id);
      await rm(dir, { recursive: true, force: true }).catch(() => {});
      total -= r.bytes;
      this.log.info('recording deleted', { path: r.path, id: r.id, reason: old ? `older than ${maxAgeHours} h` : `over ${maxBytes} bytes in all` });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.active.values()].map((r) => r.stop('shutting down')));
    this.active.clear();
  }
}
