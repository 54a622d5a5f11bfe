import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAdtsHeader } from '../../../../gateway/src/codec/aac.js';
import { LatmDepacketizer, latmAudioSpecificConfig } from '../../../../gateway/src/format/rtp/mp4a-latm.js';
import { parseRtp, type RtpPacket } from '../../../../gateway/src/format/rtp/rtp-packet.js';

/**
 * GStreamer 1.22 `audiotestsrc num-buffers=12 ! audio/x-raw,rate=48000,channels=1 ! avenc_aac !
 * rtpmp4apay pt=96 ! udpsink`, the packets captured as [u16 length][packet]; its caps said
 * `config=40002310adca00` (cpresent=0).
 */
const CONFIG = Buffer.from('40002310adca00', 'hex');

function captured(): RtpPacket[] {
  const b = readFileSync(new URL('../../../fixtures/aac-latm-rtp.bin', import.meta.url));
  const out: RtpPacket[] = [];
  for (let p = 0; p < b.length; p += 2 + b.readUInt16BE(p)) out.push(parseRtp(b.subarray(p + 2, p + 2 + b.readUInt16BE(p)))!);
  return out;
}

test('StreamMuxConfig → AudioSpecificConfig: AAC-LC, 48 kHz, mono (golden 0x1188)', () => {
  assert.equal(latmAudioSpecificConfig(CONFIG).toString('hex'), '1188');
  assert.throws(() => latmAudioSpecificConfig(Buffer.from('c0002310', 'hex')), /audioMuxVersion 1/);
  assert.throws(() => latmAudioSpecificConfig(Buffer.from('00', 'hex')), /allStreamsSameTimeFraming|past the end/);
});

test('captured GStreamer packets: one AAC frame per AudioMuxElement, timestamps about 1024 apart', () => {
  const packets = captured();
  const d = new LatmDepacketizer();
  const frames = packets.flatMap((p) => d.push(p.payload, p.timestamp, p.marker));
  assert.equal(frames.length, packets.filter((p) => p.marker).length);
  assert.equal(frames.length, 5);
  assert.equal(d.malformed, 0);
  // GStreamer's timestamps are the clock's, rounded: 1023…1025 apart.
  for (let i = 1; i < frames.length; i++) assert.ok(Math.abs(((frames[i]!.timestamp - frames[i - 1]!.timestamp) >>> 0) - 1024) <= 2);
  // Each frame is a raw AAC frame (an ADTS sync word would mean the payload was misread).
  for (const f of frames) assert.throws(() => parseAdtsHeader(f.data));
  assert.ok(frames.every((f) => f.data.length > 2 && f.data.length < 1000));
});

test('a fragmented element is joined; a loss or a length past the end drops it, counted', () => {
  const frame = Buffer.alloc(600, 9);
  const element = Buffer.concat([Buffer.from([255, 255, 90]), frame]);
  const d = new LatmDepacketizer();
  assert.deepEqual(d.push(element.subarray(0, 300), 10, false), []);
  const out = d.push(element.subarray(300), 10, true);
  assert.equal(out.length, 1);
  assert.deepEqual(out[0]!.data, frame);
  assert.deepEqual(d.push(element.subarray(0, 300), 20, false), []);
  assert.deepEqual(d.push(element.subarray(300, 400), 20, false, true), [], 'a fragment was lost: the element is dropped');
  assert.deepEqual(d.push(element.subarray(400), 20, true), [], 'and its last fragment skipped');
  assert.equal(d.push(element, 30, true).length, 1, 'the next element is whole');
  assert.equal(d.push(Buffer.from([50, 1, 2]), 40, true).length, 0);
  assert.equal(d.malformed, 2);
});
