/**
 * livegate embedded in a Node application, imported the way a user would (`from 'livegate'`: the
 * package's built entry, gateway/dist/index.js): start a gateway, watch its registry, publish with
 * ffmpeg and play with the exported RTMP client; configuration errors are typed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, Gateway, ListenError, LivegateError, parseConfig, RtmpClient, VERSION, type Stream } from 'livegate';
import { publish } from '../helpers/ffmpeg.js';
import { requireTools } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

test('the package entry starts a gateway that publishes and plays, with typed errors', async (t) => {
  if (!requireTools(t, 'ffmpeg')) return;
  assert.match(VERSION, /^\d+\.\d+\.\d+/);
  assert.throws(() => parseConfig({ rtmp: { port: 'x' } }), (e: unknown) => e instanceof ConfigError && e instanceof LivegateError && /rtmp\.port/.test(e.message));

  const config = parseConfig({ host: '127.0.0.1', logLevel: 'error', rtmp: { port: 0 }, http: { port: 0 }, srt: { port: 0 }, webrtc: { enabled: false } });
  const gateway = await Gateway.start(config);
  const live: string[] = [];
  gateway.registry.on('publish', (s: Stream) => live.push(s.path));
  await assert.rejects(
    Gateway.start(parseConfig({ host: '127.0.0.1', rtmp: { port: gateway.ports.rtmp }, http: { enabled: false }, srt: { enabled: false } })),
    (e: unknown) => e instanceof ListenError && /already in use/.test((e as Error).message),
  );
  const url = `rtmp://127.0.0.1:${gateway.ports.rtmp}/live/embedded`;
  const ffmpeg = publish(url);
  const player = new RtmpClient();
  try {
    await waitFor(() => gateway.registry.get('live/embedded')?.tracks.length === 2, 15000, 'stream live with two tracks');
    assert.deepEqual(live, ['live/embedded']);
    const media = { video: 0, audio: 0 };
    player.on('media', (m) => (m.typeId === 9 ? media.video++ : m.typeId === 8 ? media.audio++ : 0));
    await player.connect(url);
    await player.play();
    await waitFor(() => media.video > 30 && media.audio > 30, 10000, 'video and audio over RTMP');
  } finally {
    player.close();
    await ffmpeg.stop();
    await gateway.close();
  }
});
