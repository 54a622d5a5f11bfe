/**
 * SRT stream ids → path, mode and credentials: the SRT Access Control form (`#!::k=v,…`), the
 * MediaMTX form (`publish:path[:user:pass][:query]`), bare paths, and what is refused.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseStreamId, type StreamIdRequest } from '../../../../gateway/src/protocols/srt/stream-id.js';

type Expect = { request: StreamIdRequest } | { reason: RegExp; badMode?: true };

const TABLE: [string, Expect][] = [
  // SRT Access Control (draft Appendix B)
  ['#!::r=live/cam1,m=publish,u=alice,s=secret', { request: { path: 'live/cam1', mode: 'publish', user: 'alice', session: 'secret' } }],
  ['#!::m=request,r=live/cam1', { request: { path: 'live/cam1', mode: 'read' } }],
  ['#!::r=live/cam1', { request: { path: 'live/cam1', mode: 'read' } }], // m defaults to request
  ['#!::r=live/x,bmd_uuid=abc,m=publish', { request: { path: 'live/x', mode: 'publish' } }], // vendor key tolerated
  ['#!::r=live/x,user_tag=1,acme_id=7,h=example.com', { request: { path: 'live/x', mode: 'read' } }],
  ['#!::r=live/cam1?token=x,m=publish', { request: { path: 'live/cam1', mode: 'publish', query: 'token=x' } }],
  ['#!::r=live/cam1,t=stream,m=publish', { request: { path: 'live/cam1', mode: 'publish' } }],
  ['#!::r=a,m=bidirectional', { reason: /m=bidirectional/, badMode: true }],
  ['#!::r=a,t=file', { reason: /t=file/, badMode: true }],
  ['#!::m=publish', { reason: /no resource \(r=\)/ }],
  ['#!::r=', { reason: /no resource/ }],
  ['#!::r=a,junk', { reason: /"junk" is not key=value/ }],
  ['#!::=a', { reason: /not key=value/ }],
  // MediaMTX
  ['publish:live/cam1', { request: { path: 'live/cam1', mode: 'publish' } }],
  ['read:live/cam1', { request: { path: 'live/cam1', mode: 'read' } }],
  ['read:live/cam1:user:pass', { request: { path: 'live/cam1', mode: 'read', user: 'user', password: 'pass' } }],
  ['read:live/cam1:user:pass:token=abc', { request: { path: 'live/cam1', mode: 'read', user: 'user', password: 'pass', query: 'token=abc' } }],
  ['publish:live/cam1:user:pass:a=1:b=2', { request: { path: 'live/cam1', mode: 'publish', user: 'user', password: 'pass', query: 'a=1:b=2' } }],
  ['publish:live/cam1:token=abc', { request: { path: 'live/cam1', mode: 'publish', query: 'token=abc' } }],
  ['publish:', { reason: /without a path/ }],
  // Bare paths: the mode follows from what the caller does.
  ['live/cam1', { request: { path: 'live/cam1', mode: null } }],
  ['live/cam1?token=x', { request: { path: 'live/cam1', mode: null, query: 'token=x' } }],
  ['  live/cam1  ', { request: { path: 'live/cam1', mode: null } }],
  // Refused
  ['', { reason: /empty/ }],
  ['   ', { reason: /empty/ }],
  ['#!:{"r":"live/cam1","m":"publish"}', { reason: /nested/ }],
];

describe('parseStreamId', () => {
  for (const [id, want] of TABLE) {
    test(JSON.stringify(id), () => {
      const r = parseStreamId(id);
      if ('request' in want) {
        assert.ok(r.ok, `expected ${JSON.stringify(id)} to parse, got ${r.ok ? '' : r.reason}`);
        assert.deepEqual(r.request, want.request);
      } else {
        assert.equal(r.ok, false, `expected ${JSON.stringify(id)} to be refused`);
        if (r.ok) return;
        assert.match(r.reason, want.reason);
        assert.equal(r.badMode, want.badMode, 'badMode (→ rejection 1405) only for an unsupported mode or type');
      }
    });
  }

  test('the ffmpeg stream id captured on the wire', () => {
    const r = parseStreamId('#!::r=live/cam1,m=publish');
    assert.deepEqual(r, { ok: true, request: { path: 'live/cam1', mode: 'publish' } });
  });

  test('later keys win, values keep "=" after the first one', () => {
    const r = parseStreamId('#!::r=a,r=b,s=x=y');
    assert.ok(r.ok);
    assert.deepEqual(r.request, { path: 'b', mode: 'read', session: 'x=y' });
  });
});
