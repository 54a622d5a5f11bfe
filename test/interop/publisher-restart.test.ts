/**
 * Encoders restart at once after a crash (issue 10): a new publisher takes over a path whose
 * publisher has sent nothing for 1 s, on any protocol, and the readers carry on with it; a publisher
 * that is still sending stays protected.
 * - SRT: ffmpeg publishing over SRT is SIGKILLed (no SHUTDOWN reaches livegate) and restarted 0.5 s
 *   later; its HTTP-FLV reader and its RTMP player (ffmpeg) continue, timestamps running on.
 * - RTMP: a publisher whose network died (its TCP connection open, nothing more sent) is replaced by
 *   ffmpeg publishing the same path.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { publish, run, type Publisher } from '../helpers/ffmpeg.js';
import { readHttpFlv, type FlvReaderClient } from '../helpers/flv-client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { publishKnown } from '../helpers/h264-source.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';

/** Timestamps of one tag type must never go back (FLV players and muxers need it). */
function assertMonotonic(reader: FlvReaderClient, type: 8 | 9, what: string): void {
  const ts = reader.tags.filter((t) => t.type === type && t.body.length > 2 && !(type === 9 && t.body[1] === 0) && !(type === 8 && t.body[1] === 0)).map((t) => t.timestamp);
  for (let i = 1; i < ts.length; i++) assert.ok(ts[i]! >= ts[i - 1]!, `${what}: ${ts[i - 1]} then ${ts[i]}`);
}

/** Video keyframes (frame type 1) an FLV reader got after `since` (performance.now()). */
const keyframesAfter = (reader: FlvReaderClient, since: number) => reader.tags.filter((t) => t.type === 9 && t.at > since && t.body[0]! >> 4 === 1 && t.body[1] === 1).length;

describe('a restarted publisher takes over its path; readers carry on', { concurrency: false }, () => {
  let gw: TestGateway;
  const children: Publisher[] = [];

  before(async () => {
    if (!hasTool('ffmpeg') && process.env.CI !== 'true') return;
    gw = await startGateway();
  });

  after(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await gw?.close();
  });

  test('SRT: a SIGKILLed ffmpeg restarted 0.5 s later is accepted; HTTP-FLV and RTMP readers continue; a live publisher stays protected', async (t) => {
    if (!requireTools(t, 'ffmpeg')) return;
    const url = gw.srtUrl('publish:live/crash', 'pkt_size=1316');
    const first = publish(url, { format: 'mpegts', size: '320x240', gop: 25 });
    children.push(first);
    await waitFor(() => gw.gateway.registry.get('live/crash')?.tracks.length === 2, 10000, 'first publisher live');
    const stream = gw.gateway.registry.get('live/crash')!;
    const reader = readHttpFlv(gw.httpUrl('live/crash.flv'));
    const player = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', gw.rtmpUrl('live/crash'), '-c', 'copy', '-f', 'null', '-']);
    children.push(player);
    await waitFor(() => stream.readerCount >= 2 && keyframesAfter(reader, 0) >= 1, 8000, 'readers flowing');
    await sleep(1000);

    first.child.kill('SIGKILL');
    await first.exited;
    const killedAt = performance.now();
    await sleep(500);
    const second = publish(url, { format: 'mpegts', size: '320x240', gop: 25 });
    children.push(second);
    await waitFor(() => gw.logs.some((l) => l.msg === 'publisher taken over' && l.path === 'live/crash'), 8000, 'the take-over');
    assert.equal(gw.gateway.registry.get('live/crash'), stream, 'the same stream goes on');
    await waitFor(() => keyframesAfter(reader, killedAt) >= 2, 8000, 'the new publisher\'s keyframes at the reader');

    const takeover = gw.logs.find((l) => l.msg === 'publisher taken over' && l.path === 'live/crash')!;
    assert.equal(takeover.level, 'warn');
    assert.ok((takeover.silentMs as number) >= 1000, `taken over after ${takeover.silentMs} ms of silence`);
    const closed = gw.logs.find((l) => l.msg === 'connection closed' && l.id === takeover.old);
    assert.equal(closed?.level, 'warn', 'the old session is closed by the server, with its reason');
    assert.match(String(closed?.reason), /silent for \d+ ms, taken over/);
    assert.equal(second.child.exitCode, null, `the restarted ffmpeg keeps publishing: ${second.stderr()}`);
    assert.equal(player.child.exitCode, null, `the RTMP player is still playing: ${player.stderr()}`);
    assert.equal(stream.readerCount >= 2, true);
    assertMonotonic(reader, 9, 'video');
    assertMonotonic(reader, 8, 'audio');

    // The restarted publisher is live: a third one is refused at once (2409, "already published").
    const third = publish(url, { format: 'mpegts', size: '320x240', gop: 25 });
    children.push(third);
    const code = await third.exited;
    assert.notEqual(code, 0, 'refused');
    assert.ok(gw.logs.some((l) => l.msg === 'srt connection refused' && l.code === 2409), 'a 2409 refusal');
    assert.equal(gw.gateway.registry.get('live/crash')?.publisher.id, takeover.new, 'the live publisher kept its path');
    reader.close();
  });

  test('RTMP: a publisher whose network died (connection open, nothing sent) is replaced by ffmpeg; the reader continues', async (t) => {
    if (!requireTools(t, 'ffmpeg')) return;
    const stalled = await publishKnown(gw.rtmpUrl('live/stall'), 100);
    await waitFor(() => gw.gateway.registry.get('live/stall')?.tracks.length === 2, 5000, 'stalled publisher live');
    const reader = readHttpFlv(gw.httpUrl('live/stall.flv'));
    await waitFor(() => keyframesAfter(reader, 0) >= 1, 5000, 'reader flowing');
    // Too soon: the publisher is sending, so a second one is refused.
    const early = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-t', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'flv', gw.rtmpUrl('live/stall')]);
    assert.notEqual(await early.exited, 0);
    assert.match(early.stderr(), /already being published/);

    // The network dies: the socket stays open, nothing more arrives.
    const stalledSocket = (stalled.client as unknown as { socket: { pause(): void } }).socket;
    (stalled.client as unknown as { sendMedia: () => void }).sendMedia = () => {};
    stalledSocket.pause();
    const stalledAt = performance.now();
    // What was already in flight still arrives; the new publisher comes once the gateway has seen the
    // silence begin (a publisher heard from in the last quarter second is refused outright, by design).
    const stalledStream = gw.gateway.registry.get('live/stall')!;
    await waitFor(() => performance.now() - stalledStream.lastActivity >= 400, 5000, 'the gateway to hear the silence');
    const next = publish(gw.rtmpUrl('live/stall'), { size: '320x240', gop: 25 });
    children.push(next);
    await waitFor(() => keyframesAfter(reader, stalledAt) >= 2, 10000, 'the new publisher at the reader');
    const takeover = gw.logs.find((l) => l.msg === 'publisher taken over' && l.path === 'live/stall');
    assert.ok(takeover && (takeover.silentMs as number) >= 1000, `taken over after ${takeover?.silentMs} ms`);
    assert.equal(next.child.exitCode, null, next.stderr());
    assertMonotonic(reader, 9, 'video');
    reader.close();
    stalled.client.close();
  });
});
