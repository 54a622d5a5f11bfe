/**
 * Publishes a known H264 stream (real x264 output, see fixtures/README.md) plus AAC frames over RTMP
 * with livegate's RTMP client, in real time, so a test can compare what viewers get with exactly
 * what was published.
 */
import { readFileSync } from 'node:fs';
import { adtsToAudioSpecificConfig, splitAdts } from '../../gateway/src/codec/aac.js';
import { buildAvcC } from '../../gateway/src/codec/h264.js';
import { joinLengthPrefixed, splitAnnexB } from '../../gateway/src/codec/nal-units.js';
import { RtmpClient } from '../../gateway/src/protocols/rtmp/client.js';
import { buildAudioBody, buildVideoBody } from '../../gateway/src/format/flv/index.js';
import { sleep } from './wait.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url));

export interface KnownAu {
  nals: Buffer[];
  keyframe: boolean;
}

/** Access units of h264-320x240-aud.h264 (50 frames, keyframe every 25), AUDs removed. */
export function knownVideo(): { aus: KnownAu[]; sps: Buffer; pps: Buffer } {
  const aus: KnownAu[] = [];
  for (const nal of splitAnnexB(fixture('h264-320x240-aud.h264'))) {
    const type = nal[0]! & 0x1f;
    if (type === 9) aus.push({ nals: [], keyframe: false });
    else {
      const au = aus[aus.length - 1]!;
      au.nals.push(nal);
      if (type === 5) au.keyframe = true;
    }
  }
  const all = aus.flatMap((a) => a.nals);
  return { aus, sps: all.find((n) => (n[0]! & 0x1f) === 7)!, pps: all.find((n) => (n[0]! & 0x1f) === 8)! };
}

/** Publishes `loops` passes of the known video (25 fps) and a 1 kHz AAC tone (48 kHz) in real time. */
export async function publishKnown(url: string, loops = 1): Promise<{ client: RtmpClient; sent: KnownAu[]; done: Promise<void> }> {
  const { aus, sps, pps } = knownVideo();
  const adts = splitAdts(fixture('sine1k-48000-mono.aac'));
  const asc = adtsToAudioSpecificConfig(adts[0]!.header);
  const client = new RtmpClient();
  await client.connect(url);
  await client.publish();
  client.sendMedia(9, 0, buildVideoBody({ codec: 'h264', packetType: 'sequence-start', keyframe: true, compositionTimeMs: 0, data: buildAvcC({ sps: [sps], pps: [pps] }) }));
  client.sendMedia(8, 0, buildAudioBody({ codec: 'aac', packetType: 'sequence-start', data: asc, sampleRate: 48000, channels: 1 }));
  const sent: KnownAu[] = [];
  // Closing the client ends the loop (so a long-running source does not outlive its test).
  let stopped = false;
  client.on('close', () => (stopped = true));
  const done = (async () => {
    const t0 = performance.now();
    let audioIndex = 0;
    for (let loop = 0; loop < loops && !stopped; loop++) {
      for (const [i, au] of aus.entries()) {
        if (stopped) return;
        const ms = (loop * aus.length + i) * 40;
        // Audio up to this video frame's time (1024 samples at 48 kHz = 21.33 ms each).
        while ((audioIndex * 1024 * 1000) / 48000 <= ms) {
          const frame = adts[audioIndex % adts.length]!.frame;
          client.sendMedia(8, Math.round((audioIndex * 1024 * 1000) / 48000), buildAudioBody({ codec: 'aac', packetType: 'coded-frames', data: frame, sampleRate: 48000, channels: 1 }));
          audioIndex++;
        }
        const data = joinLengthPrefixed(au.nals.filter((n) => ![7, 8].includes(n[0]! & 0x1f)));
        client.sendMedia(9, ms, buildVideoBody({ codec: 'h264', packetType: 'coded-frames', keyframe: au.keyframe, compositionTimeMs: 0, data }));
        sent.push(au);
        const wait = t0 + ms + 40 - performance.now();
        if (wait > 0) await sleep(wait);
      }
    }
  })();
  return { client, sent, done };
}
