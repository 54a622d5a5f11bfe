/** IgnoredMediaReport: the first drop of a kind at once, then a count every interval while it lasts, then its end. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IgnoredMediaReport } from '../../../gateway/src/core/ignored-media.js';
import { createLogger } from '../../../gateway/src/core/log.js';

test('a condition is logged at once, counted every 10 s while it lasts, and its end is logged', () => {
  const lines: { level: string; msg: string; kind?: string; count?: number; total?: number; ignored?: number }[] = [];
  let now = 0;
  const report = new IgnoredMediaReport(createLogger('debug', (l) => lines.push(JSON.parse(l))), { now: () => now });
  // 30 fps of video without its parameter sets for 25 s.
  for (let i = 0; i < 750; i++) {
    now = (i * 1000) / 30;
    report.ignored('h264 video before its parameter sets ignored', 'video-config');
  }
  report.ignored('AAC frame truncated', 'audio-frame');
  assert.equal(report.count('video-config'), 750);
  report.usable('video-config');
  assert.equal(report.count('video-config'), 0);
  const video = lines.filter((l) => l.kind === 'video-config');
  assert.deepEqual(video.map((l) => [l.level, l.msg]), [
    ['warn', 'media ignored'],
    ['warn', 'media still ignored'],
    ['warn', 'media still ignored'],
    ['info', 'media usable again'],
  ]);
  assert.deepEqual(video.slice(1, 3).map((l) => l.count), [300, 300], 'a count per 10 s');
  assert.equal(video[3]!.ignored, 750);
  assert.equal(lines.filter((l) => l.kind === 'audio-frame').length, 1, 'each kind on its own');
});
