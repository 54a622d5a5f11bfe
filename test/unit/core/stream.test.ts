/** Stream fan-out, GOP cache, reader back-pressure and the registry's publisher rules. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StreamBusyError } from '../../../gateway/src/core/errors.js';
import { silentLogger } from '../../../gateway/src/core/log.js';
import { makeUnit, type AudioTrack, type MediaUnit, type Track, type VideoTrack } from '../../../gateway/src/core/media-unit.js';
import type { ReaderSink, StreamStart } from '../../../gateway/src/core/reader.js';
import { StreamRegistry, normalizePath } from '../../../gateway/src/core/stream-registry.js';

const video: VideoTrack = { kind: 'video', id: 0, codec: 'h264', config: Buffer.from('01'), width: 2, height: 2 };
const audio: AudioTrack = { kind: 'audio', id: 1, codec: 'aac', config: Buffer.from('1188', 'hex'), sampleRate: 48000, channels: 1 };

class FakeSink implements ReaderSink {
  started: StreamStart | null = null;
  units: MediaUnit[] = [];
  tracks: Track[] = [];
  ended: string | null = null;
  dropped: string | null = null;
  pending = 0;
  start(info: StreamStart): void {
    this.started = info;
  }
  unit(u: MediaUnit): void {
    this.units.push(u);
  }
  trackUpdate(t: Track): void {
    this.tracks.push(t);
  }
  metadata(): void {}
  end(reason: string): void {
    this.ended = reason;
  }
  backlog(): number {
    return this.pending;
  }
  drop(reason: string): void {
    this.dropped = reason;
  }
}

const OPTIONS = {
  allowTakeover: false,
  publisherIdleTimeoutMs: 60_000,
  maxBacklogBytes: 1000,
  stuckTimeoutMs: 50,
  gop: { maxBytes: 1 << 20, maxUnits: 100 },
};

function setup(opts = OPTIONS) {
  const registry = new StreamRegistry(opts, silentLogger);
  let closed = '';
  const stream = registry.publish('live/a', { id: 'p1', protocol: 'test', remoteAddress: 'x', close: (r) => (closed = r) });
  stream.setTrack(video);
  stream.setTrack(audio);
  return { registry, stream, closed: () => closed };
}

const v = (ms: number, key: boolean, size = 10) => makeUnit(video, ms * 90, ms * 90, key, Buffer.alloc(size));
const a = (ms: number) => makeUnit(audio, ms * 90, ms * 90, true, Buffer.alloc(4));

describe('Stream', () => {
  test('a late reader starts with the cached GOP, keyframe first; units are shared, not copied', () => {
    const { stream, registry } = setup();
    const early = new FakeSink();
    stream.addReader({ id: 'r0', protocol: 't', remoteAddress: '' }, early);
    const units = [a(0), v(0, true), a(20), v(33, false), v(66, true), a(70), v(100, false)];
    for (const u of units) stream.push(u);
    const late = new FakeSink();
    stream.addReader({ id: 'r1', protocol: 't', remoteAddress: '' }, late);
    assert.deepEqual(late.started?.tracks.map((t) => t.codec), ['h264', 'aac']);
    assert.deepEqual(late.units, [units[4], units[5], units[6]]);
    // The early reader skipped the audio before the first keyframe, then got everything.
    assert.deepEqual(early.units, units.slice(1));
    assert.equal(late.units[0]!.data, early.units[3]!.data, 'the same Buffer reaches every reader');
    registry.closeAll('done');
  });

  test('a reader over its backlog skips to the next keyframe; if stuck it is dropped; others are unaffected', async () => {
    const { stream, registry } = setup();
    const slow = new FakeSink();
    const fast = new FakeSink();
    stream.addReader({ id: 'slow', protocol: 't', remoteAddress: '' }, slow);
    stream.addReader({ id: 'fast', protocol: 't', remoteAddress: '' }, fast);
    stream.push(v(0, true));
    slow.pending = 5000;
    stream.push(v(33, false));
    stream.push(a(40));
    slow.pending = 0;
    stream.push(v(66, false)); // not a keyframe: still skipping
    stream.push(v(100, true)); // resumes here
    assert.deepEqual(slow.units.map((u) => u.dts / 90), [0, 100]);
    assert.equal(fast.units.length, 5);
    slow.pending = 5000;
    stream.push(v(133, false));
    await new Promise((r) => setTimeout(r, 60));
    stream.push(v(166, true));
    assert.match(slow.dropped ?? '', /slow reader/);
    assert.equal(stream.readerCount, 1);
    assert.equal(fast.units.length, 7);
    registry.closeAll('done');
  });

  test('unpublish ends every reader; the path is free again', () => {
    const { stream, registry } = setup();
    const r = new FakeSink();
    stream.addReader({ id: 'r', protocol: 't', remoteAddress: '' }, r);
    registry.unpublish(stream, 'publisher left');
    assert.equal(r.ended, 'publisher left');
    assert.equal(registry.get('live/a'), undefined);
    assert.ok(registry.publish('live/a', { id: 'p2', protocol: 'test', remoteAddress: 'x', close: () => {} }));
    registry.closeAll('done');
  });

  test('a second publisher is refused, or takes over when allowed: the readers stay and carry on with it', () => {
    const { registry, stream } = setup();
    stream.push(v(0, true));
    assert.throws(() => registry.publish('live/a', { id: 'p2', protocol: 't', remoteAddress: '', close: () => {} }), StreamBusyError);
    registry.closeAll('done');
    const t = setup({ ...OPTIONS, allowTakeover: true });
    const r = new FakeSink();
    t.stream.addReader({ id: 'r', protocol: 't', remoteAddress: '' }, r);
    t.stream.push(v(0, true));
    const next = t.registry.publish('live/a', { id: 'p2', protocol: 't', remoteAddress: '', close: () => {} });
    assert.equal(t.closed(), 'taken over by another publisher');
    assert.equal(r.ended, null, 'the reader is not ended');
    assert.equal(next, t.stream, 'the same stream goes on');
    assert.equal(t.registry.get('live/a'), next);
    assert.equal(next.publisher.id, 'p2');
    t.registry.closeAll('done');
  });

  test('a hand-over: the old publisher\'s last units reach readers, its late unpublish is ignored, new times run on, readers restart on a keyframe', async () => {
    const registry = new StreamRegistry({ ...OPTIONS, takeoverAfterSilenceMs: 100 }, silentLogger);
    const old = { id: 'old', protocol: 'srt', remoteAddress: '', close: (_r: string) => {} };
    const stream = registry.publish('live/h', old);
    const flushed = makeUnit(video, 1000 * 90, 1000 * 90, false, Buffer.alloc(3));
    old.close = (reason) => {
      // What an ingest does as it closes: push what it still held, then unpublish itself.
      stream.push(flushed);
      registry.unpublish(stream, reason, old);
    };
    stream.setTrack(video);
    stream.setTrack(audio);
    const r = new FakeSink();
    stream.addReader({ id: 'r', protocol: 't', remoteAddress: '' }, r);
    stream.push(v(900, true));
    stream.push(a(950));
    const silentSince = performance.now();
    assert.throws(() => registry.publish('live/h', { id: 'early', protocol: 't', remoteAddress: '', close: () => {} }), StreamBusyError, 'still protected');
    await new Promise((res) => setTimeout(res, 120));
    const events: string[] = [];
    registry.on('takeover', (e) => events.push(`${e.previous.id}→${e.stream.publisher.id}`));
    const next = registry.publish('live/h', { id: 'new', protocol: 'rtmp', remoteAddress: '', close: () => {} });
    assert.equal(next, stream);
    assert.deepEqual(events, ['old→new']);
    assert.equal(r.units.at(-1), flushed, 'what the old publisher held still reached the reader');
    assert.equal(stream.isEnded, false, 'its unpublish did nothing');
    registry.unpublish(stream, 'late close of the old session', old);
    assert.equal(stream.isEnded, false, 'nor does a later one');
    assert.deepEqual(stream.tracks, [], 'the new publisher announces its own tracks');
    // The new publisher starts its clock at 0, with a non-keyframe, then a keyframe.
    stream.setTrack(video);
    const received = r.units.length;
    const now = performance.now();
    stream.push(makeUnit(video, 0, 0, false, Buffer.alloc(2), now));
    assert.equal(r.units.length, received, 'readers wait for the new publisher\'s keyframe');
    stream.push(makeUnit(video, 3000, 3000, true, Buffer.alloc(2), now));
    const first = r.units.at(-1)!;
    const expected = 1000 * 90 + (now - silentSince) * 90;
    assert.ok(first.keyframe && Math.abs(first.dts - 3000 - expected) < 15 * 90, `time runs on from the last unit plus the silence: ${first.dts} ≈ ${expected + 3000}`);
    assert.equal(first.pts - first.dts, 0);
    stream.push(makeUnit(audio, 3500, 3500, true, Buffer.alloc(2), now));
    assert.equal(r.units.at(-1)!.dts - first.dts, 500, 'one shift for every track');
    registry.closeAll('done');
  });

  test('a reader is told which tracks its protocol cannot carry; the stream shows them for that reader', () => {
    const { stream, registry } = setup();
    class NoAudio extends FakeSink {
      omits(t: Track): string | null {
        return t.kind === 'audio' ? `no ${t.codec} here` : null;
      }
    }
    const r = new NoAudio();
    stream.addReader({ id: 'r', protocol: 'x', remoteAddress: '' }, r);
    stream.addReader({ id: 'all', protocol: 'y', remoteAddress: '' }, new FakeSink());
    const states = stream.readerStates();
    assert.deepEqual(states.find((s) => s.id === 'r')?.omittedTracks, [{ id: 1, kind: 'audio', codec: 'aac', reason: 'no aac here' }]);
    assert.deepEqual(states.find((s) => s.id === 'all')?.omittedTracks, []);
    registry.closeAll('done');
  });

  test('an idle publisher is closed by the registry', async () => {
    const t = setup({ ...OPTIONS, publisherIdleTimeoutMs: 10 });
    await new Promise((r) => setTimeout(r, 1200));
    assert.match(t.closed(), /idle/);
    assert.equal(t.registry.get('live/a'), undefined);
    t.registry.closeAll('done');
  });

  test('a publisher that makes keyframes on demand is asked for one by a reader with nothing fresh to start on', async () => {
    const registry = new StreamRegistry(OPTIONS, silentLogger);
    const asked: string[] = [];
    const stream = registry.publish('live/k', { id: 'p', protocol: 'whip', remoteAddress: '', close: () => {}, requestKeyframe: (why) => void asked.push(why) });
    stream.setTrack(video);
    stream.addReader({ id: 'first', protocol: 't', remoteAddress: '' }, new FakeSink());
    assert.deepEqual(asked, ['new reader first'], 'no GOP cached yet');
    const key = makeUnit(video, 0, 0, true, Buffer.alloc(10), performance.now());
    stream.push(key);
    const fresh = new FakeSink();
    stream.addReader({ id: 'fresh', protocol: 't', remoteAddress: '' }, fresh);
    assert.deepEqual(fresh.units, [key], 'a fresh GOP is replayed');
    assert.equal(asked.length, 1);
    // The same GOP, 2.5 s old (a browser that sends keyframes only when asked).
    const old = makeUnit(video, 90, 90, true, Buffer.alloc(10), performance.now() - 2500);
    stream.push(old);
    const late = new FakeSink();
    stream.addReader({ id: 'late', protocol: 't', remoteAddress: '' }, late);
    assert.deepEqual(late.units, [], 'a stale GOP is not replayed');
    assert.deepEqual(asked, ['new reader first', 'new reader late']);
    stream.push(v(200, true));
    assert.equal(late.units.length, 1, 'the reader starts on the next keyframe');
    registry.closeAll('done');
  });

  test('GOP cache is dropped when it passes its size limit', () => {
    const t = setup({ ...OPTIONS, gop: { maxBytes: 100, maxUnits: 100 } });
    t.stream.push(v(0, true, 50));
    t.stream.push(v(33, false, 60));
    assert.deepEqual(t.stream.gopCacheSize, { units: 0, bytes: 0 });
    t.stream.push(v(66, true, 20));
    assert.deepEqual(t.stream.gopCacheSize, { units: 1, bytes: 20 });
    t.registry.closeAll('done');
  });
});

test('normalizePath', () => {
  assert.equal(normalizePath('/live//cam1/'), 'live/cam1');
  for (const bad of ['', '/', 'live/../x', 'a/./b', 'live/ca m', 'x'.repeat(300)]) assert.equal(normalizePath(bad), null, bad);
});
