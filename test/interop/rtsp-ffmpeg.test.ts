/**
 * Acceptance (issue 15): ffmpeg publishes H264 + AAC over RTSP (TCP, then UDP); ffprobe reads it
 * back over RTSP (TCP and UDP), GStreamer's rtspsrc decodes it (TCP and UDP), and it plays over
 * HTTP-FLV. An RTMP stream plays over RTSP with monotonic timing; H265 + Opus round-trips; G.711
 * A-law reaches RTSP players as it is and FLV/HLS readers as AAC; refusals
 * reach ffmpeg as RTSP statuses; the API shows the sessions with their packet counts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { probe, publish, run, type ProbeStream, type Publisher } from '../helpers/ffmpeg.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { rtspsrcDecode } from '../helpers/gstreamer.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';
import { makeCert } from '../helpers/tls.js';

function assertAv(streams: ProbeStream[], what: string, width = 640, height = 360): void {
  const video = streams.find((s) => s.codec_type === 'video');
  const audio = streams.find((s) => s.codec_type === 'audio');
  assert.equal(video?.codec_name, 'h264', `${what}: video codec`);
  assert.equal(video?.width, width, `${what}: width`);
  assert.equal(video?.height, height, `${what}: height`);
  assert.equal(audio?.codec_name, 'aac', `${what}: audio codec`);
  assert.equal(audio?.sample_rate, '48000', `${what}: sample rate`);
}

/** ffprobe over RTSP with the transport given (the JSON streams, or ffprobe's error). */
function probeRtsp(url: string, transport: 'tcp' | 'udp'): Promise<ProbeStream[]> {
  return new Promise((resolve, reject) => {
    execFile('ffprobe', ['-v', 'error', '-rw_timeout', '15000000', '-rtsp_transport', transport, '-show_streams', '-of', 'json', url], { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`ffprobe ${transport} ${url}: ${stderr || err.message}`));
      resolve((JSON.parse(stdout) as { streams: ProbeStream[] }).streams);
    });
  });
}

type RtspApi = { sessions: { path: string; mode: string; transport: string; state: string; tracks: { codec: string; packetsReceived?: number; packetsLost?: number; jitterMs?: number }[]; unitsSent?: number }[]; udpDropped: number };

