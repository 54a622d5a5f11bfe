/**
 * Acceptance: an Enhanced RTMP H265 stream (x265 output sent as `hvc1` FLV tags by livegate's own
 * RTMP client, since ffmpeg 5.1 cannot send E-RTMP) reaches an RTMP player and an HTTP-FLV reader
 * byte-exact: same sequence header, same frames, same timestamps.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { RtmpClient } from '../../gateway/src/protocols/rtmp/client.js';
import { readHttpFlv } from '../helpers/flv-client.js';
import { startGateway } from '../helpers/gateway.js';
import { accessUnits, buildHvcC, exVideoBody, lengthPrefixed, nalType } from '../helpers/hevc.js';
import { sleep, waitFor } from '../helpers/wait.js';

const FRAME_MS = 40;

test('Enhanced RTMP H265 reaches RTMP and HTTP-FLV players byte-exact', { timeout: 60_000 }, async () => {
  const file = readFileSync(new URL('../fixtures/h265-320x240-aud.hevc', import.meta.url));
  const aus = accessUnits(file);
  assert.equal(aus.length, 50);
  const first = aus[0]!;
  const vps = first.find((n) => nalType(n) === 32)!;
  const sps = first.find((n) => nalType(n) === 33)!;
  const pps = first.find((n) => nalType(n) === 34)!;
  const sent: { timestamp: number; body: Buffer }[] = [{ timestamp: 0, body: exVideoBody(1, 0, buildHvcC(vps, sps, pps)) }];
  aus.forEach((au, i) => {
    const irap = au.some((n) => nalType(n) >= 16 && nalType(n) <= 23);
    const frames = au.filter((n) => nalType(n) < 32); // parameter sets travel in the record
    // Alternate CodedFrames (with a zero composition time) and CodedFramesX, as encoders do both.
    sent.push({ timestamp: i * FRAME_MS, body: exVideoBody(irap ? 1 : 2, i % 2 === 0 ? 1 : 3, lengthPrefixed(frames)) });
  });

  const gw = await startGateway();
  const publisher = new RtmpClient();
  const player = new RtmpClient();
  try {
    await publisher.connect(gw.rtmpUrl('live/hevc'));
    await publisher.publish();
    publisher.sendMetadata({ width: 320, height: 240, videocodecid: 'hvc1', framerate: 25 });
    // The sequence header and the first GOP (25 frames), then the players join, then the rest live.
    for (const tag of sent.slice(0, 26)) publisher.sendMedia(9, tag.timestamp, tag.body);
    await waitFor(() => gw.gateway.registry.get('live/hevc')?.tracks[0]?.codec === 'h265', 5000, 'h265 track');
    const track = gw.gateway.registry.get('live/hevc')!.tracks[0]!;
    assert.equal(track.kind === 'video' && track.width, 320);
    assert.equal(track.kind === 'video' && track.height, 240);

    const received: { timestamp: number; payload: Buffer }[] = [];
    player.on('media', (m) => {
      if (m.typeId === 9) received.push({ timestamp: m.timestamp, payload: m.payload });
    });
    await player.connect(gw.rtmpUrl('live/hevc'));
    await player.play();
    const flv = readHttpFlv(gw.httpUrl('live/hevc.flv'));
    await waitFor(() => received.length >= 26 && flv.tags.filter((t) => t.type === 9).length >= 26, 5000, 'the cached GOP');
    for (const [i, tag] of sent.slice(26).entries()) {
      publisher.sendMedia(9, tag.timestamp, tag.body);
      if (i % 5 === 4) await sleep(5);
    }
    await waitFor(() => received.length >= sent.length && flv.tags.filter((t) => t.type === 9).length >= sent.length, 5000, 'every frame');

    const flvVideo = flv.tags.filter((t) => t.type === 9);
    for (const [name, got] of [
      ['RTMP', received.map((r) => ({ timestamp: r.timestamp, body: r.payload }))],
      ['HTTP-FLV', flvVideo.map((t) => ({ timestamp: t.timestamp, body: t.body }))],
    ] as const) {
      assert.equal(got.length, sent.length, `${name}: frame count`);
      for (let i = 0; i < sent.length; i++) {
        assert.equal(got[i]!.timestamp, sent[i]!.timestamp, `${name}: timestamp of tag ${i}`);
        assert.ok(got[i]!.body.equals(sent[i]!.body), `${name}: bytes of tag ${i}`);
      }
    }
    flv.close();
  } finally {
    publisher.close();
    player.close();
    await gw.close();
  }
});
