/**
 * Opus packet durations from the TOC byte and frame count (RFC 6716 §3.1–3.2), which the Opus → AAC
 * transcoder relies on to keep its clock: libopus packets of every frame size, and code 1/2/3 packets
 * packed by hand from them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { opusChannels, opusSamples } from '../../../gateway/src/codec/opus.js';
import { encodeOpus, pcm16, tone } from '../../helpers/audio.js';

const pcm = pcm16(5760 * 2, 2, tone(440, 0.3));
const twenty = encodeOpus(pcm, 2, 0, 960).map((p) => p.data);
const toc = twenty[0]![0]!;
const body = (i: number) => twenty[i]!.subarray(1);

describe('opusSamples', () => {
  for (const frame of [120, 240, 480, 960, 1920, 2880, 5760]) {
    test(`packets of ${frame} samples`, () => {
      for (const p of encodeOpus(pcm, 2, 0, frame)) assert.equal(opusSamples(p.data), frame);
    });
  }
  const cases: { name: string; packet: Buffer; samples: number | null }[] = [
    { name: 'code 1: two 20 ms frames', packet: Buffer.concat([Buffer.from([(toc & 0xfc) | 1]), body(0), body(0)]), samples: 1920 },
    { name: 'code 2: two 20 ms frames', packet: Buffer.concat([Buffer.from([(toc & 0xfc) | 2, body(0).length]), body(0), body(1)]), samples: 1920 },
    { name: 'code 3: six 20 ms frames (120 ms)', packet: Buffer.from([(toc & 0xfc) | 3, 0x80 | 6]), samples: 5760 },
    { name: 'code 3: seven 20 ms frames (over 120 ms)', packet: Buffer.from([(toc & 0xfc) | 3, 7]), samples: null },
    { name: 'code 3 without its frame count byte', packet: Buffer.from([(toc & 0xfc) | 3]), samples: null },
    { name: 'code 3 with zero frames', packet: Buffer.from([(toc & 0xfc) | 3, 0]), samples: null },
    { name: 'empty', packet: Buffer.alloc(0), samples: null },
  ];
  for (const c of cases) test(c.name, () => assert.equal(opusSamples(c.packet), c.samples));

  test('channels from the TOC stereo flag', () => {
    assert.equal(opusChannels(twenty[0]!), 2);
    assert.equal(opusChannels(encodeOpus(pcm16(960, 1, tone(440, 0.3)), 1, 0)[0]!.data), 1);
    assert.equal(opusChannels(Buffer.alloc(0)), null);
  });
});
