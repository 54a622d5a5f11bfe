/**
 * A stream that loses all its video (its publisher never sends a usable sequence header) keeps
 * playing its audio, and the operator is told: one warning at once, then one with the count every
 * 10 s while it lasts, and one line when a usable header finally comes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildAudioBody, buildVideoBody } from '../../gateway/src/format/flv/index.js';
import { RtmpClient } from '../../gateway/src/protocols/rtmp/client.js';
import { readHttpFlv } from '../helpers/flv-client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { sleep, waitFor } from '../helpers/wait.js';

const AVC_SEQ = Buffer.from('0142c00dffe100186742c00dd90141fb011000000300100000030320f142a48001000568cb83cb20', 'hex');

describe('video without its parameter sets', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw?.close();
  });

  test('is reported once, then with a count every 10 s while it lasts; the audio plays on', async () => {
    const client = new RtmpClient();
    await client.connect(gw.rtmpUrl('live/novideo'));
    await client.publish();
    client.sendMedia(8, 0, buildAudioBody({ codec: 'aac', packetType: 'sequence-start', data: Buffer.from('1190', 'hex'), sampleRate: 48000, channels: 2 }));
    // The AVC sequence header "got lost": frames arrive, the header does not.
    client.sendMedia(9, 0, buildVideoBody({ codec: 'h264', packetType: 'sequence-start', keyframe: true, compositionTimeMs: 0, data: Buffer.alloc(0) }));
    await waitFor(() => gw.gateway.registry.get('live/novideo'), 3000, 'stream live');
    const reader = readHttpFlv(gw.httpUrl('live/novideo.flv'));
    let ms = 0;
    const frame = (key: boolean) => buildVideoBody({ codec: 'h264', packetType: 'coded-frames', keyframe: key, compositionTimeMs: 0, data: Buffer.from('0000000265888400', 'hex') });
    const t0 = performance.now();
    while (performance.now() - t0 < 10_800) {
      client.sendMedia(9, ms, frame(ms % 1000 === 0));
      client.sendMedia(8, ms, buildAudioBody({ codec: 'aac', packetType: 'coded-frames', data: Buffer.from('de02004c61766335', 'hex'), sampleRate: 48000, channels: 2 }));
      ms += 40;
      await sleep(40);
    }
    const lines = gw.logs.filter((l) => l.path === 'live/novideo' && l.kind === 'video-config');
    assert.deepEqual(lines.slice(0, 2).map((l) => [l.level, l.msg]), [['warn', 'media ignored'], ['warn', 'media still ignored']]);
    const still = lines.find((l) => l.msg === 'media still ignored')!;
    assert.ok((still.count as number) >= 200, `${still.count} frames counted in ${still.periodMs} ms`);
    assert.equal(lines.filter((l) => l.msg === 'media ignored').length, 1, 'not one line per frame');
    assert.ok(gw.gateway.registry.get('live/novideo'), 'the stream is still live');
    assert.ok(reader.tags.filter((t) => t.type === 8).length > 200, 'its audio reached the reader');
    // The header arrives at last.
    client.sendMedia(9, ms, buildVideoBody({ codec: 'h264', packetType: 'sequence-start', keyframe: true, compositionTimeMs: 0, data: AVC_SEQ }));
    client.sendMedia(9, ms, frame(true));
    await waitFor(() => gw.logs.some((l) => l.path === 'live/novideo' && l.msg === 'media usable again' && l.kind === 'video-config'), 3000, 'the end of it reported');
    reader.close();
    client.close();
  });
});
