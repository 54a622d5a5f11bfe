/**
 * Acceptance (issue 5, part 3): ffmpeg publishes H264 + Opus (1 kHz sine) as MPEG-TS over SRT;
 * RTMP and HTTP-FLV readers get H264 + AAC 48 kHz, the AAC decodes (ffmpeg) back to the 1 kHz tone,
 * several FLV readers share the stream's one transcoder, and SRT readers still get the Opus as sent.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { AacFeed } from '../../gateway/src/transcode/aac-feed.js';
import { probe, run, type ProbeStream, type Publisher } from '../helpers/ffmpeg.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { toneShare, zeroCrossingHz } from '../helpers/audio.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

const PATH = 'live/x';

function assertH264Aac(streams: ProbeStream[], what: string): void {
  const video = streams.find((s) => s.codec_type === 'video');
  const audio = streams.find((s) => s.codec_type === 'audio');
  assert.equal(video?.codec_name, 'h264', `${what}: video codec`);
  assert.equal(video?.width, 640, `${what}: width`);
  assert.equal(video?.height, 360, `${what}: height`);
  assert.equal(audio?.codec_name, 'aac', `${what}: audio codec`);
  assert.equal(audio?.sample_rate, '48000', `${what}: sample rate`);
  assert.equal(audio?.channels, 2, `${what}: channels`);
}

/** ffmpeg reads `url` and writes `seconds` of its audio as 48 kHz mono float PCM. */
function decodeAudio(url: string, seconds: number): Promise<Float32Array> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-rw_timeout', '15000000', '-i', url, '-t', String(seconds), '-vn', '-ac', '1', '-ar', '48000', '-f', 'f32le', 'pipe:1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`ffmpeg decode of ${url} exited ${code}: ${err}`));
      const all = Buffer.concat(chunks);
      resolve(new Float32Array(all.buffer, all.byteOffset, Math.floor(all.length / 4)));
    });
  });
}

describe('Opus from an SRT publisher → AAC for RTMP and HTTP-FLV readers', { concurrency: false }, () => {
  let gw: TestGateway;
  let pub: Publisher | undefined;
  const readers: Publisher[] = [];

  before(async () => {
    if (!hasTool('ffmpeg') && process.env.CI !== 'true') return;
    gw = await startGateway();
  });

  after(async () => {
    await Promise.all(readers.map((r) => r.stop()));
    await pub?.stop();
    await gw?.close();
  });

  test('ffmpeg publishes H264 + Opus over SRT', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    pub = run('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-re',
      '-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-bf', '0', '-g', '50', '-pix_fmt', 'yuv420p',
      '-c:a', 'libopus', '-b:a', '96k', '-ac', '2',
      '-f', 'mpegts', gw.srtUrl(`publish:${PATH}`, 'pkt_size=1316'),
    ]);
    await waitFor(() => gw.gateway.registry.get(PATH)?.tracks.length === 2, 15_000, `${PATH} live with two tracks`);
    assert.deepEqual(gw.gateway.registry.get(PATH)!.tracks.map((x) => x.codec).sort(), ['h264', 'opus']);
  });

  test('ffprobe over RTMP and HTTP-FLV finds H264 640x360 + AAC 48 kHz stereo', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const [rtmp, flv] = await Promise.all([probe(gw.rtmpUrl(PATH)), probe(gw.httpUrl(`${PATH}.flv`))]);
    assertH264Aac(rtmp, 'RTMP');
    assertH264Aac(flv, 'HTTP-FLV');
    assert.equal(gw.logs.filter((l) => l.msg === 'transcoder started' && l.to === 'aac').length, 1, 'one transcoder for both readers');
  });

  test('the FLV’s AAC decodes back to the 1 kHz tone', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const pcm = await decodeAudio(gw.httpUrl(`${PATH}.flv`), 3);
    assert.ok(pcm.length >= 48000 * 2.5, `${pcm.length} samples decoded`);
    const steady = pcm.subarray(48000 * 0.5);
    const share = toneShare(steady, 48000, 1000);
    const hz = zeroCrossingHz(steady, 48000);
    let peak = 0;
    for (const v of steady) peak = Math.max(peak, Math.abs(v));
    assert.ok(share > 0.95, `1 kHz holds ${(share * 100).toFixed(1)} % of the power`);
    assert.ok(Math.abs(hz - 1000) < 2, `zero crossings say ${hz.toFixed(2)} Hz`);
    // lavfi's sine is at 1/8 of full scale.
    assert.ok(peak > 0.08 && peak < 0.2, `peak level ${peak.toFixed(3)}`);
    t.diagnostic(`1 kHz share ${(share * 100).toFixed(2)} %, ${hz.toFixed(2)} Hz, peak ${peak.toFixed(3)}`);
  });

  test('two FLV readers share the stream’s one transcoder', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    for (let i = 0; i < 2; i++) readers.push(run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', gw.httpUrl(`${PATH}.flv`), '-t', '20', '-f', 'null', '-']));
    const stream = gw.gateway.registry.get(PATH)!;
    await waitFor(() => stream.readers().filter((r) => r.protocol === 'http-flv').length === 2, 10_000, 'two FLV readers');
    const feed = AacFeed.existing(stream)!;
    await waitFor(() => feed.subscriberCount === 2, 5000, 'both on the feed');
    assert.equal(stream.readers().filter((r) => r.protocol === 'transcoder').length, 1, 'one transcoder reader');
    assert.equal(stream.readers().find((r) => r.protocol === 'transcoder')?.id, `transcode-opus-aac/${PATH}`);
    const out0 = feed.framesOut;
    await new Promise((r) => setTimeout(r, 1000));
    const perSecond = feed.framesOut - out0;
    // 46.9 AAC frames per second of audio: one transcoder's worth, not two.
    assert.ok(perSecond > 35 && perSecond < 60, `${perSecond} AAC frames in 1 s`);
    assert.equal(feed.current?.framesDropped, 0);
    const api = (await (await fetch(gw.httpUrl(`api/v1/streams/${PATH}`))).json()) as { transcoders: { from: string; to: string; readers: number; framesOut: number }[] };
    assert.deepEqual(api.transcoders.map((x) => `${x.from}→${x.to} ×${x.readers}`), ['opus→aac ×2'], 'the API shows the one shared transcoder');
    await Promise.all(readers.splice(0).map((r) => r.stop()));
  });

  test('an SRT reader of the same path still gets the Opus as sent', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const streams = await probe(gw.srtUrl(`read:${PATH}`));
    assert.equal(streams.find((s) => s.codec_type === 'video')?.codec_name, 'h264');
    assert.equal(streams.find((s) => s.codec_type === 'audio')?.codec_name, 'opus');
  });
});
