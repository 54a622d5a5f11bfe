/**
 * Stream → SRT readers: TS is muxed once per stream (one TsMuxReader) and every SRT reader hands the
 * very same payload Buffers to its connection; a new reader's cached GOP is spread out at 4× real
 * time by source time; a later muxer of the same stream does not reuse an earlier one's bytes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { silentLogger } from '../../../../gateway/src/core/log.js';
import type { MediaUnit, Track } from '../../../../gateway/src/core/media-unit.js';
import { StreamRegistry } from '../../../../gateway/src/core/stream-registry.js';
import { TsDemuxer } from '../../../../gateway/src/format/mpegts/demuxer.js';
import { TsToUnits } from '../../../../gateway/src/format/mpegts/ts-media.js';
import { GOP_SPEEDUP, SrtReader, TsMuxReader, type SrtReaderConnection } from '../../../../gateway/src/protocols/srt/from-stream.js';

const FIXTURE = readFileSync(new URL('../../../fixtures/h264-aac.m2t', import.meta.url));

function fixtureUnits(): { tracks: Track[]; units: MediaUnit[] } {
  const tracks: Track[] = [];
  const units: MediaUnit[] = [];
  const ts = new TsToUnits({ track: (t) => tracks.push(t), unit: (u) => units.push(u), ignored: () => {} });
  ts.push(FIXTURE, 0);
  ts.flush();
  return { tracks, units };
}

class FakeConn implements SrtReaderConnection {
  writes: { payload: Buffer; now: number; due: number }[] = [];
  closed: string | null = null;
  write(payload: Buffer, nowUs: number, sourceUs: number): void {
    this.writes.push({ payload, now: nowUs, due: sourceUs });
  }
  backlog(): number {
    return 0;
  }
  close(reason: string): void {
    this.closed = reason;
  }
}

function setup() {
  const registry = new StreamRegistry(
    { allowTakeover: false, publisherIdleTimeoutMs: 60_000, maxBacklogBytes: 1 << 24, stuckTimeoutMs: 10_000, gop: { maxBytes: 1 << 24, maxUnits: 4000 } },
    silentLogger,
  );
  const stream = registry.publish('live/t', { id: 'p', protocol: 'test', remoteAddress: '', close: () => {} });
  const { tracks, units } = fixtureUnits();
  for (const t of tracks) stream.setTrack(t);
  return { registry, stream, units };
}

const info = (id: string) => ({ id, protocol: 'srt', remoteAddress: '' });

describe('Stream → SRT readers', () => {
  test('one muxer; two readers get the same payload Buffers; a joiner starts on PAT + keyframe with its GOP spread out', async () => {
    const { registry, stream, units } = setup();
    const mux = new TsMuxReader();
    stream.addReader(info('mux'), mux);
    const a = new FakeConn();
    stream.addReader(info('a'), new SrtReader(a, mux));
    stream.pushMany(units.slice(0, 110)); // well past the second keyframe (video unit 25)
    await Promise.resolve();
    const b = new FakeConn();
    stream.addReader(info('b'), new SrtReader(b, mux));
    await Promise.resolve(); // the replay window closes
    stream.pushMany(units.slice(110));
    assert.ok(a.writes.length > 0 && b.writes.length > 0);
    // b's payloads are a's tail, the very same objects.
    const tail = a.writes.slice(a.writes.length - b.writes.length).map((w) => w.payload);
    assert.equal(tail.length, b.writes.length);
    for (let i = 0; i < tail.length; i++) assert.equal(b.writes[i]!.payload, tail[i], `payload ${i} shared, not copied`);
    assert.ok(a.writes.every((w) => w.payload.length <= 1316 && w.payload.length % 188 === 0), 'whole TS packets, at most 7');
    // b starts with PAT/PMT, and its TS demuxes with no continuity error.
    const first = b.writes[0]!.payload;
    assert.equal(((first[1]! & 0x1f) << 8) | first[2]!, 0, 'first packet is the PAT');
    const warnings: string[] = [];
    let video = 0;
    const d = new TsDemuxer({ unit: (u) => u.codec === 'h264' && video++, warning: (w) => warnings.push(w) });
    d.push(Buffer.concat(b.writes.map((w) => w.payload)));
    d.flush();
    assert.deepEqual(warnings, []);
    assert.equal(video, 25, 'the cached GOP (from keyframe 25) and the rest');
    // The replayed GOP is due over a quarter of its media duration.
    const replay = b.writes.filter((w) => w.due > w.now);
    assert.ok(replay.length > 10, `replayed payloads with a later source time: ${replay.length}`);
    const spreadUs = Math.max(...b.writes.map((w) => w.due - w.now));
    const key = units.filter((u) => u.track.kind === 'video' && u.keyframe)[1]!;
    const lastCached = Math.max(...units.slice(0, 110).map((u) => u.dts));
    const cachedMediaUs = ((lastCached - key.dts) * 100) / 9;
    assert.ok(Math.abs(spreadUs - cachedMediaUs / GOP_SPEEDUP) < 60_000, `spread ${spreadUs} µs for ${cachedMediaUs} µs of media`);
    registry.closeAll('done');
  });

  test('a new muxer of the same stream muxes the cached GOP afresh (continuity from 0, not a stale memo)', () => {
    const { registry, stream, units } = setup();
    const first = new TsMuxReader();
    const h = stream.addReader(info('mux1'), first);
    stream.pushMany(units.slice(0, 40));
    h.close();
    const second = new TsMuxReader();
    const c = new FakeConn();
    stream.addReader(info('mux2'), second);
    stream.addReader(info('c'), new SrtReader(c, second));
    stream.pushMany(units.slice(40));
    const warnings: string[] = [];
    const d = new TsDemuxer({ unit: () => {}, warning: (w) => warnings.push(w) });
    d.push(Buffer.concat(c.writes.map((w) => w.payload)));
    assert.deepEqual(warnings, []);
    assert.ok(c.writes.length > 10);
    registry.closeAll('done');
  });
});
