/**
 * AudioSpecificConfig and ADTS on real ffmpeg 5.1 output (native AAC encoder): `-f adts` headers,
 * and the FLV sequence header ffmpeg writes for 44.1 kHz stereo (5 bytes: with the SBR sync extension).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ParseError } from '../../../gateway/src/core/errors.js';
import {
  adtsToAudioSpecificConfig,
  buildAdtsHeader,
  buildAudioSpecificConfig,
  codecString,
  parseAdtsHeader,
  parseAudioSpecificConfig,
  splitAdts,
} from '../../../gateway/src/codec/aac.js';

const ASC_CASES = [
  { name: 'LC 44.1 kHz stereo (ffmpeg FLV, with sync extension)', hex: '121056e500', objectType: 2, rate: 44100, channels: 2 },
  { name: 'LC 48 kHz mono', hex: '1188', objectType: 2, rate: 48000, channels: 1 },
  { name: 'LC 44.1 kHz stereo', hex: '1210', objectType: 2, rate: 44100, channels: 2 },
  { name: 'HE-AAC (explicit SBR) 24→48 kHz stereo', hex: '2b118800', objectType: 2, rate: 24000, channels: 2, sbr: true, ext: 48000 },
  { name: 'LC 5.1 at 48 kHz', hex: '11b0', objectType: 2, rate: 48000, channels: 6 },
];

describe('AudioSpecificConfig', () => {
  for (const c of ASC_CASES) {
    test(c.name, () => {
      const hex = c.hex.length % 2 ? c.hex + '0' : c.hex;
      const asc = parseAudioSpecificConfig(Buffer.from(hex, 'hex'));
      assert.equal(asc.objectType, c.objectType);
      assert.equal(asc.sampleRate, c.rate);
      assert.equal(asc.channels, c.channels);
      if (c.sbr) {
        assert.equal(asc.sbr, true);
        assert.equal(asc.extensionSampleRate, c.ext);
        assert.equal(codecString(asc), 'mp4a.40.5');
      } else assert.equal(codecString(asc), 'mp4a.40.2');
    });
  }
  test('build → golden bytes → parse', () => {
    assert.equal(buildAudioSpecificConfig({ objectType: 2, sampleRate: 48000, channels: 1 }).toString('hex'), '1188');
    assert.equal(buildAudioSpecificConfig({ objectType: 2, sampleRate: 44100, channels: 2 }).toString('hex'), '1210');
    const explicit = buildAudioSpecificConfig({ objectType: 2, sampleRate: 50000, channels: 2 });
    assert.equal(parseAudioSpecificConfig(explicit).sampleRate, 50000);
  });
  test('garbage throws ParseError', () => {
    assert.throws(() => parseAudioSpecificConfig(Buffer.from('12', 'hex')), ParseError);
    assert.throws(() => parseAudioSpecificConfig(Buffer.from('16', 'hex').subarray(0, 0)), ParseError);
    assert.throws(() => parseAudioSpecificConfig(Buffer.from('16c0', 'hex')), ParseError, 'sampling index 13 is reserved');
  });
});

describe('ADTS', () => {
  // First 7 bytes of ffmpeg's -f adts output, 44.1 kHz stereo and 48 kHz mono.
  const A44S = Buffer.from('fff150802b3ffc', 'hex');
  const A48M = Buffer.from('fff14c401b7ffc', 'hex');
  test('header fields', () => {
    const h = parseAdtsHeader(A44S);
    assert.deepEqual([h.objectType, h.sampleRate, h.channels, h.headerLength, h.frameLength], [2, 44100, 2, 7, 0x159]);
    const m = parseAdtsHeader(A48M);
    assert.deepEqual([m.objectType, m.sampleRate, m.channels, m.frameLength], [2, 48000, 1, 0xdb]);
    assert.equal(adtsToAudioSpecificConfig(h).toString('hex'), '1210');
    assert.equal(adtsToAudioSpecificConfig(m).toString('hex'), '1188');
  });
  test('build header → same bytes as ffmpeg', () => {
    assert.equal(buildAdtsHeader({ objectType: 2, samplingFrequencyIndex: 4, channelConfiguration: 2 }, 0x159 - 7).toString('hex'), A44S.toString('hex'));
    assert.equal(buildAdtsHeader({ objectType: 2, samplingFrequencyIndex: 3, channelConfiguration: 1 }, 0xdb - 7).toString('hex'), A48M.toString('hex'));
  });
  test('split a stream of frames', () => {
    const f1 = Buffer.concat([buildAdtsHeader({ objectType: 2, samplingFrequencyIndex: 3, channelConfiguration: 1 }, 3), Buffer.from('010203', 'hex')]);
    const f2 = Buffer.concat([buildAdtsHeader({ objectType: 2, samplingFrequencyIndex: 3, channelConfiguration: 1 }, 2), Buffer.from('0405', 'hex')]);
    const frames = splitAdts(Buffer.concat([f1, f2]));
    assert.deepEqual(frames.map((f) => f.frame.toString('hex')), ['010203', '0405']);
    assert.throws(() => splitAdts(Buffer.concat([f1, f2.subarray(0, 8)])), ParseError, 'truncated frame');
    assert.throws(() => splitAdts(Buffer.from('00112233445566', 'hex')), ParseError, 'no syncword');
  });
});
