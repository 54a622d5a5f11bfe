/**
 * The rendition reader (core/rendition-reader.ts) with the Opus → AAC maker: what an FLV/RTMP
 * reader of an Opus stream sees — the AAC track in place of
 * the Opus one (announced before its config is known), no Opus units, the feed's AAC merged into the
 * replayed GOP and then live under back-pressure, and the feed released when the reader goes. The
 * feed is a stand-in here (the real one is tested in aac-feed.test.ts).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { silentLogger } from '../../../gateway/src/core/log.js';
import { makeUnit, type AudioTrack, type MediaUnit, type StreamMetadata, type Track, type VideoTrack } from '../../../gateway/src/core/media-unit.js';
import type { ReaderSink, StreamStart } from '../../../gateway/src/core/reader.js';
import { StreamRegistry } from '../../../gateway/src/core/stream-registry.js';
import type { Stream } from '../../../gateway/src/core/stream.js';
import { addRenditionReader } from '../../../gateway/src/core/rendition-reader.js';
import type { RenditionSource, RenditionSubscriber } from '../../../gateway/src/core/rendition.js';
import { opusToAac } from '../../../gateway/src/transcode/renditions.js';
import { expectedAudioSpecificConfig } from '../../../gateway/src/transcode/opus-to-aac.js';

const video: VideoTrack = { kind: 'video', id: 0, codec: 'h264', config: Buffer.from('01'), width: 2, height: 2 };
const opus: AudioTrack = { kind: 'audio', id: 1, codec: 'opus', config: Buffer.alloc(19), sampleRate: 48000, channels: 2 };
const aacIn: AudioTrack = { kind: 'audio', id: 1, codec: 'aac', config: Buffer.from('1190', 'hex'), sampleRate: 48000, channels: 2 };
const aacOut: AudioTrack = { kind: 'audio', id: 1, codec: 'aac', config: Buffer.from('119056e500', 'hex'), sampleRate: 48000, channels: 2, codecString: 'mp4a.40.2' };

const v = (ms: number, key = false) => makeUnit(video, ms * 90, ms * 90, key, Buffer.alloc(10));
const o = (ms: number) => makeUnit(opus, ms * 90, ms * 90, true, Buffer.alloc(3));
const aac = (ms: number) => makeUnit(aacOut, ms * 90, ms * 90, true, Buffer.alloc(5));

class FakeSink implements ReaderSink {
  started: StreamStart | null = null;
  units: MediaUnit[] = [];
  updates: Track[] = [];
  meta: StreamMetadata[] = [];
  ended: string | null = null;
  pending = 0;
  batches = 0;
  start(info: StreamStart): void {
    this.started = info;
  }
  unit(u: MediaUnit): void {
    this.units.push(u);
  }
  trackUpdate(t: Track): void {
    this.updates.push(t);
  }
  metadata(m: StreamMetadata): void {
    this.meta.push(m);
  }
  end(reason: string): void {
    this.ended = reason;
  }
  backlog(): number {
    return this.pending;
  }
  drop(): void {}
  beginBatch(): void {
    this.batches++;
  }
  endBatch(): void {}
  /** What was sent, as "v0*" (keyframe), "v40", "a20" (AAC), "o20" (Opus: must never appear). */
  get trace(): string[] {
    return this.units.map((u) => `${u.track.kind === 'video' ? 'v' : u.track.codec === 'aac' ? 'a' : 'o'}${u.dts / 90}${u.keyframe && u.track.kind === 'video' ? '*' : ''}`);
  }
}

class FakeFeed implements RenditionSource {
  track: AudioTrack | null = null;
  kept: MediaUnit[] = [];
  readonly subscribers = new Set<RenditionSubscriber>();
  subscribed = 0;
  recent(fromDts: number): MediaUnit[] {
    return this.kept.filter((u) => u.dts >= fromDts);
  }
  subscribe(sub: RenditionSubscriber): () => void {
    this.subscribed++;
    this.subscribers.add(sub);
    return () => this.subscribers.delete(sub);
  }
  configure(track: AudioTrack): void {
    this.track = track;
    for (const s of this.subscribers) s.track(track);
  }
  emit(units: MediaUnit[]): void {
    this.kept.push(...units);
    for (const s of this.subscribers) s.units(units);
  }
}

const MAX_BACKLOG = 1000;
let registry: StreamRegistry;

