/**
 * HLS playlists against RFC 8216bis, as a table of golden playlists: the LL-HLS media playlist
 * (server control, part info, map, program date-time, parts of the recent segments only, preload
 * hint), a discontinuity with a new map, a delta update (EXT-X-SKIP), and the multivariant playlist.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  renderMediaPlaylist,
  renderMultivariantPlaylist,
  skippableSegments,
  type MediaPlaylistModel,
  type PlaylistSegment,
} from '../../../gateway/src/format/hls/media-playlist.js';

const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);

/** Segment `msn` of 2 s in 10 parts of 0.2 s, the first independent. */
function segment(msn: number, over: Partial<PlaylistSegment> = {}): PlaylistSegment {
  const parts = Array.from({ length: 10 }, (_, i) => ({ duration: 0.2, uri: `p${msn * 10 + i}.m4s`, independent: i === 0 }));
  return { msn, duration: 2, uri: `s${msn}.m4s`, parts, programDateTime: T0 + msn * 2000, mapUri: 'init0.mp4', discontinuity: false, complete: true, ...over };
}

const live: MediaPlaylistModel = {
  targetDuration: 2,
  partTarget: 0.2,
  discontinuitySequence: 0,
  segments: [segment(4), segment(5), segment(6), segment(7), { ...segment(8), complete: false, duration: 0, parts: segment(8).parts.slice(0, 3) }],
  preloadHint: 'p83.m4s',
};

const cases: { name: string; model: MediaPlaylistModel; skip?: boolean; expected: string[] }[] = [
  {
    name: 'live LL-HLS window: parts only for the last three target durations and the segment being written',
    model: live,
    expected: [
      '#EXTM3U',
      '#EXT-X-VERSION:9',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-MEDIA-SEQUENCE:4',
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6,CAN-SKIP-UNTIL=12',
      '#EXT-X-PART-INF:PART-TARGET=0.2',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-MAP:URI="init0.mp4"',
      '#EXT-X-PROGRAM-DATE-TIME:2026-12-05T12:00:08.000Z',
      '#EXTINF:2,',
      's4.m4s',
      ...[5, 6, 7].flatMap((n) => [
        `#EXT-X-PROGRAM-DATE-TIME:2026-12-05T12:00:${n * 2}.000Z`,
        `#EXT-X-PART:DURATION=0.2,URI="p${n * 10}.m4s",INDEPENDENT=YES`,
        ...Array.from({ length: 9 }, (_, i) => `#EXT-X-PART:DURATION=0.2,URI="p${n * 10 + 1 + i}.m4s"`),
        '#EXTINF:2,',
        `s${n}.m4s`,
      ]),
      '#EXT-X-PROGRAM-DATE-TIME:2026-12-05T12:00:16.000Z',
      '#EXT-X-PART:DURATION=0.2,URI="p80.m4s",INDEPENDENT=YES',
      '#EXT-X-PART:DURATION=0.2,URI="p81.m4s"',
      '#EXT-X-PART:DURATION=0.2,URI="p82.m4s"',
      '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p83.m4s"',
    ],
  },
  {
    name: 'a new init segment: EXT-X-DISCONTINUITY and the new EXT-X-MAP before the segment that needs it',
    model: { ...live, segments: [segment(5), segment(6, { discontinuity: true, mapUri: 'init1.mp4', parts: [] })], preloadHint: null },
    expected: [
      '#EXTM3U',
      '#EXT-X-VERSION:9',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-MEDIA-SEQUENCE:5',
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6,CAN-SKIP-UNTIL=12',
      '#EXT-X-PART-INF:PART-TARGET=0.2',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-MAP:URI="init0.mp4"',
      '#EXT-X-PROGRAM-DATE-TIME:2026-12-05T12:00:10.000Z',
      ...Array.from({ length: 10 }, (_, i) => `#EXT-X-PART:DURATION=0.2,URI="p${50 + i}.m4s"${i === 0 ? ',INDEPENDENT=YES' : ''}`),
      '#EXTINF:2,',
      's5.m4s',
      '#EXT-X-DISCONTINUITY',
      '#EXT-X-MAP:URI="init1.mp4"',
      '#EXT-X-PROGRAM-DATE-TIME:2026-12-05T12:00:12.000Z',
      '#EXTINF:2,',
      's6.m4s',
    ],
  },
  {
    name: 'delta update: the segments older than CAN-SKIP-UNTIL become EXT-X-SKIP, the map is named again',
    model: { ...live, discontinuitySequence: 3, segments: [0, 1, 2, 3, 4, 5, 6, 7].map((n) => segment(n)), preloadHint: 'p80.m4s' },
    skip: true,
    expected: [
      '#EXTM3U',
      '#EXT-X-VERSION:9',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-MEDIA-SEQUENCE:0',
      '#EXT-X-DISCONTINUITY-SEQUENCE:3',
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6,CAN-SKIP-UNTIL=12',
      '#EXT-X-PART-INF:PART-TARGET=0.2',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-SKIP:SKIPPED-SEGMENTS=2',
      '#EXT-X-MAP:URI="init0.mp4"',
      ...[2, 3, 4].flatMap((n) => [`#EXT-X-PROGRAM-DATE-TIME:2026-12-05T12:00:0${n * 2}.000Z`, '#EXTINF:2,', `s${n}.m4s`]),
      ...[5, 6, 7].flatMap((n) => [
        `#EXT-X-PROGRAM-DATE-TIME:2026-12-05T12:00:${String(n * 2).padStart(2, '0')}.000Z`,
        ...Array.from({ length: 10 }, (_, i) => `#EXT-X-PART:DURATION=0.2,URI="p${n * 10 + i}.m4s"${i === 0 ? ',INDEPENDENT=YES' : ''}`),
        '#EXTINF:2,',
        `s${n}.m4s`,
      ]),
      '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p80.m4s"',
    ],
  },
];

for (const c of cases) {
  test(c.name, () => {
    assert.deepEqual(renderMediaPlaylist(c.model, { skip: c.skip ?? false }).split('\n'), [...c.expected, '']);
  });
}

test('what a delta update may skip: complete segments ending more than 6 target durations before the end, never the live ones', () => {
  assert.equal(skippableSegments(live), 0, 'an 8.6 s playlist has nothing older than 12 s');
  const long = { ...live, segments: Array.from({ length: 12 }, (_, i) => segment(i)) };
  assert.equal(skippableSegments(long), 6, '24 s: the first 6 segments end 12 s or more before the end');
  assert.equal(renderMediaPlaylist(long, { skip: false }).includes('EXT-X-SKIP'), false, 'only when asked');
});

test('durations: at most 5 decimals, no float noise', () => {
  const m = { ...live, segments: [segment(1, { duration: 0.1 + 0.2, parts: [{ duration: 0.1 + 0.2, uri: 'p.m4s', independent: true }] })], preloadHint: null };
  const text = renderMediaPlaylist(m);
  assert.match(text, /#EXTINF:0\.3,\n/);
  assert.match(text, /DURATION=0\.3,/);
});

test('multivariant playlist: bandwidth, CODECS, RESOLUTION and the media playlist', () => {
  assert.equal(
    renderMultivariantPlaylist({ bandwidth: 3_125_000, averageBandwidth: 2_500_000, codecs: ['hvc1.1.6.L93.B0', 'mp4a.40.2'], resolution: { width: 1280, height: 720 }, uri: 'stream.m3u8?token=x' }),
    '#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=3125000,AVERAGE-BANDWIDTH=2500000,CODECS="hvc1.1.6.L93.B0,mp4a.40.2",RESOLUTION=1280x720\nstream.m3u8?token=x\n',
  );
});
