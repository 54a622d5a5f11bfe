/**
 * AacFeed with the real worker: the FLV/RTMP readers of one Opus stream share one transcoder, a
 * reader who joins mid-GOP gets that GOP's AAC, and the transcoder stops `lingerMs` after the last
 * reader leaves (or with the stream).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { createLogger } from '../../../gateway/src/core/log.js';
import { makeUnit, type AudioTrack, type MediaUnit, type Track, type VideoTrack } from '../../../gateway/src/core/media-unit.js';
import type { ReaderSink, StreamStart } from '../../../gateway/src/core/reader.js';
import { StreamRegistry } from '../../../gateway/src/core/stream-registry.js';
import { buildOpusHead } from '../../../gateway/src/codec/opus.js';
import { AacFeed } from '../../../gateway/src/transcode/aac-feed.js';
import { opusToAac } from '../../../gateway/src/transcode/renditions.js';
import { expectedAudioSpecificConfig, OpusToAac } from '../../../gateway/src/transcode/opus-to-aac.js';
import { encodeOpus, pcm16, tone } from '../../helpers/audio.js';
import { waitFor } from '../../helpers/wait.js';

const video: VideoTrack = { kind: 'video', id: 0, codec: 'h264', config: Buffer.from('01'), width: 2, height: 2 };
const opus: AudioTrack = { kind: 'audio', id: 1, codec: 'opus', config: buildOpusHead(1), sampleRate: 48000, channels: 1 };
const T0 = 90_000;

class Sink implements ReaderSink {
  started: StreamStart | null = null;
  units: MediaUnit[] = [];
  updates: Track[] = [];
  ended = false;
  start(info: StreamStart): void {
    this.started = info;
  }
  unit(u: MediaUnit): void {
    this.units.push(u);
  }
  trackUpdate(t: Track): void {
    this.updates.push(t);
  }
  metadata(): void {}
  end(): void {
    this.ended = true;
  }
  backlog(): number {
    return 0;
  }
  drop(): void {}
  get aac(): MediaUnit[] {
    return this.units.filter((u) => u.track.kind === 'audio');
  }
}

/** 3 s of media in dts order: video every 40 ms (keyframes at 0 and 2 s), Opus every 20 ms. */
function media(): MediaUnit[] {
  const packets = encodeOpus(pcm16(48000 * 3, 1, tone(1000, 0.4)), 1, T0, 960, 64_000);
  const units = packets.map((p) => makeUnit(opus, p.pts, p.pts, true, p.data));
  for (let ms = 0; ms < 3000; ms += 40) units.push(makeUnit(video, T0 + ms * 90, T0 + ms * 90, ms % 2000 === 0, Buffer.alloc(100)));
  // On a tie the video goes first, as the keyframe a reader (and the feed) starts on.
  return units.sort((a, b) => a.dts - b.dts || (a.track.kind === 'video' ? -1 : 0) - (b.track.kind === 'video' ? -1 : 0));
}

let registry: StreamRegistry;
afterEach(() => registry?.closeAll('test over'));

function setup(lingerMs: number) {
  const logs: { msg: string; reason?: string }[] = [];
  const log = createLogger('info', (line) => logs.push(JSON.parse(line) as { msg: string }));
  registry = new StreamRegistry(
    {
      allowTakeover: false,
      publisherIdleTimeoutMs: 60_000,
      maxBacklogBytes: 1 << 20,
      stuckTimeoutMs: 5000,
      gop: { maxBytes: 1 << 24, maxUnits: 4000 },
      renditions: [opusToAac({ bitrate: 128_000, lingerMs, log })],
    },
    log,
  );
  const stream = registry.publish('live/a', { id: 'p', protocol: 'test', remoteAddress: '', close: () => {} });
  stream.setTrack(video);
  stream.setTrack(opus);
  const attach = (id: string) => {
    const sink = new Sink();
    const handle = stream.addReader({ id, protocol: 'http-flv', remoteAddress: '' }, sink, { audio: ['aac', 'mp3'] });
    return { sink, handle };
  };
  return { stream, logs, attach };
}

