/**
 * Acceptance: 50 HTTP-FLV readers and 10 RTMP players (ffmpeg) of one stream all receive it; a reader
 * that never reads does not slow the others and is dropped; the server's memory stays bounded.
 * The gateway runs as a separate process (the real CLI) so its RSS is its own.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { publish, run } from '../helpers/ffmpeg.js';
import { readHttpFlv } from '../helpers/flv-client.js';
import { spawnGateway } from '../helpers/gateway.js';
import { requireTools } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';

test('50 HTTP-FLV + 10 RTMP players, one stalled reader, bounded memory', { timeout: 120_000 }, async (t) => {
  if (!requireTools(t, 'ffmpeg')) return;
  const gw = await spawnGateway({
    streams: { readerMaxBacklogBytes: 512 * 1024, readerStuckTimeoutMs: 3000 },
  });
  const pub = publish(gw.rtmpUrl('live/fan'), { size: '640x360', videoBitrate: '3000k', gop: 30 });
  try {
    const apiUrl = gw.httpUrl('api/v1/streams/live/fan');
    await waitFor(async () => (await fetch(apiUrl)).ok, 10000, 'stream live');

    // The stalled reader: sends a request, never reads a byte (its socket is paused).
    const stalled = connect(gw.httpPort, '127.0.0.1');
    stalled.setNoDelay(true);
    stalled.write(`GET /live/fan.flv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    stalled.pause();
    let stalledClosed = false;
    stalled.on('close', () => (stalledClosed = true));
    stalled.on('error', () => {});

    const readers = Array.from({ length: 50 }, () => readHttpFlv(gw.httpUrl('live/fan.flv'), { keepTags: false }));
    const players = Array.from({ length: 10 }, () =>
      run('ffmpeg', ['-hide_banner', '-nostats', '-loglevel', 'error', '-i', gw.rtmpUrl('live/fan'), '-c', 'copy', '-t', '25', '-progress', 'pipe:2', '-f', 'null', '-']),
    );
    await waitFor(async () => {
      const s = (await (await fetch(apiUrl)).json()) as { readers: { byProtocol: Record<string, number> } };
      return (s.readers.byProtocol['http-flv'] ?? 0) >= 51 && (s.readers.byProtocol.rtmp ?? 0) >= 10;
    }, 15000, '51 HTTP-FLV readers and 10 RTMP players');
    const rssStart = gw.rss();

    // While the stalled reader fills its buffers, every other reader keeps receiving, second by second.
    const samples: number[][] = [];
    for (let i = 0; i < 8; i++) {
      const before = readers.map((r) => r.bytes);
      await sleep(1000);
      samples.push(readers.map((r, j) => r.bytes - before[j]!));
    }
    for (const [second, deltas] of samples.entries()) {
      const min = Math.min(...deltas);
      assert.ok(min > 50_000, `second ${second}: every reader got data (slowest ${min} bytes/s)`);
    }
    // The kernel absorbs a few MB first (socket buffers); then the backlog passes the limit, the
    // reader skips, and after readerStuckTimeoutMs it is dropped with a logged reason.
    await waitFor(() => gw.logs.some((l) => String(l.reason ?? '').includes('slow reader')), 30000, 'the stalled reader to be dropped');
    await waitFor(async () => {
      const s = (await (await fetch(apiUrl)).json()) as { readers: { byProtocol: Record<string, number> } };
      return s.readers.byProtocol['http-flv'] === 50;
    }, 3000, 'the API to count 50 HTTP-FLV readers');
    // Once it reads again it finds the server closed the connection.
    stalled.resume();
    await waitFor(() => stalledClosed, 10000, 'the stalled connection to be closed');
    const rssEnd = gw.rss();
    t.diagnostic(`gateway RSS ${(rssStart / 1048576).toFixed(0)} → ${(rssEnd / 1048576).toFixed(0)} MiB with 60 readers and one stalled`);
    assert.ok(rssEnd < rssStart + 64 * 1024 * 1024, `RSS grew ${((rssEnd - rssStart) / 1048576).toFixed(1)} MiB (limit 64)`);
    assert.ok(rssEnd < 400 * 1024 * 1024, `RSS ${(rssEnd / 1048576).toFixed(0)} MiB`);

    const codes = await Promise.all(players.map((p) => p.exited));
    for (const [i, p] of players.entries()) {
      assert.equal(codes[i], 0, `RTMP player ${i}: ${p.stderr().slice(-500)}`);
      const frames = [...p.stderr().matchAll(/frame=(\d+)/g)].map((m) => Number(m[1]));
      assert.ok(Math.max(0, ...frames) > 200, `RTMP player ${i} decoded… copied ${Math.max(0, ...frames)} frames`);
    }
    for (const r of readers) r.close();
  } finally {
    await pub.stop();
    await gw.close();
  }
});
