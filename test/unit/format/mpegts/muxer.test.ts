/**
 * MPEG-TS muxer: CRC-32/MPEG-2 against ffmpeg's PAT, a round trip through livegate's demuxer, and
 * ffprobe (a real peer) reading the muxed file: codecs, size and every frame.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { TS_PACKET_SIZE, TsDemuxer, type TsAccessUnit } from '../../../../gateway/src/format/mpegts/demuxer.js';
import { TsMuxer, crc32Mpeg2 } from '../../../../gateway/src/format/mpegts/muxer.js';
import { requireTools } from '../../../helpers/tools.js';

const SOURCE = readFileSync(new URL('../../../fixtures/h264-aac.m2t', import.meta.url));

function demux(data: Buffer): TsAccessUnit[] {
  const units: TsAccessUnit[] = [];
  const d = new TsDemuxer({ unit: (u) => units.push(u) });
  d.push(data);
  d.flush();
  return units;
}

function remux(): { ts: Buffer; units: TsAccessUnit[] } {
  const units = demux(SOURCE);
  const mux = new TsMuxer([
    { pid: 0x100, codec: 'h264' },
    { pid: 0x101, codec: 'aac' },
  ]);
  const parts = units.map((u) => {
    const key = u.codec === 'h264' && u.data.includes(Buffer.from([0, 0, 1, 0x65]));
    return mux.mux(u.codec === 'h264' ? 0x100 : 0x101, u.pts!, u.dts!, u.data, key);
  });
  return { ts: Buffer.concat(parts), units };
}

describe('MPEG-TS muxer', () => {
  test('CRC-32/MPEG-2 matches the CRC ffmpeg wrote on its PAT', () => {
    const pat = SOURCE.subarray(0, TS_PACKET_SIZE);
    const start = 5 + pat[4]!;
    const length = ((pat[start + 1]! & 0x0f) << 8) | pat[start + 2]!;
    const section = pat.subarray(start, start + 3 + length);
    assert.equal(crc32Mpeg2(section.subarray(0, section.length - 4)), section.readUInt32BE(section.length - 4));
  });

  test('round trip: what is muxed demuxes to the same units and times', () => {
    const { ts, units } = remux();
    assert.equal(ts.length % TS_PACKET_SIZE, 0);
    const back = demux(ts);
    assert.equal(back.length, units.length);
    // A demuxer emits a PES when the next one on its PID starts: compare PID by PID.
    for (const codec of ['h264', 'aac'] as const) {
      const a = units.filter((u) => u.codec === codec);
      const b = back.filter((u) => u.codec === codec);
      assert.equal(b.length, a.length, codec);
      b.forEach((u, i) => {
        assert.equal(u.pts, a[i]!.pts, `${codec} ${i} pts`);
        assert.equal(u.dts, a[i]!.dts, `${codec} ${i} dts`);
        assert.ok(u.data.equals(a[i]!.data), `${codec} ${i} bytes`);
      });
    }
  });

  test('ffprobe reads the muxed stream: H264 320x240 with 50 frames, AAC 48 kHz', (t) => {
    if (!requireTools(t, 'ffprobe')) return;
    const file = join(mkdtempSync(join(tmpdir(), 'livegate-ts-')), 'out.ts');
    writeFileSync(file, remux().ts);
    const r = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-show_streams', '-of', 'json', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const streams = (JSON.parse(r.stdout) as { streams: { codec_name: string; width?: number; height?: number; sample_rate?: string; nb_read_frames?: string }[] }).streams;
    const v = streams.find((s) => s.codec_name === 'h264')!;
    const a = streams.find((s) => s.codec_name === 'aac')!;
    assert.deepEqual([v.width, v.height, v.nb_read_frames], [320, 240, '50']);
    assert.equal(a.sample_rate, '48000');
    assert.equal(r.stderr, '', 'no complaints from ffprobe');
  });
});