describe('AacFeed', { concurrency: false }, () => {
  test('two readers share one transcoder; the second, joining mid-GOP, gets the GOP’s AAC; it stops after the last leaves', async () => {
    const { stream, logs, attach } = setup(100);
    const all = media();
    const a = attach('a');
    const twoSeconds = all.filter((u) => u.dts < T0 + 2000 * 90);
    stream.pushMany(twoSeconds);
    await waitFor(() => a.sink.aac.length >= 85, 20_000, 'AAC for the first 2 s');
    // Announced at once with the config the encoder will give, which the encoder then confirms.
    const configured = a.sink.started!.tracks.find((t): t is AudioTrack => t.kind === 'audio');
    assert.deepEqual(configured?.config, expectedAudioSpecificConfig(1));
    assert.deepEqual(a.sink.updates.filter((t) => t.kind === 'audio'), [], 'no new config from the encoder: the expected one was right');
    assert.equal(configured?.codec, 'aac');
    assert.equal(configured?.sampleRate, 48000);
    assert.equal(configured?.channels, 1);
    assert.ok(!a.sink.units.some((u) => u.track.kind === 'audio' && u.track.codec === 'opus'), 'no Opus unit reached the reader');
    const aDts = a.sink.aac.map((u) => u.dts);
    assert.equal(aDts[0], T0, 'the first AAC frame the reader gets is the keyframe’s');
    assert.ok(aDts.every((d, i) => i === 0 || d - aDts[i - 1]! === 1920), 'contiguous 1024-sample frames');

    const b = attach('b');
    const feed = AacFeed.existing(stream)!;
    assert.equal(feed.subscriberCount, 2);
    assert.equal(stream.readers().filter((r) => r.protocol === 'transcoder').length, 1, 'one transcoder reader for both');
    assert.equal(b.sink.started!.tracks.find((t) => t.kind === 'audio'), feed.track, 'the joiner starts with the configured AAC track');
    const bAudio = b.sink.aac;
    assert.ok(bAudio.length >= 80, `the joiner got ${bAudio.length} AAC frames of the cached GOP`);
    assert.equal(bAudio[0]!.dts, T0, 'from the GOP’s keyframe on');
    assert.ok(b.sink.units.every((u, i) => i === 0 || u.dts >= b.sink.units[i - 1]!.dts), 'video and AAC merged in dts order');
    assert.equal(b.sink.units[0]!.keyframe && b.sink.units[0]!.track.kind, 'video');

    // The next GOP: the kept AAC is trimmed to it.
    stream.pushMany(all.filter((u) => u.dts >= T0 + 2000 * 90));
    await waitFor(() => a.sink.aac.length >= 130, 20_000, 'AAC for 3 s');
    await waitFor(() => feed.recent(-Infinity)[0]!.dts >= T0 + 2000 * 90, 5000, 'kept AAC starts at the new keyframe');
    assert.equal(b.sink.aac.at(-1)!.dts, a.sink.aac.at(-1)!.dts, 'both readers are fed the same frames');
    assert.equal(b.sink.aac.at(-1), a.sink.aac.at(-1), 'the very same unit objects (shared, not copied)');

    a.handle.close();
    b.handle.close();
    await waitFor(() => feed.isClosed, 5000, 'the feed stops after lingerMs');
    const stopped = logs.find((l) => l.msg === 'transcoder stopped');
    assert.equal(stopped?.reason, 'no more FLV or RTMP readers');
    assert.equal(stream.readers().length, 0);
    assert.equal(OpusToAac.workerRunning, false, 'the worker ended with the last transcoder');
  });

  test('a reader coming back within lingerMs keeps the transcoder; the stream ending stops it', async () => {
    const { stream, logs, attach } = setup(60_000);
    const all = media();
    const a = attach('a');
    stream.pushMany(all.filter((u) => u.dts < T0 + 1000 * 90));
    await waitFor(() => a.sink.aac.length >= 30, 20_000, 'AAC');
    const feed = AacFeed.existing(stream)!;
    a.handle.close();
    const b = attach('b');
    assert.equal(AacFeed.existing(stream), feed, 'the same feed');
    assert.ok(b.sink.aac.length >= 30, 'with its kept AAC');
    registry.unpublish(stream, 'publisher left');
    assert.ok(feed.isClosed);
    assert.equal(logs.find((l) => l.msg === 'transcoder stopped')?.reason, 'stream ended');
    assert.ok(b.sink.ended);
  });
});