describe('RTSP publish from ffmpeg → RTSP (ffprobe, GStreamer) / HTTP-FLV play', { concurrency: false }, () => {
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

  for (const transport of ['tcp', 'udp'] as const) {
    test(`ffmpeg publishes over ${transport.toUpperCase()}: read back by ffprobe (TCP, UDP), rtspsrc (TCP, UDP) and HTTP-FLV`, async (t) => {
      if (!requireTools(t, 'ffmpeg', 'ffprobe', 'gst-launch-1.0')) return;
      const path = `live/rtsp-${transport}`;
      const pub = publish(gw.rtspUrl(path), { format: 'rtsp', rtspTransport: transport, size: '640x360', gop: 30 });
      pubs.push(pub);
      await waitFor(() => gw.gateway.registry.get(path)?.tracks.length === 2, 15000, `${path} live with two tracks`);
      assert.equal(gw.gateway.registry.get(path)!.publisher.protocol, 'rtsp');
      const [overTcp, overUdp, flv] = await Promise.all([probeRtsp(gw.rtspUrl(path), 'tcp'), probeRtsp(gw.rtspUrl(path), 'udp'), probe(gw.httpUrl(`${path}.flv`))]);
      assertAv(overTcp, 'RTSP over TCP');
      assertAv(overUdp, 'RTSP over UDP');
      assertAv(flv, 'HTTP-FLV');
      for (const protocols of ['tcp', 'udp'] as const) {
        const gst = await rtspsrcDecode(gw.rtspUrl(path), { protocols, videoFrames: 60, audioBuffers: 40 });
        assert.equal(gst.code, 0, `rtspsrc over ${protocols} decoded 60 frames and 40 AAC buffers:\n${gst.output.slice(-2000)}`);
      }
      const api = (await (await fetch(gw.httpUrl('api/v1/rtsp/sessions'))).json()) as RtspApi;
      const session = api.sessions.find((s) => s.path === path && s.mode === 'publish');
      assert.equal(session?.transport, transport);
      assert.equal(session?.state, 'recording');
      const video = session!.tracks.find((x) => x.codec === 'H264')!;
      assert.ok(video.packetsReceived! > 100, `packets received: ${video.packetsReceived}`);
      assert.equal(video.packetsLost, 0, 'no loss on loopback');
      await pub.stop();
      await waitFor(() => gw.gateway.registry.get(path) === undefined, 8000, `${path} ended after the publisher left`);
    });
  }

  test('an RTMP stream plays over RTSP: ffmpeg decodes 10 s without timestamp warnings, rtspsrc decodes it', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe', 'gst-launch-1.0')) return;
    const pub = publish(gw.rtmpUrl('live/from-rtmp'), { size: '640x360', gop: 30 });
    pubs.push(pub);
    await waitFor(() => gw.gateway.registry.get('live/from-rtmp')?.tracks.length === 2, 15000, 'RTMP stream live');
    const player = run('ffmpeg', ['-hide_banner', '-loglevel', 'warning', '-rtsp_transport', 'tcp', '-i', gw.rtspUrl('live/from-rtmp'), '-t', '10', '-f', 'null', '-']);
    const [code, gst] = await Promise.all([player.exited, rtspsrcDecode(gw.rtspUrl('live/from-rtmp'), { protocols: 'tcp', videoFrames: 90, audioBuffers: 60 })]);
    assert.equal(code, 0, player.stderr());
    assert.doesNotMatch(player.stderr(), /dts|non.?monoton|out of order|invalid/i, player.stderr());
    assert.equal(gst.code, 0, gst.output.slice(-2000));
    const api = (await (await fetch(gw.httpUrl('api/v1/rtsp/sessions'))).json()) as RtspApi;
    assert.equal(api.sessions.filter((s) => s.mode === 'play').length, 0, 'players gone: their sessions are gone');
    await pub.stop();
  });

  test('H265 + Opus over RTSP: read back with the same codecs and size', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const pub = run('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-re',
      '-f', 'lavfi', '-i', 'testsrc2=size=480x270:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000',
      '-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'keyint=25:bframes=0:log-level=error', '-c:a', 'libopus', '-b:a', '64k',
      '-f', 'rtsp', '-rtsp_transport', 'tcp', gw.rtspUrl('live/hevc'),
    ]);
    pubs.push(pub);
    await waitFor(() => gw.gateway.registry.get('live/hevc')?.tracks.length === 2, 15000, 'live/hevc live with two tracks');
    assert.deepEqual(gw.gateway.registry.get('live/hevc')!.tracks.map((x) => x.codec).sort(), ['h265', 'opus']);
    const streams = await probeRtsp(gw.rtspUrl('live/hevc'), 'tcp');
    const video = streams.find((x) => x.codec_type === 'video');
    assert.equal(video?.codec_name, 'hevc');
    assert.equal(video?.width, 480);
    assert.equal(video?.height, 270);
    assert.equal(streams.find((x) => x.codec_type === 'audio')?.codec_name, 'opus');
    await pub.stop();
  });

  test('H264 + G.711 A-law over RTSP: RTSP players get PCMA as it came, FLV and HLS readers AAC made from it', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const pub = run('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-re',
      '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=8000',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-c:a', 'pcm_alaw', '-ar', '8000', '-ac', '1',
      '-f', 'rtsp', '-rtsp_transport', 'tcp', gw.rtspUrl('live/g711'),
    ]);
    pubs.push(pub);
    await waitFor(() => gw.gateway.registry.get('live/g711')?.tracks.length === 2, 15000, 'live/g711 live with two tracks');
    assert.deepEqual(gw.gateway.registry.get('live/g711')!.tracks.map((x) => x.codec).sort(), ['h264', 'pcma']);
    const [rtsp, flv, hls] = await Promise.all([probeRtsp(gw.rtspUrl('live/g711'), 'tcp'), probe(gw.httpUrl('live/g711.flv')), probe(gw.httpUrl('live/g711/index.m3u8'))]);
    assert.equal(rtsp.find((x) => x.codec_type === 'audio')?.codec_name, 'pcm_alaw');
    assert.equal(rtsp.find((x) => x.codec_type === 'audio')?.sample_rate, '8000');
    assert.equal(flv.find((x) => x.codec_type === 'audio')?.codec_name, 'aac');
    assert.equal(hls.find((x) => x.codec_type === 'audio')?.codec_name, 'aac');
    // The AAC is the tone: decode a second of the FLV audio and count zero crossings.
    const pcm = await new Promise<Buffer>((resolve, reject) =>
      execFile('ffmpeg', ['-v', 'error', '-i', gw.httpUrl('live/g711.flv'), '-map', '0:a', '-t', '2', '-f', 's16le', '-ac', '1', '-ar', '48000', '-'], { encoding: 'buffer', timeout: 20_000, maxBuffer: 1 << 22 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    const samples = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length >> 1).slice(48000);
    let crossings = 0;
    for (let i = 1; i < samples.length; i++) if ((samples[i - 1]! < 0) !== (samples[i]! < 0)) crossings++;
    const hz = (crossings / 2) / (samples.length / 48000);
    assert.ok(Math.abs(hz - 1000) < 50, `the AAC carries the 1 kHz tone (${hz.toFixed(0)} Hz)`);
    await pub.stop();
  });

  test('B-frames over RTSP (which carries no decode times): FLV and RTSP readers decode 5 s without timestamp warnings', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const pub = run('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-re',
      '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000',
      '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '3', '-g', '30', '-c:a', 'aac',
      '-f', 'rtsp', '-rtsp_transport', 'tcp', gw.rtspUrl('live/bframes'),
    ]);
    pubs.push(pub);
    await waitFor(() => gw.gateway.registry.get('live/bframes')?.tracks.length === 2, 15000, 'live/bframes live');
    const decode = (url: string, extra: string[] = []) => run('ffmpeg', ['-hide_banner', '-loglevel', 'warning', ...extra, '-i', url, '-t', '5', '-f', 'null', '-']);
    const [flv, rtsp] = [decode(gw.httpUrl('live/bframes.flv')), decode(gw.rtspUrl('live/bframes'), ['-rtsp_transport', 'tcp'])];
    assert.deepEqual(await Promise.all([flv.exited, rtsp.exited]), [0, 0]);
    assert.doesNotMatch(flv.stderr(), /dts|out of order|non.?monoton/i, flv.stderr());
    assert.doesNotMatch(rtsp.stderr(), /dts|out of order|non.?monoton/i, rtsp.stderr());
    const units = gw.gateway.registry.get('live/bframes')!;
    assert.equal(units.videoReordered, true, 'the stream knows it has B-frames (WebRTC players refuse them clearly)');
    await pub.stop();
  });

  test('GStreamer rtspclientsink publishes H264 + AAC (ANNOUNCE/RECORD): read back over RTSP', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe', 'gst-launch-1.0')) return;
    const pub = run('gst-launch-1.0', [
      '-q', 'videotestsrc', 'is-live=true', '!', 'video/x-raw,width=320,height=240,framerate=25/1', '!', 'x264enc', 'tune=zerolatency', 'key-int-max=25', '!',
      'rtspclientsink', 'name=s', `location=${gw.rtspUrl('live/gst')}`,
      'audiotestsrc', 'is-live=true', '!', 'audio/x-raw,rate=48000,channels=1', '!', 'avenc_aac', '!', 's.',
    ]);
    pubs.push(pub);
    await waitFor(() => gw.gateway.registry.get('live/gst')?.tracks.length === 2, 15000, `live/gst live with two tracks (${pub.stderr()})`);
    const streams = await probeRtsp(gw.rtspUrl('live/gst'), 'tcp');
    assert.equal(streams.find((x) => x.codec_type === 'video')?.codec_name, 'h264');
    assert.equal(streams.find((x) => x.codec_type === 'video')?.width, 320);
    assert.equal(streams.find((x) => x.codec_type === 'audio')?.codec_name, 'aac');
    await pub.stop();
  });

  test('refusals reach ffmpeg as RTSP statuses: a busy path (409), a path that is not live (404)', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const first = publish(gw.rtspUrl('live/busy'), { format: 'rtsp' });
    pubs.push(first);
    await waitFor(() => gw.gateway.registry.get('live/busy')?.tracks.length === 2, 15000, 'live/busy live');
    const second = publish(gw.rtspUrl('live/busy'), { format: 'rtsp', duration: 3 });
    assert.notEqual(await second.exited, 0, 'a second publisher of a live path fails');
    assert.match(second.stderr(), /409|Conflict/, second.stderr());
    await assert.rejects(probeRtsp(gw.rtspUrl('live/nothing-here'), 'tcp'), /404/);
    assert.ok(gw.gateway.registry.get('live/busy'), 'the live stream was not disturbed');
  });
});

