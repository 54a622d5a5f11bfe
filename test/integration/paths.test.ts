/**
 * One path normalisation for every protocol: a table of what users type (RTMP app + stream key, SRT
 * stream ids in their three forms, HTTP request targets for FLV, WHEP and WHIP) and the path each
 * names, or its refusal. Then the same rows on the wire: HTTP request targets sent raw to a running
 * gateway, SRT stream ids through ffprobe, and an RTMP publish with an empty key refused by name.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { normalizePath, rtmpStreamPath } from '../../gateway/src/core/path.js';
import type { VideoTrack } from '../../gateway/src/core/media-unit.js';
import { parseTarget } from '../../gateway/src/http/http-server.js';
import { FLV_ROUTE } from '../../gateway/src/protocols/flv/flv-server.js';
import { parseStreamId } from '../../gateway/src/protocols/srt/stream-id.js';
import { probe, run } from '../helpers/ffmpeg.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { publishKnown } from '../helpers/h264-source.js';
import { requireTools } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

type Row = { protocol: 'rtmp' | 'srt' | 'http'; input: string; path: string | null };

/** `app|key` for RTMP; a stream id for SRT; a request target for HTTP. */
const TABLE: Row[] = [
  { protocol: 'rtmp', input: 'live|cam1', path: 'live/cam1' },
  { protocol: 'rtmp', input: 'live|a//b', path: 'live/a/b' },
  { protocol: 'rtmp', input: 'live/sub|cam1', path: 'live/sub/cam1' },
  { protocol: 'rtmp', input: '|live/cam1', path: 'live/cam1' },
  { protocol: 'rtmp', input: 'live|', path: null }, // OBS with no stream key
  { protocol: 'rtmp', input: 'live|/', path: null },
  { protocol: 'rtmp', input: 'live|../x', path: null },
  { protocol: 'srt', input: 'publish:live/cam1', path: 'live/cam1' },
  { protocol: 'srt', input: 'read://live/cam1', path: 'live/cam1' },
  { protocol: 'srt', input: 'read:live//cam1/', path: 'live/cam1' },
  { protocol: 'srt', input: '#!::r=/live/cam1,m=publish', path: 'live/cam1' },
  { protocol: 'srt', input: 'live//cam1', path: 'live/cam1' },
  { protocol: 'srt', input: 'read:live/cam 1', path: null },
  { protocol: 'srt', input: '#!::r=live/../x', path: null },
  { protocol: 'http', input: '/live/cam1.flv', path: 'live/cam1' },
  { protocol: 'http', input: '//live/cam1.flv', path: 'live/cam1' }, // not the host "live"
  { protocol: 'http', input: '/live//cam1.flv?token=x', path: 'live/cam1' },
  { protocol: 'http', input: '/live/cam1/.flv', path: 'live/cam1' },
  { protocol: 'http', input: 'http://example.net//live/cam1.flv', path: 'live/cam1' },
  { protocol: 'http', input: '/live%2Fcam1.flv', path: 'live/cam1' },
  { protocol: 'http', input: '/live/../cam1.flv', path: null },
  { protocol: 'http', input: '/live/%zz.flv', path: null },
];

function pathOf(row: Row): string | null {
  if (row.protocol === 'rtmp') {
    const [app, key] = row.input.split('|') as [string, string];
    const r = rtmpStreamPath(app, key);
    return 'path' in r ? r.path : null;
  }
  if (row.protocol === 'srt') {
    const r = parseStreamId(row.input);
    return r.ok ? normalizePath(r.request.path) : null;
  }
  const target = parseTarget(row.input);
  const m = target && FLV_ROUTE.exec(target.pathname);
  return m?.groups?.path !== undefined ? normalizePath(m.groups.path) : null;
}

describe('path normalisation', () => {
  test('one table across RTMP, SRT stream ids and HTTP routes', () => {
    for (const row of TABLE) assert.equal(pathOf(row), row.path, `${row.protocol} ${row.input}`);
  });

  test('an empty RTMP stream key is refused with a message that says so', () => {
    const r = rtmpStreamPath('live', '');
    assert.ok('error' in r && /empty stream key/.test(r.error));
  });
});

describe('paths on the wire', { concurrency: false }, () => {
  let gw: TestGateway;
  let source: Awaited<ReturnType<typeof publishKnown>> | undefined;

  before(async () => {
    gw = await startGateway();
    source = await publishKnown(gw.rtmpUrl('live/cam1'), 600);
    await waitFor(() => gw.gateway.registry.get('live/cam1')?.tracks.some((t): t is VideoTrack => t.kind === 'video'), 5000, 'stream live');
  });
  after(async () => {
    source?.client.close();
    await gw?.close();
  });

  /** The status line of a raw GET with `target` exactly as written. */
  const status = (target: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const s = connect(gw.httpPort, '127.0.0.1', () => s.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
      let head = '';
      s.on('data', (d: Buffer) => {
        head += d.toString('latin1');
        const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
        if (m) {
          s.destroy();
          resolve(Number(m[1]));
        }
      });
      s.on('error', reject);
    });

  test('HTTP request targets name the same stream as the table says', async () => {
    for (const row of TABLE.filter((r) => r.protocol === 'http')) {
      const code = await status(row.input);
      if (row.path === 'live/cam1') assert.equal(code, 200, row.input);
      else assert.ok(code === 400 || code === 404, `${row.input}: ${code}`);
    }
  });

  test('SRT stream ids (ffprobe, libsrt) name the same stream', async (t) => {
    if (!requireTools(t, 'ffprobe')) return;
    for (const id of ['read://live/cam1', 'read:live//cam1/']) {
      const streams = await probe(gw.srtUrl(id), 15000);
      assert.ok(streams.some((s) => s.codec_type === 'video'), id);
    }
  });

  test('an RTMP publish with an empty key (ffmpeg to rtmp://host/live) is refused, and ffmpeg shows why', async (t) => {
    if (!requireTools(t, 'ffmpeg')) return;
    const pub = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10', '-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'flv', `rtmp://127.0.0.1:${gw.rtmpPort}/live`]);
    const code = await pub.exited;
    assert.notEqual(code, 0);
    assert.match(pub.stderr(), /empty stream key/);
    assert.equal(gw.gateway.registry.get('live'), undefined, 'nothing published at "live"');
    assert.ok(gw.logs.some((l) => l.msg === 'publish refused' && l.level === 'warn' && /empty stream key/.test(String(l.reason))));
  });
});
