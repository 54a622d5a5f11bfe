/**
 * The pull-source lifecycle (core/sources.ts), with a driver scripted by the test (the protocols
 * have their own tests against real cameras): on demand, a reader's admission starts the source and
 * waits for it; a linger after the last client reader stops it (the gateway's own readers do not
 * count); a dropped source is reconnected with backoff and takes its stream over, readers and all; an
 * on-demand source nobody waits for any more is not retried; always-on sources start at once.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { silentLogger } from '../../../gateway/src/core/log.js';
import type { ReaderSink } from '../../../gateway/src/core/reader.js';
import { SourceManager, type SourceConfig, type SourceConnection, type SourceDriver, type SourceSink } from '../../../gateway/src/core/sources.js';
import { StreamRegistry } from '../../../gateway/src/core/stream-registry.js';
import { waitFor } from '../../helpers/wait.js';

const sink: ReaderSink = { start() {}, unit() {}, trackUpdate() {}, metadata() {}, end() {}, backlog: () => 0, drop() {} };

/** A driver whose connections the test drives: `live()` publishes, `drop()` ends one. */
class ScriptedDriver implements SourceDriver {
  readonly schemes = ['test:'];
  opened: { sink: SourceSink; end(reason: string): void; closed: string | null }[] = [];
  failWith: string | null = null;
  open(_config: SourceConfig, s: SourceSink): SourceConnection {
    let finish!: (r: string) => void;
    const ended = new Promise<string>((r) => (finish = r));
    const entry = { sink: s, end: (r: string) => finish(r), closed: null as string | null };
    this.opened.push(entry);
    if (this.failWith) queueMicrotask(() => finish(this.failWith!));
    return { ended, close: (r) => ((entry.closed = r), finish(r)) };
  }
  live(i = this.opened.length - 1): void {
    const e = this.opened[i]!;
    e.sink.publish({ protocol: 'test', remoteAddress: 'cam', close: (r) => e.end(r) });
  }
}

let registry: StreamRegistry;
let manager: SourceManager | null = null;
afterEach(() => manager?.close());

function setup(configs: Partial<SourceConfig>[], driver: ScriptedDriver): SourceManager {
  registry = new StreamRegistry({ allowTakeover: false, publisherIdleTimeoutMs: 60_000, maxBacklogBytes: 1 << 20, stuckTimeoutMs: 5000, gop: { maxBytes: 1 << 20, maxUnits: 1000 } }, silentLogger);
  const full = configs.map((c) => ({ path: 'cam/a', url: 'test://user:pw@cam/a', onDemand: true, lingerMs: 50, startTimeoutMs: 2000, options: {}, ...c }));
  manager = new SourceManager(registry, full, [driver], silentLogger);
  return manager;
}

const read = (path: string) => registry.admit({ action: 'read', protocol: 'test', path, ip: '127.0.0.1', id: 'r' });

test('on demand: the first reader starts the source, is admitted once it is live; a linger after the last client reader it stops', async () => {
  const driver = new ScriptedDriver();
  const m = setup([{}], driver);
  assert.equal(driver.opened.length, 0, 'nothing opened before a reader');
  assert.equal(m.views()[0]!.url, 'test://user:***@cam/a', 'credentials are not shown');
  const admitted = read('cam/a');
  await waitFor(() => driver.opened.length === 1, 1000, 'opened');
  driver.live();
  const decision = await admitted;
  assert.equal(decision.ok, true);
  const stream = registry.get('cam/a')!;
  const client = stream.addReader({ id: 'c', protocol: 'rtsp', remoteAddress: '1.2.3.4' }, sink);
  const internal = stream.addReader({ id: 't', protocol: 'transcoder', remoteAddress: '' }, sink);
  assert.equal(m.views()[0]!.state, 'live');
  client.close();
  await waitFor(() => m.views()[0]!.state === 'idle', 1000, 'stopped after the linger though a transcoder still reads');
  assert.equal(driver.opened[0]!.closed, 'no reader for 50 ms');
  assert.equal(stream.isEnded, true);
  internal.close();
});

test('a dropped source reconnects and takes its stream over: readers stay on the same stream', async () => {
  const driver = new ScriptedDriver();
  const m = setup([{ onDemand: false }], driver);
  await waitFor(() => driver.opened.length === 1, 1000, 'always-on source opened at once');
  driver.live();
  const stream = registry.get('cam/a')!;
  stream.addReader({ id: 'c', protocol: 'rtsp', remoteAddress: '1.2.3.4' }, sink);
  driver.opened[0]!.end('camera gone');
  await waitFor(() => m.views()[0]!.state === 'retrying', 1000, 'retrying');
  assert.equal(m.views()[0]!.lastError, 'camera gone');
  await waitFor(() => driver.opened.length === 2, 2000, 'reconnected after the backoff');
  driver.live();
  assert.equal(registry.get('cam/a'), stream, 'the same stream');
  assert.equal(stream.isEnded, false);
  assert.equal(stream.readerCount, 1);
  assert.equal(m.views()[0]!.connects, 2);
});

