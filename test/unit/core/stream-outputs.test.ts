/**
 * The stream's one fan-out: per-stream outputs (start on first use, shared, linger, stop with the
 * stream) and renditions (a reader says which audio codecs it plays; the stream gives it the
 * rendition, made once and shared, or the source's audio as it is).
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { silentLogger } from '../../../gateway/src/core/log.js';
import { makeUnit, type AudioTrack, type MediaUnit, type Track, type VideoTrack } from '../../../gateway/src/core/media-unit.js';
import type { ReaderSink, StreamStart } from '../../../gateway/src/core/reader.js';
import type { AudioRendition, RenditionMaker, RenditionSubscriber, RenditionView } from '../../../gateway/src/core/rendition.js';
import { StreamRegistry } from '../../../gateway/src/core/stream-registry.js';
import type { Stream } from '../../../gateway/src/core/stream.js';
import type { OutputKind } from '../../../gateway/src/core/stream-outputs.js';
import { sleep } from '../../helpers/wait.js';

const video: VideoTrack = { kind: 'video', id: 0, codec: 'h264', config: Buffer.from('01'), width: 2, height: 2 };
const aac: AudioTrack = { kind: 'audio', id: 1, codec: 'aac', config: Buffer.from('1190', 'hex'), sampleRate: 48000, channels: 2 };
const opus: AudioTrack = { kind: 'audio', id: 1, codec: 'opus', config: null, sampleRate: 48000, channels: 2 };

class Sink implements ReaderSink {
  started: StreamStart | null = null;
  units: MediaUnit[] = [];
  ended: string | null = null;
  start(info: StreamStart): void {
    this.started = info;
  }
  unit(u: MediaUnit): void {
    this.units.push(u);
  }
  trackUpdate(): void {}
  metadata(): void {}
  end(reason: string): void {
    this.ended = reason;
  }
  backlog(): number {
    return 0;
  }
  drop(): void {}
}

/** An AAC → Opus rendition that turns each AAC unit into an Opus unit of the same time. */
class FakeRendition implements AudioRendition {
  readonly from = 'aac' as const;
  readonly to = 'opus' as const;
  readonly subscribers = new Set<RenditionSubscriber>();
  track: AudioTrack | null = opus;
  isClosed = false;
  running = false;
  delayMs = 25;
  private off: (() => void) | null = null;
  constructor(private readonly stream: Stream) {}
  recent(): MediaUnit[] {
    return [];
  }
  subscribe(sub: RenditionSubscriber): () => void {
    this.subscribers.add(sub);
    if (!this.running) {
      this.running = true;
      const sink = new Sink();
      sink.unit = (u) => {
        if (u.track.codec === 'aac') for (const s of this.subscribers) s.units([makeUnit(opus, u.dts, u.pts, true, Buffer.from('op'), u.receivedAt)]);
      };
      const h = this.stream.addReader({ id: 'fake-transcoder', protocol: 'transcoder', remoteAddress: '' }, sink);
      this.off = () => h.close();
    }
    return () => {
      this.subscribers.delete(sub);
      if (this.subscribers.size === 0) {
        this.isClosed = true;
        this.running = false;
        this.off?.();
      }
    };
  }
  view(): RenditionView {
    return { from: this.from, to: this.to, readers: this.subscribers.size, framesIn: 0, framesOut: 0 };
  }
}

let registry: StreamRegistry;
afterEach(() => registry?.closeAll('test over'));

function live(tracks: Track[], makers: RenditionMaker[] = []): { stream: Stream; made: FakeRendition[] } {
  const made: FakeRendition[] = [];
  const renditions = makers.length > 0 ? makers : [{ from: 'aac', to: 'opus', make: (s: Stream) => (made.push(new FakeRendition(s)), made.at(-1)!), placeholder: () => opus } satisfies RenditionMaker];
  registry = new StreamRegistry({ allowTakeover: false, publisherIdleTimeoutMs: 60_000, maxBacklogBytes: 1 << 20, stuckTimeoutMs: 5000, gop: { maxBytes: 1 << 20, maxUnits: 1000 }, renditions }, silentLogger);
  const stream = registry.publish('live/o', { id: 'p', protocol: 'test', remoteAddress: '', close: () => {} });
  for (const t of tracks) stream.setTrack(t);
  return { stream, made };
}

