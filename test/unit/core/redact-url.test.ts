/** URLs as logs and the API show them: no password, passphrase, pass or token, in the URL or inside an SRT stream id. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactUrl } from '../../../gateway/src/core/redact-url.js';

test('passwords and secret query values are hidden, the rest is kept', () => {
  assert.equal(redactUrl('rtsp://admin:secret@10.0.0.5/ch1'), 'rtsp://admin:***@10.0.0.5/ch1');
  assert.equal(redactUrl('rtmp://a:1935/live/x?cluster_node=B&user=edge&pass=edge-secret'), 'rtmp://a:1935/live/x?cluster_node=B&user=edge&pass=***');
  assert.equal(redactUrl('rtmp://a/live/x?token=eyJ.abc'), 'rtmp://a/live/x?token=***');
  assert.equal(redactUrl('srt://a:8890?streamid=publish:x&passphrase=long-secret-1'), 'srt://a:8890?streamid=publish%3Ax&passphrase=***');
  assert.equal(redactUrl('rtmp://a/live/x'), 'rtmp://a/live/x');
  assert.equal(redactUrl('not a url'), 'not a url');
});

test('credentials inside an SRT stream id (read:path:user:pass[:query], read:path:query)', () => {
  const id = (u: string): string | null => new URL(u).searchParams.get('streamid');
  assert.equal(id(redactUrl('srt://a:8890?streamid=' + encodeURIComponent('read:live/x:edge:edge-secret:cluster_node=B'))), 'read:live/x:edge:***:cluster_node=B');
  assert.equal(id(redactUrl('srt://a:8890?streamid=' + encodeURIComponent('read:live/x:cluster_node=B&token=abc'))), 'read:live/x:cluster_node=B&token=***');
  assert.equal(id(redactUrl('srt://a:8890?streamid=' + encodeURIComponent('read:live/x:edge:edge-secret'))), 'read:live/x:edge:***');
  assert.equal(id(redactUrl('srt://a:8890?streamid=' + encodeURIComponent('read:live/x'))), 'read:live/x');
  assert.equal(id(redactUrl('srt://a:8890?streamid=' + encodeURIComponent('#!::r=live/x,m=request'))), '#!::r=live/x,m=request');
});