function setup(tracks: Track[]): { stream: Stream; feed: FakeFeed; attach: (id?: string) => { sink: FakeSink; close: () => void } } {
  registry = new StreamRegistry({ allowTakeover: false, publisherIdleTimeoutMs: 60_000, maxBacklogBytes: MAX_BACKLOG, stuckTimeoutMs: 5000, gop: { maxBytes: 1 << 20, maxUnits: 1000 } }, silentLogger);
  const stream = registry.publish('live/a', { id: 'p', protocol: 'test', remoteAddress: '', close: () => {} });
  for (const t of tracks) stream.setTrack(t);
  const feed = new FakeFeed();
  const attach = (id = 'r1') => {
    const sink = new FakeSink();
    const maker = opusToAac({ bitrate: 128_000, lingerMs: 1000, log: silentLogger });
    const handle = addRenditionReader(stream, { id, protocol: 'http-flv', remoteAddress: '' }, sink, {
      choose: (codec) => (codec === 'opus' ? { from: 'opus', sourceFor: () => feed, placeholder: maker.placeholder, metadata: maker.metadata! } : null),
      maxBacklogBytes: MAX_BACKLOG,
      retryMs: 50,
    });
    return { sink, close: () => handle.close() };
  };
  return { stream, feed, attach };
}

afterEach(() => registry?.closeAll('test over'));

describe('a reader of the Opus → AAC rendition', () => {
  test('non-Opus audio: an ordinary reader, no feed', () => {
    const { stream, feed, attach } = setup([video, aacIn]);
    const { sink } = attach();
    stream.push(v(0, true));
    stream.push(makeUnit(aacIn, 0, 0, true, Buffer.alloc(4)));
    assert.equal(feed.subscribed, 0);
    assert.deepEqual(sink.started!.tracks, [video, aacIn]);
    assert.equal(sink.units.length, 2);
  });

  test('Opus audio: the sink sees an AAC track (with the config the encoder will give), never an Opus unit, and the feed’s AAC', () => {
    const { stream, feed, attach } = setup([video, opus]);
    const { sink } = attach();
    assert.equal(feed.subscribed, 1);
    const announced = sink.started!.tracks.find((t) => t.kind === 'audio') as AudioTrack;
    assert.equal(announced.codec, 'aac', 'FLV header and players know there is audio');
    assert.deepEqual(announced.config, expectedAudioSpecificConfig(opus.channels === 1 ? 1 : 2), 'the sequence header can go out before the first video frame');
    assert.equal(announced.id, opus.id);
    stream.pushMany([v(0, true), o(0), o(20), v(40), o(40)]);
    feed.configure(aacOut);
    assert.deepEqual(sink.updates, [aacOut], 'a config the encoder gives otherwise follows as a track update');
    feed.emit([aac(0), aac(21.333)]);
    stream.push(v(80));
    assert.deepEqual(sink.trace, ['v0*', 'v40', 'a0', 'a21.333', 'v80']);
  });

  test('when the transcoder stops (it failed), the reader asks for a new one a little later; not once closed', async () => {
    const { feed, attach } = setup([video, opus]);
    const a = attach('r1');
    assert.equal(feed.subscribed, 1);
    for (const s of [...feed.subscribers]) {
      feed.subscribers.delete(s);
      s.stopped('transcoder failed');
    }
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(feed.subscribed, 2, 'subscribed again');
    for (const s of [...feed.subscribers]) {
      feed.subscribers.delete(s);
      s.stopped('transcoder failed');
    }
    a.close();
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(feed.subscribed, 2, 'a closed reader does not come back');
  });

  test('a reader joining mid-GOP gets the GOP merged by dts with the kept AAC from its keyframe on', () => {
    const { stream, feed, attach } = setup([video, opus]);
    feed.configure(aacOut);
    feed.kept = [aac(-21.333), aac(0), aac(21.333), aac(42.667), aac(64)];
    stream.pushMany([v(-40), o(-40), v(0, true), o(0), o(20), v(40), o(40), o(60), v(80)]);
    const { sink } = attach();
    assert.deepEqual(sink.started!.tracks.find((t) => t.kind === 'audio'), aacOut, 'a configured feed’s track at once');
    assert.deepEqual(sink.trace, ['v0*', 'a0', 'a21.333', 'v40', 'a42.667', 'a64', 'v80']);
    assert.ok(sink.batches >= 1, 'the replay goes out as one batch');
    // Live: what was already sent is not sent again.
    feed.emit([aac(64), aac(85.333)]);
    assert.deepEqual(sink.trace.slice(-1), ['a85.333']);
  });

  test('live AAC is skipped while the reader is backlogged', () => {
    const { stream, feed, attach } = setup([video, opus]);
    const { sink } = attach();
    stream.push(v(0, true));
    feed.configure(aacOut);
    feed.emit([aac(0)]);
    sink.pending = MAX_BACKLOG + 1;
    feed.emit([aac(21.333), aac(42.667)]);
    sink.pending = 0;
    feed.emit([aac(64)]);
    assert.deepEqual(sink.trace, ['v0*', 'a0', 'a64']);
  });

  test('no AAC before the reader’s first keyframe', () => {
    const { stream, feed, attach } = setup([video, opus]);
    const { sink } = attach();
    feed.configure(aacOut);
    feed.emit([aac(0)]);
    stream.push(v(40, true));
    feed.emit([aac(21.333), aac(42.667)]);
    assert.deepEqual(sink.trace, ['v40*', 'a42.667']);
  });

  test('closing the reader, or the end of the stream, lets go of the feed', () => {
    const { stream, feed, attach } = setup([video, opus]);
    const first = attach('r1');
    attach('r2');
    assert.equal(feed.subscribers.size, 2);
    first.close();
    assert.equal(feed.subscribers.size, 1);
    registry.unpublish(stream, 'publisher left');
    assert.equal(feed.subscribers.size, 0);
  });

  test('Opus audio that appears after the reader attached is announced as AAC and fed', () => {
    const { stream, feed, attach } = setup([video]);
    const { sink } = attach();
    assert.equal(feed.subscribed, 0);
    stream.setTrack(opus);
    assert.equal(feed.subscribed, 1);
    assert.equal(sink.updates.length, 1);
    assert.equal((sink.updates[0] as AudioTrack).codec, 'aac');
    stream.pushMany([v(0, true), o(0)]);
    feed.configure(aacOut);
    feed.emit([aac(0)]);
    assert.deepEqual(sink.trace, ['v0*', 'a0']);
  });

  test('audio that turns from Opus into AAC passes as it is, and the feed is released', () => {
    const { stream, feed, attach } = setup([video, opus]);
    const { sink } = attach();
    stream.push(v(0, true));
    stream.setTrack(aacIn);
    assert.equal(feed.subscribers.size, 0);
    assert.deepEqual(sink.updates.at(-1), aacIn);
    stream.push(makeUnit(aacIn, 90 * 20, 90 * 20, true, Buffer.alloc(4)));
    assert.deepEqual(sink.trace, ['v0*', 'a20']);
  });

  test('onMetaData that names the Opus audio names AAC instead (once per metadata object)', () => {
    const { stream, attach } = setup([video, opus]);
    const meta = { audiocodecid: 1332770163, width: 2 };
    stream.setMetadata(meta);
    const a = attach('r1').sink;
    const b = attach('r2').sink;
    assert.equal(a.started!.metadata!.audiocodecid, 10);
    assert.equal(a.started!.metadata!.width, 2);
    assert.equal(a.started!.metadata, b.started!.metadata, 'the same rewritten object for every reader (its FLV body is encoded once)');
  });
});

