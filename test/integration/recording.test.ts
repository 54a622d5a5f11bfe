/**
 * Acceptance (issue 16, recording): a 30 s recording started and stopped through the API plays back
 * through `/recordings/…/index.m3u8` in ffprobe with the right duration (±1 s of what was recorded, and
 * 30 ± 2 s); it is listed; a recording whose directory is removed mid-way ends with a reason while the
 * live stream and its reader carry on; a path pattern records on its own when it goes live.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { probe, publish, type Publisher } from '../helpers/ffmpeg.js';
import { readHttpFlv } from '../helpers/flv-client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';

type Rec = { id: string; path: string; state: string; reason?: string; durationSeconds: number; segments: number; playlist: string };

function formatDuration(url: string): Promise<number> {
  return new Promise((resolve, reject) =>
    execFile('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', url], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(Number(stdout.trim())))),
  );
}

describe('recording to disk: fMP4 segments and a VOD playlist', { concurrency: false }, () => {
  let gw: TestGateway;
  let dir: string;
  const pubs: Publisher[] = [];

  before(async () => {
    if (!hasTool('ffmpeg') && process.env.CI !== 'true') return;
    dir = mkdtempSync(join(tmpdir(), 'livegate-rec-'));
    gw = await startGateway({ recording: { dir, segmentDurationMs: 4000, paths: ['auto/*'] } });
  });
  after(async () => {
    await Promise.all(pubs.map((p) => p.stop()));
    await gw?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const api = (path: string, method = 'GET') => fetch(gw.httpUrl(path), { method });

  test('30 s recorded through the API plays back in ffprobe with its duration', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const pub = publish(gw.rtmpUrl('live/rec'), { size: '320x240', gop: 30 });
    pubs.push(pub);
    await waitFor(() => gw.gateway.registry.get('live/rec')?.tracks.length === 2, 15000, 'live/rec live');
    const started = await api('api/v1/streams/live/rec/record', 'POST');
    assert.equal(started.status, 201);
    const rec = (await started.json()) as Rec;
    assert.equal(rec.state, 'recording');
    await sleep(30_000);
    const stopped = (await (await api('api/v1/streams/live/rec/record', 'DELETE')).json()) as Rec;
    assert.equal(stopped.state, 'done');
    assert.ok(Math.abs(stopped.durationSeconds - 30) <= 2, `recorded ${stopped.durationSeconds} s`);
    const url = gw.httpUrl(stopped.playlist.slice(1));
    const playlist = await (await fetch(url)).text();
    assert.match(playlist, /#EXT-X-PLAYLIST-TYPE:VOD/);
    assert.match(playlist, /#EXT-X-ENDLIST/);
    const streams = await probe(url);
    assert.equal(streams.find((s) => s.codec_type === 'video')?.codec_name, 'h264');
    assert.equal(streams.find((s) => s.codec_type === 'audio')?.codec_name, 'aac');
    const duration = await formatDuration(url);
    assert.ok(Math.abs(duration - stopped.durationSeconds) <= 1, `ffprobe says ${duration} s, the playlist ${stopped.durationSeconds} s`);
    const listed = ((await (await api('api/v1/recordings')).json()) as { recordings: Rec[] }).recordings;
    assert.ok(listed.some((r) => r.id === rec.id && r.state === 'done'), 'listed');
    assert.equal((await fetch(gw.httpUrl(`recordings/live/rec/${rec.id}/../../x`))).status, 404, 'nothing outside the recordings');
  });

  test('a recording whose directory is removed mid-way ends with a reason; the live reader carries on', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const reader = readHttpFlv(gw.httpUrl('live/rec.flv'), { keepTags: false });
    await waitFor(() => reader.bytes > 10_000, 5000, 'live reader flowing');
    const rec = (await (await api('api/v1/streams/live/rec/record', 'POST')).json()) as Rec;
    await waitFor(async () => ((await (await api('api/v1/recordings')).json()) as { recordings: Rec[] }).recordings.find((r) => r.id === rec.id)!.segments >= 1, 15000, 'a segment written');
    rmSync(join(dir, 'live', 'rec'), { recursive: true, force: true });
    const failed = await waitFor(async () => {
      const r = ((await (await api('api/v1/recordings')).json()) as { recordings: Rec[] }).recordings.find((x) => x.id === rec.id);
      return r?.state === 'failed' ? r : null;
    }, 15000, 'the recording failed');
    assert.match(failed.reason ?? '', /write failed/);
    const before = reader.bytes;
    await sleep(1500);
    assert.ok(reader.bytes > before, 'the live stream goes on');
    assert.ok(gw.gateway.registry.get('live/rec'), 'still live');
    reader.close();
  });

  test('a path matching recording.paths records on its own while it is live', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const pub = publish(gw.rtmpUrl('auto/cam'), { size: '320x240', gop: 30 });
    await waitFor(async () => ((await (await api('api/v1/recordings')).json()) as { recordings: Rec[] }).recordings.some((r) => r.path === 'auto/cam' && r.segments >= 1), 20000, 'auto/cam recorded');
    await pub.stop();
    const rec = await waitFor(async () => ((await (await api('api/v1/recordings')).json()) as { recordings: Rec[] }).recordings.find((r) => r.path === 'auto/cam' && r.state === 'done'), 10000, 'ended with the stream');
    assert.ok((await probe(gw.httpUrl(rec.playlist.slice(1)))).length === 2);
  });
});