describe('RTSPS (RTSP over TLS, with http.tls\'s certificate)', { concurrency: false }, () => {
  let gw: TestGateway;

  before(async () => {
    if (!hasTool('ffmpeg') && process.env.CI !== 'true') return;
    gw = await startGateway({ http: { tls: { port: 0, ...makeCert() } }, rtsp: { tlsPort: 0 } });
  });
  after(async () => {
    await gw?.close();
  });

  test('ffmpeg publishes over rtsps:// (interleaved in TLS); ffprobe reads it back over rtsps://', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe', 'openssl')) return;
    const port = gw.gateway.ports.rtsps!;
    assert.ok(port > 0, 'RTSPS listens');
    const pub = publish(`rtsps://127.0.0.1:${port}/live/secure`, { format: 'rtsp', size: '320x240' });
    try {
      await waitFor(() => gw.gateway.registry.get('live/secure')?.tracks.length === 2, 15000, 'published over RTSPS');
      const streams = await probeRtsp(`rtsps://127.0.0.1:${port}/live/secure`, 'tcp');
      assert.equal(streams.find((x) => x.codec_type === 'video')?.width, 320);
      assert.equal(streams.find((x) => x.codec_type === 'audio')?.codec_name, 'aac');
    } finally {
      await pub.stop();
    }
  });
});