describe('a reader that wants AAC, through Stream.addReader', () => {
  test('a hand-over from an AAC publisher to an Opus one keeps its sound: the AAC rendition of the new audio', () => {
    const feed = new FakeFeed();
    const real = opusToAac({ bitrate: 128_000, lingerMs: 1000, log: silentLogger });
    let made = 0;
    const maker = { from: real.from, to: real.to, placeholder: real.placeholder, metadata: real.metadata!, make: () => (made++, feed as unknown as ReturnType<typeof real.make>) };
    registry = new StreamRegistry(
      { allowTakeover: true, publisherIdleTimeoutMs: 60_000, maxBacklogBytes: MAX_BACKLOG, stuckTimeoutMs: 5000, gop: { maxBytes: 1 << 20, maxUnits: 1000 }, renditions: [maker] },
      silentLogger,
    );
    const stream = registry.publish('live/h', { id: 'rtmp', protocol: 'rtmp', remoteAddress: '', close: () => {} });
    stream.setTrack(video);
    stream.setTrack(aacIn);
    const sink = new FakeSink();
    stream.addReader({ id: 'flv', protocol: 'http-flv', remoteAddress: '' }, sink, { audio: ['aac', 'mp3'] });
    stream.pushMany([v(0, true), makeUnit(aacIn, 0, 0, true, Buffer.alloc(4))]);
    assert.equal(made, 0, 'AAC plays as it is: no rendition');
    registry.publish('live/h', { id: 'whip', protocol: 'whip', remoteAddress: '', close: () => {} });
    stream.setTrack(video);
    stream.setTrack(opus);
    assert.equal(made, 1, 'the Opus audio is turned into AAC');
    assert.equal(feed.subscribers.size, 1);
    assert.equal((sink.updates.at(-1) as AudioTrack).codec, 'aac', 'announced as AAC');
    stream.pushMany([v(1000, true), o(1000)]);
    feed.configure(aacOut);
    feed.emit([aac(1000)]);
    const after = sink.units.slice(2);
    assert.ok(after.every((u) => u.track.codec !== 'opus'), 'no Opus unit reaches the reader');
    assert.ok(after.some((u) => u.track.codec === 'aac'), 'the rendition’s AAC does');
  });
});
