/**
 * `GET /api/v1/events`: the live streams as server-sent events. An event `streams` (the same views
 * as `GET /api/v1/streams`) goes out at once, on every publish, take-over and end, and every
 * `interval` ms (default 2000, at least 500) for bitrates and reader counts. `?path=` narrows it to
 * one path: a player waiting for its stream to go live learns it at once, without polling.
 */
import { apiAllowed } from '../http/api-access.js';
import { sendProblem } from '../http/problem.js';
import type { ServerResponse } from 'node:http';
import { normalizePath, type StreamRegistry } from '../core/stream-registry.js';
import type { HttpServer } from '../http/http-server.js';
import { streamView } from './streams-api.js';

/** Event-stream clients at most; more get 503 (each is one socket and a timer). */
const MAX_CLIENTS = 10_000;
/** How long one serialisation of a view serves the watchers whose timers fire (their figures may be that old). */
const REUSE_MS = 250;

interface Watcher {
  res: ServerResponse;
  path: string | null;
  timer: ReturnType<typeof setInterval>;
}

export function registerEventsApi(http: HttpServer, registry: StreamRegistry): () => void {
  const watchers = new Set<Watcher>();
  let pending: ReturnType<typeof setTimeout> | undefined;

  /*
   * One serialisation per view, shared by every watcher of it: the event text for the full list (key
   * '') or one path is kept for REUSE_MS, and dropped on every change, so ten thousand watchers cost a
   * few JSON.stringify calls per second, not one each per tick.
   */
  const texts = new Map<string, { text: string; at: number }>();
  const eventText = (path: string | null): string => {
    const key = path ?? '';
    const now = performance.now();
    const kept = texts.get(key);
    if (kept && now - kept.at < REUSE_MS) return kept.text;
    const streams = (path ? [registry.get(path)].filter((s) => s !== undefined) : registry.list()).map((s) => streamView(s));
    const text = `event: streams\ndata: ${JSON.stringify({ streams })}\n\n`;
    if (texts.size >= 1024) texts.clear(); // paths watched once and no more: never a growing map
    texts.set(key, { text, at: now });
    return text;
  };
  const send = (w: Watcher): void => {
    w.res.write(eventText(w.path));
  };
  // Changes that come together (a publish and its first tracks) go out as one event.
  const changed = (): void => {
    texts.clear();
    pending ??= setTimeout(() => {
      texts.clear();
      pending = undefined;
      for (const w of watchers) send(w);
    }, 20);
  };
  registry.on('publish', changed);
  registry.on('unpublish', changed);
  registry.on('takeover', changed);

  http.route('GET', '/api/v1/events', async (req, res, _params, url) => {
    if (watchers.size >= MAX_CLIENTS) return sendProblem(res, 503, 'too many event-stream clients', { 'Retry-After': '10' });
    const rawPath = url.searchParams.get('path');
    const path = rawPath === null ? null : normalizePath(rawPath);
    if (rawPath !== null && path === null) return sendProblem(res, 400, 'bad path');
    if (!(await apiAllowed(registry, req, res, url, path))) return;
    if (res.destroyed) return;
    const interval = Math.max(500, Number(url.searchParams.get('interval')) || 2000);
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    res.write(`retry: 2000\n\n`);
    const w: Watcher = { res, path, timer: setInterval(() => send(w), interval) };
    watchers.add(w);
    send(w);
    const end = (): void => {
      clearInterval(w.timer);
      watchers.delete(w);
    };
    req.on('close', end);
    res.on('error', end);
  });

  return () => {
    clearTimeout(pending);
    registry.off('publish', changed);
    registry.off('unpublish', changed);
    registry.off('takeover', changed);
    for (const w of watchers) {
      clearInterval(w.timer);
      w.res.end();
    }
    watchers.clear();
  };
}
