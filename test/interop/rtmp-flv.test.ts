/**
 * Acceptance: ffmpeg publishes RTMP; ffprobe reads it back over RTMP and HTTP-FLV; WS-FLV tags start
 * on a keyframe with sequence headers first and monotonic timestamps; a mid-stream joiner gets a
 * keyframe within 100 ms; unpublish ends every reader and the path can be published again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseAudioBody, parseVideoBody } from '../../gateway/src/format/flv/index.js';
import { publish, probe, run as runFfmpeg, type Publisher } from '../helpers/ffmpeg.js';
import { readHttpFlv, readWsFlv, type ReadTag } from '../helpers/flv-client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';

function isVideoKeyframe(tag: ReadTag): boolean {
  if (tag.type !== 9) return false;
  const v = parseVideoBody(tag.body);
  return v.packetType === 'coded-frames' && v.frameType === 1;
}

describe('RTMP publish → RTMP / HTTP-FLV / WS-FLV play (ffmpeg)', { concurrency: false }, () => {
  let gw: TestGateway;
  let pub: Publisher;

  before(async () => {
    if (!hasTool('ffmpeg') && process.env.CI !== 'true') return;
    gw = await startGateway();
    pub = publish(gw.rtmpUrl('live/test'), { size: '640x360', gop: 30 });
    await waitFor(() => gw.gateway.registry.get('live/test')?.tracks.length === 2, 10000, 'stream with two tracks');
  });

  after(async () => {
    await pub?.stop();
    await gw?.close();
  });

  test('ffprobe reads RTMP with the right codecs and size', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const streams = await probe(gw.rtmpUrl('live/test'));
    const video = streams.find((s) => s.codec_type === 'video');
    const audio = streams.find((s) => s.codec_type === 'audio');
    assert.equal(video?.codec_name, 'h264');
    assert.equal(video?.width, 640);
    assert.equal(video?.height, 360);
    assert.equal(audio?.codec_name, 'aac');
    assert.equal(audio?.sample_rate, '48000');
  });

  test('ffprobe reads HTTP-FLV with the right codecs and size', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const streams = await probe(gw.httpUrl('live/test.flv'));
    const video = streams.find((s) => s.codec_type === 'video');
    const audio = streams.find((s) => s.codec_type === 'audio');
    assert.equal(video?.codec_name, 'h264');
    assert.equal(video?.width, 640);
    assert.equal(video?.height, 360);
    assert.equal(audio?.codec_name, 'aac');
  });

  test('WS-FLV: sequence headers first, then a keyframe, monotonic timestamps', async (t) => {
    if (!requireTools(t, 'ffmpeg')) return;
    const ws = readWsFlv(`ws://127.0.0.1:${gw.httpPort}/live/test.flv`);
    await waitFor(() => ws.tags.filter((x) => x.type === 9).length > 60, 10000, '60 video tags');
    ws.close();
    const media = ws.tags.filter((x) => x.type === 8 || x.type === 9);
    const firstVideo = media.findIndex((x) => x.type === 9);
    const firstAudio = media.findIndex((x) => x.type === 8);
    assert.equal(parseVideoBody(media[firstVideo]!.body).packetType, 'sequence-start', 'first video tag is the AVC sequence header');
    assert.equal(parseAudioBody(media[firstAudio]!.body).packetType, 'sequence-start', 'first audio tag is the AAC sequence header');
    const frames = media.filter((x) => x.type === 9 && parseVideoBody(x.body).packetType === 'coded-frames');
    assert.ok(isVideoKeyframe(frames[0]!), 'first video frame is a keyframe');
    const firstFrameIndex = media.indexOf(frames[0]!);
    const firstCodedAudio = media.findIndex((x) => x.type === 8 && parseAudioBody(x.body).packetType === 'coded-frames');
    assert.ok(firstCodedAudio > firstFrameIndex, 'no audio frame before the first keyframe');
    for (const type of [8, 9]) {
      const ts = media.filter((x) => x.type === type).map((x) => x.timestamp);
      for (let i = 1; i < ts.length; i++) assert.ok(ts[i]! >= ts[i - 1]!, `type ${type} timestamps monotonic at ${i}: ${ts[i - 1]} → ${ts[i]}`);
    }
    const keyframes = frames.filter(isVideoKeyframe).length;
    assert.ok(keyframes >= 2, `a keyframe every 30 frames: saw ${keyframes} in ${frames.length}`);
  });

  test('a reader joining mid-stream gets a video keyframe within 100 ms', async (t) => {
    if (!requireTools(t, 'ffmpeg')) return;
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      await sleep(170 + i * 90); // land at different points of the GOP
      const r = readHttpFlv(gw.httpUrl('live/test.flv'));
      const key = await waitFor(() => r.tags.find(isVideoKeyframe), 3000, 'keyframe');
      delays.push(key.at - r.connectedAt);
      r.close();
    }
    assert.ok(Math.max(...delays) < 100, `first keyframe after ${delays.map((d) => d.toFixed(1)).join(', ')} ms`);
  });

  test('publisher disconnect ends every reader; the path can be published again', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const httpReader = readHttpFlv(gw.httpUrl('live/test.flv'));
    const wsReader = readWsFlv(`ws://127.0.0.1:${gw.httpPort}/live/test.flv`);
    const rtmpPlayer = publishProbe(gw.rtmpUrl('live/test'));
    await waitFor(() => httpReader.tags.length > 10 && wsReader.tags.length > 10, 5000, 'readers flowing');
    await waitFor(() => (gw.gateway.registry.get('live/test')?.readerCount ?? 0) >= 3, 5000, 'three readers');
    await pub.stop();
    assert.equal(await withTimeout(httpReader.ended, 5000), 'end', 'HTTP-FLV response ends cleanly');
    assert.equal(await withTimeout(wsReader.ended, 5000), 'end', 'WS-FLV closes with 1000');
    const code = await withTimeout(rtmpPlayer.exited, 8000);
    assert.equal(code, 0, `RTMP player (ffmpeg) ends normally: ${rtmpPlayer.stderr()}`);
    assert.equal(gw.gateway.registry.get('live/test'), undefined);
    pub = publish(gw.rtmpUrl('live/test'), { size: '320x240' });
    await waitFor(() => gw.gateway.registry.get('live/test')?.tracks.length === 2, 10000, 'republished');
    const streams = await probe(gw.httpUrl('live/test.flv'));
    assert.equal(streams.find((s) => s.codec_type === 'video')?.width, 320);
  });
});

/** An ffmpeg RTMP player that copies the stream to nowhere until the stream ends. */
function publishProbe(url: string) {
  return runFfmpeg('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', url, '-c', 'copy', '-f', 'null', '-']);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`timed out after ${ms} ms`)), ms))]);
}