test('an output starts with its first user, is shared, sees the cached GOP, and stops with its last (linger 0)', () => {
  const { stream } = live([video]);
  stream.push(makeUnit(video, 0, 0, true, Buffer.from('k')));
  let made = 0;
  const stopped: string[] = [];
  const kind: OutputKind<Sink> = { name: 'mux', make: () => (made++, new Sink()), lingerMs: 0, stopped: (_o, reason) => stopped.push(reason) };
  const a = stream.outputs.use(kind);
  const b = stream.outputs.use(kind);
  assert.equal(made, 1);
  assert.equal(a.output, b.output, 'one output for both users');
  assert.equal(a.output.units.length, 1, 'it got the cached keyframe');
  assert.deepEqual(stream.readers().map((r) => `${r.protocol} ${r.id}`), ['mux mux/live/o']);
  assert.deepEqual(stream.outputViews(), [{ name: 'mux', users: 2, lingering: false }]);
  a.release();
  a.release(); // idempotent
  assert.equal(stream.outputViews()[0]!.users, 1);
  b.release();
  assert.deepEqual(stream.outputViews(), []);
  assert.equal(stream.readerCount, 0, 'detached from the stream');
  assert.deepEqual(stopped, ['no more users']);
  stream.outputs.use(kind).release();
  assert.equal(made, 2, 'a new output after the last one stopped');
});

test('an output lingers after its last user; a new user in time gets the same one; the stream ending stops it', async () => {
  const { stream } = live([video]);
  const stopped: string[] = [];
  const kind: OutputKind<Sink> = { name: 'hls', make: () => new Sink(), lingerMs: 40, stopped: (_o, reason) => stopped.push(reason) };
  const first = stream.outputs.use(kind);
  first.release();
  assert.deepEqual(stream.outputViews(), [{ name: 'hls', users: 0, lingering: true }]);
  const again = stream.outputs.use(kind);
  assert.equal(again.output, first.output, 'taken again within the linger');
  again.release();
  await sleep(80);
  assert.deepEqual(stopped, ['no more users']);
  const last = stream.outputs.use(kind);
  registry.closeAll('publisher gone');
  assert.deepEqual(stopped, ['no more users', 'stream ended: publisher gone']);
  last.release(); // after the end: nothing to do
});

test('a reader that plays Opus gets the AAC stream as its Opus rendition, made once for all such readers, with its delay', () => {
  const { stream, made } = live([video, aac]);
  const a = new Sink();
  const b = new Sink();
  const ha = stream.addReader({ id: 'a', protocol: 'webrtc', remoteAddress: '' }, a, { audio: ['opus'] });
  const hb = stream.addReader({ id: 'b', protocol: 'webrtc', remoteAddress: '' }, b, { audio: ['opus'] });
  assert.equal(made.length, 1, 'one rendition');
  assert.deepEqual(a.started!.tracks.map((t) => t.codec), ['h264', 'opus'], 'the reader is told of Opus audio');
  stream.push(makeUnit(video, 0, 0, true, Buffer.from('k')));
  stream.push(makeUnit(aac, 0, 0, true, Buffer.from('aa')));
  assert.deepEqual(a.units.map((u) => u.track.codec), ['h264', 'opus'], 'no AAC unit, its Opus rendition instead');
  assert.deepEqual(b.units.map((u) => u.track.codec), ['h264', 'opus']);
  assert.equal(ha.audioDelayMs?.(), 25);
  assert.deepEqual(stream.renditionViews(), [{ from: 'aac', to: 'opus', readers: 2, framesIn: 0, framesOut: 0 }]);
  // A reader that plays AAC gets it as it is, and no rendition.
  const c = new Sink();
  const hc = stream.addReader({ id: 'c', protocol: 'http-flv', remoteAddress: '' }, c, { audio: ['aac', 'mp3'] });
  assert.equal(hc.audioDelayMs?.() ?? 0, 0);
  stream.push(makeUnit(aac, 1920, 1920, true, Buffer.from('ab')));
  assert.deepEqual(c.units.map((u) => u.track.codec).at(-1), 'aac');
  ha.close();
  hb.close();
  assert.equal(made[0]!.isClosed, true, 'the last reader let it go');
  assert.deepEqual(stream.renditionViews(), []);
});

test('audio that nothing can turn into a codec the reader plays passes as it is', () => {
  const { stream, made } = live([video, opus]);
  const s = new Sink();
  stream.addReader({ id: 'x', protocol: 'http-flv', remoteAddress: '' }, s, { audio: ['aac'] });
  assert.equal(made.length, 0);
  assert.deepEqual(s.started!.tracks.map((t) => t.codec), ['h264', 'opus']);
});
