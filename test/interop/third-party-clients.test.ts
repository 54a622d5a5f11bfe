/**
 * Regressions found with clients livegate's other tests do not use (issue 10):
 * - ffmpeg relaying MPEG-TS, ADTS and SRT input to RTMP with `-c copy` sends an empty AAC sequence
 *   header first: the publisher stays on for 10 s, readers get its audio and video;
 * - an RTMP play lists exactly the stream's audio and video (no phantom data stream), so
 *   `ffmpeg -map 0 -c copy` to mkv works;
 * - GStreamer 1.22 `flvmux ! rtmp2sink` publishes and `rtmp2src` plays;
 * - MP3 audio reaches SRT readers (MPEG-TS stream type 0x03);
 * - a track an output cannot carry is logged once and shown in the API for that reader.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildAudioBody, buildVideoBody } from '../../gateway/src/format/flv/index.js';
import { RtmpClient } from '../../gateway/src/protocols/rtmp/client.js';
import { probe, publish, run, type ProbeStream, type Publisher } from '../helpers/ffmpeg.js';
import { readHttpFlv, type FlvReaderClient } from '../helpers/flv-client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { publishKnown } from '../helpers/h264-source.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';

const kinds = (streams: ProbeStream[]) => streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort();

/** Seconds of media an FLV reader got, per tag type (8 audio, 9 video), from its tag timestamps. */
function spanSeconds(reader: FlvReaderClient, type: 8 | 9): number {
  const ts = reader.tags.filter((t) => t.type === type && t.body.length > 2).map((t) => t.timestamp);
  return ts.length < 2 ? 0 : (Math.max(...ts) - Math.min(...ts)) / 1000;
}

