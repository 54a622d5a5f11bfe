/**
 * HLS read by ffmpeg and ffprobe (their own HLS and MP4 demuxers, nothing of livegate's):
 * - ffmpeg publishes H264 + AAC over RTMP; `ffmpeg -i …/index.m3u8` decodes 4 s of it without one
 *   error, and ffprobe sees h264 640x360 and AAC 48 kHz;
 * - ffmpeg publishes H265 + Opus over SRT; the multivariant playlist's CODECS say hvc1 and mp4a (the
 *   stream's AAC rendition of the Opus), and ffprobe reads hevc 480x270 and aac from the playlist;
 * - `hls.variant: mpegts`: classic MPEG-TS segments, read and decoded by ffmpeg the same way.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { probe, publish, run, type Publisher } from '../helpers/ffmpeg.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

/** ffprobe sees h264 at `size` and AAC 48 kHz; ffmpeg decodes 4 s of the playlist without one error. */
async function readsCleanly(url: string, width: number, height: number): Promise<void> {
  const streams = await probe(url);
  const video = streams.find((s) => s.codec_type === 'video');
  assert.equal(video?.codec_name, 'h264');
  assert.equal(video?.width, width);
  assert.equal(video?.height, height);
  const audio = streams.find((s) => s.codec_type === 'audio');
  assert.equal(audio?.codec_name, 'aac');
  assert.equal(audio?.sample_rate, '48000');
  // ffmpeg follows the live playlist: every segment must parse and decode.
  const decode = run('ffmpeg', ['-hide_banner', '-v', 'error', '-rw_timeout', '10000000', '-i', url, '-t', '4', '-f', 'null', '-']);
  assert.equal(await decode.exited, 0, decode.stderr());
  assert.equal(decode.stderr().trim(), '', 'no error from the HLS demuxer or the decoders');
}

describe('HLS read by ffmpeg and ffprobe', { concurrency: false }, () => {
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

  test('RTMP H264 + AAC → HLS: ffmpeg decodes it without an error; ffprobe sees the codecs and size', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const pub = publish(gw.rtmpUrl('live/hls'), { size: '640x360', rate: 25, gop: 25 });
    pubs.push(pub);
    await waitFor(() => gw.gateway.registry.get('live/hls')?.tracks.length === 2, 10_000, 'live/hls live');
    await readsCleanly(gw.httpUrl('live/hls/index.m3u8'), 640, 360);
    await pub.stop();
  });

  test('SRT H265 + Opus → HLS: CODECS name hvc1 and the AAC rendition; ffprobe reads hevc and aac', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    // prettier-ignore
    const pub = run('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-re',
      '-f', 'lavfi', '-i', 'testsrc2=size=480x270:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000',
      '-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'keyint=25:bframes=0:log-level=error', '-c:a', 'libopus', '-b:a', '64k',
      '-f', 'mpegts', gw.srtUrl('publish:live/hevc', 'pkt_size=1316'),
    ]);
    pubs.push(pub);
    await waitFor(() => gw.gateway.registry.get('live/hevc')?.tracks.length === 2, 15_000, 'live/hevc live with two tracks');
    const index = await (await fetch(gw.httpUrl('live/hevc/index.m3u8'))).text();
    assert.match(index, /CODECS="hvc1\.[0-9A-Za-z.]+,mp4a\.40\.2",RESOLUTION=480x270/);
    const streams = await probe(gw.httpUrl('live/hevc/index.m3u8'));
    const video = streams.find((s) => s.codec_type === 'video');
    assert.equal(video?.codec_name, 'hevc');
    assert.equal(video?.width, 480);
    assert.equal(video?.height, 270);
    assert.equal(streams.find((s) => s.codec_type === 'audio')?.codec_name, 'aac', 'Opus reaches HLS as its AAC rendition');
    const api = (await (await fetch(gw.httpUrl('api/v1/streams/live/hevc'))).json()) as { transcoders: { from: string; to: string }[] };
    assert.ok(api.transcoders.some((x) => x.from === 'opus' && x.to === 'aac'), 'the HLS muxer reads the stream\'s AAC rendition');
    await pub.stop();
  });

  test('hls.variant mpegts: classic MPEG-TS segments, read and decoded by ffmpeg', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const classic = await startGateway({ hls: { variant: 'mpegts' } });
    try {
      const pub = publish(classic.rtmpUrl('live/ts'), { size: '320x240', rate: 25, gop: 25 });
      pubs.push(pub);
      await waitFor(() => classic.gateway.registry.get('live/ts')?.tracks.length === 2, 10_000, 'live/ts live');
      const media = await (await fetch(classic.httpUrl('live/ts/stream.m3u8'))).text();
      assert.match(media, /^#EXTM3U\n#EXT-X-VERSION:3\n/);
      assert.match(media, /#EXTINF:1(\.\d+)?,\n[0-9a-f]{8}-t\d+\.ts\n/);
      assert.doesNotMatch(media, /EXT-X-PART|EXT-X-MAP/);
      const segment = /\n([0-9a-f]{8}-t\d+\.ts)\n/.exec(media)![1]!;
      const bytes = Buffer.from(await (await fetch(classic.httpUrl(`live/ts/${segment}`))).arrayBuffer());
      assert.equal(bytes.length % 188, 0);
      assert.equal(bytes[0], 0x47, 'TS sync byte');
      await readsCleanly(classic.httpUrl('live/ts/index.m3u8'), 320, 240);
      await pub.stop();
    } finally {
      await classic.close();
    }
  });
});
