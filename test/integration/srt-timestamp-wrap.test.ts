/**
 * Acceptance (issue 4): SRT packet timestamps are 32-bit microseconds and wrap every ~71.6 min
 * (draft-sharabayko-srt-01 §4.5.1.1). Both of livegate's halves cross the wrap without a glitch:
 * livegate's caller starts its clock 2 s before the wrap and publishes to livegate's listener (the
 * receiver's TSBPD must go on delivering evenly), and livegate's listener starts its clock 2 s
 * before the wrap when serving srt-live-transmit (libsrt's receiver must see a clean stream).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { SrtCaller } from '../../gateway/src/protocols/srt/caller.js';
import { LIVE_PAYLOAD_SIZE } from '../../gateway/src/protocols/srt/packet.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { readHttpFlv } from '../helpers/flv-client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { checkTs, sltRead } from '../helpers/srt.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';

const WRAP_US = 2 ** 32;
const BEFORE_WRAP_US = 2_000_000;

describe('the 32-bit SRT timestamp wrap', { concurrency: false }, () => {
  let gw: TestGateway;
  let pub: Publisher | undefined;

  before(async () => {
    if (!hasTool('ffmpeg') && process.env.CI !== 'true') return;
    gw = await startGateway();
  });

  after(async () => {
    await pub?.stop();
    await gw?.close();
  });

  test('livegate caller → livegate listener: TSBPD delivery goes on evenly across the wrap', async (t) => {
    if (!requireTools(t, 'ffmpeg')) return;
    const caller = await SrtCaller.connect({
      host: '127.0.0.1',
      port: gw.srtPort,
      streamId: 'publish:live/wrap-in',
      clockStartUs: WRAP_US - BEFORE_WRAP_US,
    });
    const ffmpeg = spawn(
      'ffmpeg',
      ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-t', '5',
        '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-f', 'mpegts', 'pipe:1'],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let pending = Buffer.alloc(0);
    ffmpeg.stdout.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      while (pending.length >= LIVE_PAYLOAD_SIZE) {
        caller.write(pending.subarray(0, LIVE_PAYLOAD_SIZE));
        pending = pending.subarray(LIVE_PAYLOAD_SIZE);
      }
    });
    await waitFor(() => gw.gateway.registry.get('live/wrap-in')?.tracks.length === 1, 5000, 'stream live');
    const reader = readHttpFlv(gw.httpUrl('live/wrap-in.flv'));
    await new Promise((r) => ffmpeg.once('exit', r));
    await sleep(500);
    const session = gw.gateway.srt!.sessions().find((s) => s.path === 'live/wrap-in')!;
    reader.close();
    caller.close();
    const frames = reader.tags.filter((x) => x.type === 9 && x.body[1] === 1).map((x) => x.at);
    // 25 fps for the ~4 s after the reader joined: frames keep coming, no hole at the wrap.
    assert.ok(frames.length >= 80, `video frames read across the wrap: ${frames.length}`);
    const gaps = frames.slice(1).map((a, i) => a - frames[i]!);
    assert.ok(Math.max(...gaps) < 200, `longest gap between frames: ${Math.max(...gaps).toFixed(0)} ms`);
    assert.equal(session.stats.packetsDropped, 0, 'no packet given up at the wrap');
    assert.equal(session.transportErrors, 0);
    assert.ok(session.stats.packetsReceived > 100);
  });

  test('livegate listener → srt-live-transmit: libsrt reads a clean stream across the wrap', async (t) => {
    if (!requireTools(t, 'ffmpeg', 'srt-live-transmit')) return;
    pub = publish(gw.srtUrl('publish:live/wrap-out', 'pkt_size=1316'), { format: 'mpegts', size: '320x240' });
    await waitFor(() => gw.gateway.registry.get('live/wrap-out')?.tracks.length === 2, 10000, 'stream live');
    gw.gateway.srt!.clockStartUs = WRAP_US - BEFORE_WRAP_US;
    try {
      const r = sltRead(`srt://127.0.0.1:${gw.srtPort}?streamid=read:live/wrap-out`);
      await sleep(4500);
      await r.stop();
      const got = checkTs(r.bytes());
      assert.deepEqual(got.codecs, ['aac', 'h264']);
      assert.ok((got.units.h264 ?? 0) > 100, `video units read across the wrap: ${got.units.h264}`);
      assert.deepEqual(got.warnings, [], 'no continuity error or lost sync');
      const log = await waitFor(() => gw.logs.find((l) => l.msg === 'connection closed' && l.path === 'live/wrap-out' && l.mode === 'read'), 3000, 'reader closed');
      assert.equal(log.packetsDropped, 0);
    } finally {
      gw.gateway.srt!.clockStartUs = 0;
    }
  });
});
