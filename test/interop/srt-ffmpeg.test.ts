/**
 * Acceptance (issue 4): ffmpeg (libsrt 1.5) publishes H264 + AAC MPEG-TS over SRT with each stream-id
 * form; ffprobe reads it back over SRT (`read:`, `#!::m=request`, a bare path), RTMP and HTTP-FLV with
 * the right codecs and size; H265 + Opus round-trips over SRT. Refusals reach ffmpeg as SRT rejections.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { probe, publish, run, type ProbeStream, type Publisher } from '../helpers/ffmpeg.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

function assertAv(streams: ProbeStream[], what: string, width = 640, height = 360): void {
  const video = streams.find((s) => s.codec_type === 'video');
  const audio = streams.find((s) => s.codec_type === 'audio');
  assert.equal(video?.codec_name, 'h264', `${what}: video codec`);
  assert.equal(video?.width, width, `${what}: width`);
  assert.equal(video?.height, height, `${what}: height`);
  assert.equal(audio?.codec_name, 'aac', `${what}: audio codec`);
  assert.equal(audio?.sample_rate, '48000', `${what}: sample rate`);
}

const FORMS = [
  { name: 'MediaMTX form', path: 'live/mtx', publish: 'publish:live/mtx', read: 'read:live/mtx' },
  { name: 'SRT access-control form', path: 'live/std', publish: '#!::r=live/std,m=publish,u=alice,bmd_uuid=12ab', read: '#!::r=live/std,m=request' },
  { name: 'bare path', path: 'live/bare', publish: 'live/bare', read: 'live/bare' },
];

describe('SRT publish from ffmpeg → SRT / RTMP / HTTP-FLV play', { concurrency: false }, () => {
  let gw: TestGateway;
  const pubs: Publisher[] = [];

  before(async () => {
    if (!hasTool('ffmpeg') && process.env.CI !== 'true') return;
    gw = await startGateway();
  });

  after(async () => {
    await Promise.all(pubs.map((p) => p.stop()));
    await gw?.close();
  });

  for (const form of FORMS) {
    test(`${form.name}: "${form.publish}" is read back over SRT, RTMP and HTTP-FLV`, async (t) => {
      if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
      const pub = publish(gw.srtUrl(form.publish, 'pkt_size=1316&latency=120000'), { format: 'mpegts', size: '640x360', gop: 30 });
      pubs.push(pub);
      await waitFor(() => gw.gateway.registry.get(form.path)?.tracks.length === 2, 10000, `${form.path} live with two tracks`);
      const session = gw.gateway.srt!.sessions().find((s) => s.path === form.path);
      assert.equal(session?.mode, 'publish');
      assert.equal(session?.streamId, form.publish);
      const [srt, rtmp, flv] = await Promise.all([
        probe(gw.srtUrl(form.read)),
        probe(gw.rtmpUrl(form.path)),
        probe(gw.httpUrl(`${form.path}.flv`)),
      ]);
      assertAv(srt, 'SRT read');
      assertAv(rtmp, 'RTMP');
      assertAv(flv, 'HTTP-FLV');
      type Api = { sessions: { path: string; mode: string; transportErrors?: number; stats: { rttMs: number; receiveBitrate: number; packetsReceived: number; packetsLost: number; packetsRetransmitted: number; packetsDropped: number } }[] };
      const api = (await (await fetch(gw.httpUrl('api/v1/srt/sessions'))).json()) as Api;
      const stats = api.sessions.find((s) => s.path === form.path && s.mode === 'publish')!;
      assert.ok(stats.stats.packetsReceived > 100, `packets received: ${stats.stats.packetsReceived}`);
      assert.ok(stats.stats.rttMs > 0 && stats.stats.rttMs < 50, `RTT on loopback: ${stats.stats.rttMs} ms`);
      assert.ok(stats.stats.receiveBitrate > 300_000, `receive bitrate: ${stats.stats.receiveBitrate}`);
      assert.equal(stats.stats.packetsLost, 0);
      assert.equal(stats.stats.packetsDropped, 0);
      assert.equal(stats.transportErrors, 0, 'no TS continuity errors on loopback');
      const streamApi = (await (await fetch(gw.httpUrl(`api/v1/streams/${form.path}`))).json()) as { publisher: { protocol: string } };
      assert.equal(streamApi.publisher.protocol, 'srt');
    });
  }

  test('H265 + Opus over SRT: read back over SRT with the same codecs and size', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const pub = run('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-re',
      '-f', 'lavfi', '-i', 'testsrc2=size=480x270:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000',
      '-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'keyint=25:bframes=0:log-level=error', '-c:a', 'libopus', '-b:a', '64k',
      '-f', 'mpegts', gw.srtUrl('publish:live/hevc', 'pkt_size=1316'),
    ]);
    pubs.push(pub);
    await waitFor(() => gw.gateway.registry.get('live/hevc')?.tracks.length === 2, 15000, 'live/hevc live with two tracks');
    const tracks = gw.gateway.registry.get('live/hevc')!.tracks;
    assert.deepEqual(tracks.map((x) => x.codec).sort(), ['h265', 'opus']);
    const streams = await probe(gw.srtUrl('read:live/hevc'));
    const video = streams.find((x) => x.codec_type === 'video');
    assert.equal(video?.codec_name, 'hevc');
    assert.equal(video?.width, 480);
    assert.equal(video?.height, 270);
    assert.equal(streams.find((x) => x.codec_type === 'audio')?.codec_name, 'opus');
    await pub.stop();
  });

  test('ffmpeg is refused with SRT rejections: a busy path, a path that is not live, a bad stream id', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const busy = publish(gw.srtUrl('publish:live/mtx', 'pkt_size=1316'), { format: 'mpegts', duration: 3 });
    const code = await busy.exited;
    assert.notEqual(code, 0, 'second publisher of a live path fails');
    assert.match(busy.stderr(), /reject/i, busy.stderr());
    await assert.rejects(probe(gw.srtUrl('read:live/nothing-here'), 8000), /reject|failed|error/i);
    const bad = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2', '-t', '2', '-f', 'mpegts', gw.srtUrl('#!::m=publish')]);
    assert.notEqual(await bad.exited, 0);
    const refused = gw.logs.filter((l) => l.msg === 'srt connection refused').map((l) => l.code);
    assert.ok(refused.includes(2409), `2409 conflict logged: ${refused.join(',')}`);
    assert.ok(refused.includes(2404), `2404 not found logged: ${refused.join(',')}`);
    assert.ok(refused.includes(2400), `2400 bad request logged: ${refused.join(',')}`);
    assert.ok(gw.gateway.registry.get('live/mtx'), 'the live stream was not disturbed');
  });

  test('the publisher stopping ends the stream; the path can be published again', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const pub = pubs.shift()!;
    await pub.stop();
    await waitFor(() => gw.gateway.registry.get('live/mtx') === undefined, 8000, 'stream ended after the SRT publisher left');
    const again = publish(gw.srtUrl('publish:live/mtx', 'pkt_size=1316'), { format: 'mpegts', size: '320x240' });
    pubs.push(again);
    await waitFor(() => gw.gateway.registry.get('live/mtx')?.tracks.length === 2, 10000, 'republished');
    assertAv(await probe(gw.httpUrl('live/mtx.flv')), 'HTTP-FLV after republish', 320, 240);
  });
});