test('an on-demand source that fails while nobody waits is not retried; a reader gives up after the start timeout', async () => {
  const driver = new ScriptedDriver();
  driver.failWith = 'connection refused';
  const m = setup([{ startTimeoutMs: 100 }], driver);
  const decision = await read('cam/a');
  assert.equal(decision.ok, false);
  assert.equal(!decision.ok && decision.reason, 'not-found');
  await waitFor(() => m.views()[0]!.state === 'idle', 3000, 'given up');
  const opened = driver.opened.length;
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(driver.opened.length, opened, 'no more attempts');
  assert.equal(m.views()[0]!.lastError, 'connection refused');
});

test('a resolver names sources for unknown paths: asked once for many readers; the source is forgotten when it stops', async () => {
  const driver = new ScriptedDriver();
  const m = setup([], driver);
  let asked = 0;
  m.setResolver(async (path) => {
    asked++;
    return path === 'edge/x' ? { path, url: 'test://origin/edge/x', onDemand: true, lingerMs: 50, startTimeoutMs: 2000, options: {} } : null;
  });
  assert.equal((await read('edge/none')).ok, false, 'a path the resolver does not know is not found');
  const readers = [read('edge/x'), read('edge/x'), read('edge/x')];
  await waitFor(() => driver.opened.length === 1, 1000, 'one source for three readers');
  driver.live();
  assert.ok((await Promise.all(readers)).every((d) => d.ok));
  assert.equal(asked, 2, 'the resolver was asked once for edge/x');
  assert.deepEqual(m.views().map((v) => [v.path, v.resolved, v.state]), [['edge/x', true, 'live']]);
  assert.equal(m.running('edge/x')?.resolved, true);
  await waitFor(() => m.views().length === 0, 1000, 'forgotten after the linger');
  assert.equal(registry.get('edge/x'), undefined);
});

test('a resolved source that drops is retried only while the resolver still names the same URL', async () => {
  const driver = new ScriptedDriver();
  const m = setup([], driver);
  let url: string | null = 'test://origin-a/edge/y';
  m.setResolver(async (path) => (url ? { path, url, onDemand: true, lingerMs: 5000, startTimeoutMs: 2000, options: {} } : null));
  const admitted = read('edge/y');
  await waitFor(() => driver.opened.length === 1, 1000, 'opened');
  driver.live();
  assert.equal((await admitted).ok, true);
  const stream = registry.get('edge/y')!;
  stream.addReader({ id: 'c', protocol: 'http-flv', remoteAddress: '1.2.3.4' }, sink);
  driver.opened[0]!.end('origin hiccup');
  await waitFor(() => driver.opened.length === 2, 2000, 'retried: same origin');
  driver.live();
  assert.equal(registry.get('edge/y'), stream, 'readers stay on the same stream');
  url = 'test://origin-b/edge/y';
  driver.opened[1]!.end('origin gone');
  await waitFor(() => stream.isEnded, 2000, 'the path moved: the stream ends, its readers come back');
  assert.equal(driver.opened.length, 2, 'not retried');
  assert.deepEqual(m.views(), [], 'forgotten');
});

test('stopping a resolved source whose stream another publisher took over leaves that stream alone', async () => {
  const driver = new ScriptedDriver();
  const m = setup([], driver);
  m.setResolver(async (path) => ({ path, url: 'test://origin/edge/z', onDemand: true, lingerMs: 5000, startTimeoutMs: 2000, options: {} }));
  const admitted = read('edge/z');
  await waitFor(() => driver.opened.length === 1, 1000, 'opened');
  driver.live();
  assert.equal((await admitted).ok, true);
  const stream = registry.get('edge/z')!;
  // A local publisher takes the path over (the origin went silent, the claim is this node's now).
  registry.options.allowTakeover = true;
  registry.publish('edge/z', { id: 'local', protocol: 'rtmp', remoteAddress: '5.6.7.8', close() {} });
  m.stopResolved('edge/z', 'origin gone');
  assert.equal(stream.isEnded, false, 'the new publisher goes on');
  assert.equal(stream.publisher.id, 'local');
});
