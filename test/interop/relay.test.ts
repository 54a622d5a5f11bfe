/**
 * Acceptance (issue 16, push relays): a live path matching a `paths[].push` pattern is sent to a
 * second livegate over RTMP and over SRT and arrives there with the same codecs and size; the target
 * restarting → the relay reconnects and the path is back on the target; the relay ends with the stream.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { probe, publish, type Publisher } from '../helpers/ffmpeg.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

type RelayView = { path: string; url: string; state: string; connects: number; retries: number; lastError: string | null };

describe('push relays to another livegate over RTMP and SRT', { concurrency: false }, () => {
  let target: TestGateway;
  let origin: TestGateway;
  let pub: Publisher;
  let rtmpPort = 0;
  let srtPort = 0;

  const relays = async (): Promise<RelayView[]> => ((await (await fetch(origin.httpUrl('api/v1/relays'))).json()) as { relays: RelayView[] }).relays;

  before(async () => {
    if (!hasTool('ffmpeg') && process.env.CI !== 'true') return;
    target = await startGateway({ srt: { passphrases: [{ path: 'from-srt/*', publish: 'a-long-relay-secret' }] } });
    rtmpPort = target.rtmpPort;
    srtPort = target.srtPort;
    origin = await startGateway({
      paths: [
        {
          path: 'live/*',
          push: [`rtmp://127.0.0.1:${rtmpPort}/from-rtmp/{name}`, `srt://127.0.0.1:${srtPort}?streamid=publish:from-srt/{name}&passphrase=a-long-relay-secret`],
        },
      ],
    });
  });
  after(async () => {
    await pub?.stop();
    await origin?.close();
    await target?.close();
  });

  test('the path arrives on the target over both protocols with the same codecs and size', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    pub = publish(origin.rtmpUrl('live/cam'), { size: '480x270', gop: 25 });
    await waitFor(() => target.gateway.registry.get('from-rtmp/cam')?.tracks.length === 2 && target.gateway.registry.get('from-srt/cam')?.tracks.length === 2, 15000, 'both relayed paths live on the target');
    for (const path of ['from-rtmp/cam', 'from-srt/cam']) {
      const streams = await probe(target.httpUrl(`${path}.flv`));
      assert.equal(streams.find((s) => s.codec_type === 'video')?.codec_name, 'h264', path);
      assert.equal(streams.find((s) => s.codec_type === 'video')?.width, 480, path);
      assert.equal(streams.find((s) => s.codec_type === 'audio')?.codec_name, 'aac', path);
    }
    assert.equal(target.gateway.registry.get('from-rtmp/cam')!.publisher.protocol, 'rtmp');
    assert.equal(target.gateway.registry.get('from-srt/cam')!.publisher.protocol, 'srt');
    const views = await relays();
    assert.equal(views.length, 2);
    assert.ok(views.every((v) => v.state === 'live' && v.connects === 1));
    assert.ok(views.some((v) => v.url.includes('passphrase=***')), 'the SRT passphrase is not shown');
  });

  test('the target restarting: the relays reconnect and the paths are back', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    await target.close();
    await waitFor(async () => (await relays()).every((v) => v.state === 'retrying'), 10000, 'relays retrying');
    target = await startGateway({ rtmp: { port: rtmpPort }, srt: { port: srtPort, passphrases: [{ path: 'from-srt/*', publish: 'a-long-relay-secret' }] } });
    await waitFor(() => target.gateway.registry.get('from-rtmp/cam')?.tracks.length === 2 && target.gateway.registry.get('from-srt/cam')?.tracks.length === 2, 20000, 'both paths back on the new target');
    const views = await relays();
    assert.ok(views.every((v) => v.state === 'live' && v.connects === 2 && v.retries >= 1), JSON.stringify(views));
  });

  test('the stream ending ends its relays', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    await pub.stop();
    await waitFor(async () => (await relays()).length === 0, 10000, 'no relay left');
    await waitFor(() => !target.gateway.registry.get('from-rtmp/cam') && !target.gateway.registry.get('from-srt/cam'), 10000, 'the target paths ended');
  });
});