describe('third-party clients', { concurrency: false }, () => {
  let gw: TestGateway;
  let dir: string;
  const children: Publisher[] = [];

  before(async () => {
    if (!hasTool('ffmpeg') && process.env.CI !== 'true') return;
    gw = await startGateway();
    dir = mkdtempSync(join(tmpdir(), 'livegate-clients-'));
  });

  after(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await gw?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const spawnKept = (cmd: string, args: string[]): Publisher => {
    const p = run(cmd, args);
    children.push(p);
    return p;
  };

  test('ffmpeg -c copy from MPEG-TS, from ADTS and from an SRT read, to RTMP: each publishes for 10 s, readers get audio and video', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const ts = join(dir, 'input.ts');
    const aac = join(dir, 'input.aac');
    const make = (args: string[]) => assert.equal(spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]).status, 0);
    make(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000', '-t', '11', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-c:a', 'aac', '-f', 'mpegts', ts]);
    make(['-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=44100', '-t', '11', '-c:a', 'aac', '-f', 'adts', aac]);

    // The SRT source the relay reads from.
    children.push(publish(gw.srtUrl('publish:live/srt-source', 'pkt_size=1316'), { format: 'mpegts', size: '320x240', gop: 25, duration: 14 }));
    await waitFor(() => gw.gateway.registry.get('live/srt-source')?.tracks.length === 2, 10000, 'SRT source live');

    const copyTo = (input: string[], path: string) =>
      spawnKept('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...input, '-t', '10', '-c', 'copy', '-f', 'flv', gw.rtmpUrl(path)]);
    const pubs = {
      ts: copyTo(['-re', '-i', ts], 'live/from-ts'),
      aac: copyTo(['-re', '-i', aac], 'live/from-aac'),
      relay: copyTo(['-i', gw.srtUrl('read:live/srt-source')], 'live/relay'),
    };
    const expected: { [k in keyof typeof pubs]: string[] } = {
      ts: ['audio:aac', 'video:h264'],
      aac: ['audio:aac'],
      relay: ['audio:aac', 'video:h264'],
    };
    const readers: { [k: string]: FlvReaderClient } = {};
    for (const key of Object.keys(pubs) as (keyof typeof pubs)[]) {
      const path = key === 'ts' ? 'live/from-ts' : key === 'aac' ? 'live/from-aac' : 'live/relay';
      await waitFor(() => (gw.gateway.registry.get(path)?.tracks.length ?? 0) === expected[key].length, 8000, `${path} with its tracks`);
      readers[key] = readHttpFlv(gw.httpUrl(`${path}.flv`));
    }
    assert.deepEqual(kinds(await probe(gw.rtmpUrl('live/from-ts'))), expected.ts, 'ffprobe over RTMP, while ffmpeg relays the TS');
    const codes = await Promise.all(Object.values(pubs).map((p) => p.exited));
    for (const [i, key] of (Object.keys(pubs) as (keyof typeof pubs)[]).entries()) {
      assert.equal(codes[i], 0, `${key}: ffmpeg ran to the end: ${pubs[key].stderr()}`);
      const reader = readers[key]!;
      assert.equal(await reader.ended, 'end', `${key}: its reader ended with the stream, cleanly`);
      assert.ok(spanSeconds(reader, 8) >= 7, `${key}: ${spanSeconds(reader, 8)} s of audio`);
      if (expected[key].includes('video:h264')) assert.ok(spanSeconds(reader, 9) >= 7, `${key}: ${spanSeconds(reader, 9)} s of video`);
    }
    // The empty AudioSpecificConfig was dropped with one warning, and its end said so.
    for (const path of ['live/from-ts', 'live/from-aac']) {
      const warned = gw.logs.filter((l) => l.path === path && l.msg === 'media ignored' && l.kind === 'audio-config');
      assert.equal(warned.length, 1, `${path}: one warning`);
      assert.equal(warned[0]!.level, 'warn');
      assert.ok(gw.logs.some((l) => l.path === path && l.msg === 'media usable again' && l.kind === 'audio-config'));
    }
    assert.ok(!gw.logs.some((l) => /AudioSpecificConfig/.test(String(l.reason)) && l.msg === 'stream ended'), 'no stream ended over it');
  });

  test('RTMP and HTTP-FLV plays list exactly the audio and video, metadata updates mid-stream included; ffmpeg -map 0 -c copy to mkv works', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    const source = await publishKnown(gw.rtmpUrl('live/play'), 100);
    await waitFor(() => gw.gateway.registry.get('live/play')?.tracks.length === 2, 10000, 'live/play');
    // onMetaData sent while the players probe (OBS and GStreamer send it again mid-stream): it
    // must not become a data or subtitle stream.
    const metadataSoon = () => setTimeout(() => source.client.sendMetadata({ width: 320, height: 240, videocodecid: 7, audiocodecid: 10, encoder: 'test' }), 300);
    metadataSoon();
    const [rtmp, flv] = await Promise.all([probe(gw.rtmpUrl('live/play')), probe(gw.httpUrl('live/play.flv'))]);
    assert.deepEqual(kinds(rtmp), ['audio:aac', 'video:h264'], 'ffprobe over RTMP: no data stream');
    // ffprobe has gone: its RTMP play is logged as ended, with its path.
    await waitFor(() => gw.logs.some((l) => l.msg === 'play ended' && l.protocol === 'rtmp' && l.path === 'live/play'), 3000, 'play ended, with its path');
    assert.deepEqual(kinds(flv), ['audio:aac', 'video:h264'], 'ffprobe over HTTP-FLV: no subtitle stream');
    const mkv = join(dir, 'out.mkv');
    metadataSoon();
    const copy = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', gw.rtmpUrl('live/play'), '-map', '0', '-c', 'copy', '-t', '3', mkv]);
    assert.equal(await copy.exited, 0, copy.stderr());
    assert.deepEqual(kinds(await probe(mkv)), ['audio:aac', 'video:h264']);
    source.client.close();
    await source.done;
  });

  test('GStreamer: flvmux ! rtmp2sink publishes, rtmp2src plays (decoded video and audio)', async (t) => {
    if (!requireTools(t, 'gst-launch-1.0', 'ffprobe')) return;
    const url = gw.rtmpUrl('live/gst');
    spawnKept('gst-launch-1.0', [
      '-q', 'videotestsrc', 'is-live=true', 'num-buffers=300', '!', 'video/x-raw,format=I420,width=320,height=240,framerate=25/1', '!',
      'x264enc', 'tune=zerolatency', 'speed-preset=ultrafast', 'key-int-max=25', '!', 'h264parse', '!', 'flvmux', 'streamable=true', 'name=m', '!',
      'rtmp2sink', `location=${url}`,
      'audiotestsrc', 'is-live=true', '!', 'audioconvert', '!', 'avenc_aac', '!', 'aacparse', '!', 'm.',
    ]);
    await waitFor(() => gw.gateway.registry.get('live/gst')?.tracks.length === 2, 10000, 'GStreamer publisher live');
    assert.deepEqual(kinds(await probe(gw.httpUrl('live/gst.flv'))), ['audio:aac', 'video:h264']);
    const video = join(dir, 'gst.yuv');
    const audio = join(dir, 'gst.pcm');
    const player = run('gst-launch-1.0', [
      '-e', 'rtmp2src', `location=${url}`, '!', 'flvdemux', 'name=d',
      'd.video', '!', 'queue', '!', 'h264parse', '!', 'avdec_h264', '!', 'videoconvert', '!', 'video/x-raw,format=I420', '!', 'filesink', `location=${video}`,
      'd.audio', '!', 'queue', '!', 'aacparse', '!', 'avdec_aac', '!', 'audioconvert', '!', 'audio/x-raw,format=S16LE', '!', 'filesink', `location=${audio}`,
    ]);
    const frameBytes = (320 * 240 * 3) / 2;
    await waitFor(() => {
      try {
        return statSync(video).size >= 50 * frameBytes && statSync(audio).size > 44100;
      } catch {
        return false;
      }
    }, 20000, 'rtmp2src: 50 decoded frames and some sound');
    await player.stop();
  });

  test('MP3 from an RTMP publisher reaches SRT readers (MPEG-TS stream type 0x03) and FLV readers', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'ffprobe')) return;
    children.push(
      spawnKept('ffmpeg', [
        '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=44100',
        '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-c:a', 'libmp3lame', '-b:a', '96k', '-f', 'flv', gw.rtmpUrl('live/mp3'),
      ]),
    );
    await waitFor(() => gw.gateway.registry.get('live/mp3')?.tracks.length === 2, 10000, 'live/mp3');
    const audio = gw.gateway.registry.get('live/mp3')!.tracks.find((x) => x.kind === 'audio');
    assert.deepEqual(audio?.kind === 'audio' && [audio.codec, audio.sampleRate], ['mp3', 44100]);
    const [srt, flv] = await Promise.all([probe(gw.srtUrl('read:live/mp3')), probe(gw.httpUrl('live/mp3.flv'))]);
    assert.deepEqual(kinds(srt), ['audio:mp3', 'video:h264'], 'SRT');
    assert.equal(srt.find((s) => s.codec_type === 'audio')?.sample_rate, '44100');
    assert.deepEqual(kinds(flv), ['audio:mp3', 'video:h264'], 'HTTP-FLV');
  });

  test('a track an output cannot carry (AV1 to an SRT reader) is logged once and shown in the API for that reader', async (t) => {
    if (!requireTools(t, 'ffmpeg')) return;
    const client = new RtmpClient();
    await client.connect(gw.rtmpUrl('live/av1'));
    await client.publish();
    const av1C = Buffer.from('81000c00', 'hex');
    client.sendMedia(9, 0, buildVideoBody({ codec: 'av1', packetType: 'sequence-start', keyframe: true, compositionTimeMs: 0, data: av1C }));
    client.sendMedia(8, 0, buildAudioBody({ codec: 'aac', packetType: 'sequence-start', data: Buffer.from('1190', 'hex'), sampleRate: 48000, channels: 2 }));
    let stop = false;
    const feeding = (async () => {
      for (let ms = 0; !stop; ms += 40) {
        client.sendMedia(9, ms, buildVideoBody({ codec: 'av1', packetType: 'coded-frames', keyframe: ms % 1000 === 0, compositionTimeMs: 0, data: Buffer.from('12000a0b0000000', 'hex') }));
        client.sendMedia(8, ms, buildAudioBody({ codec: 'aac', packetType: 'coded-frames', data: Buffer.from('de02004c61766335', 'hex'), sampleRate: 48000, channels: 2 }));
        await sleep(40);
      }
    })();
    const readers = ['srt-a', 'srt-b'].map(() => spawnKept('ffmpeg', ['-hide_banner', '-loglevel', 'quiet', '-i', gw.srtUrl('read:live/av1'), '-c', 'copy', '-f', 'null', '-']));
    type View = { readers: { list: { protocol: string; omittedTracks: { codec: string; kind: string; reason: string }[] }[] } };
    const view = await waitFor(async () => {
      const v = (await (await fetch(gw.httpUrl('api/v1/streams/live/av1'))).json()) as View;
      return v.readers.list.filter((r) => r.protocol === 'srt').length === 2 ? v : null;
    }, 10000, 'two SRT readers in the API');
    for (const r of view.readers.list.filter((x) => x.protocol === 'srt')) {
      assert.deepEqual(r.omittedTracks.map((o) => [o.kind, o.codec]), [['video', 'av1']]);
      assert.match(r.omittedTracks[0]!.reason, /MPEG-TS \(SRT\) cannot carry AV1/);
    }
    const logged = gw.logs.filter((l) => l.msg === 'track not carried to readers' && l.path === 'live/av1');
    assert.deepEqual(logged.map((l) => [l.level, l.protocol, l.codec]), [['warn', 'srt', 'av1']], 'once for the stream, not once per reader');
    stop = true;
    await feeding;
    for (const r of readers) await r.stop();
    client.close();
  });
});
