/**
 * The SDK as the gateway serves it: the core (what a page that plays WebRTC downloads) stays under
 * 20 kB min+gzip, and mpegts.js / hls.js are chunks reached only by dynamic import().
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { buildWebFiles, DEFAULT_WEB_SOURCES } from '../../../gateway/src/http/web-assets.js';

const CORE_LIMIT = 20_000;

test('core bundle ≤ 20 kB min+gzip; the FLV and HLS players load only on demand', async (t) => {
  const files = await buildWebFiles(DEFAULT_WEB_SOURCES, false);
  const text = (path: string): string => files.get(path)!.body.toString();
  // The core: the entry and every chunk it imports statically, transitively.
  const core = new Set<string>();
  const visit = (path: string): void => {
    if (core.has(path)) return;
    core.add(path);
    const dir = path.slice(0, path.lastIndexOf('/') + 1);
    for (const m of text(path).matchAll(/(?:^|[;}\s])import\s*(?:[^'"()]*?from\s*)?["']([^"']+)["']/g)) visit(new URL(m[1]!, `http://x${dir}`).pathname);
  };
  visit('/sdk/livegate.js');
  const gz = [...core].reduce((n, p) => n + gzipSync(files.get(p)!.body, { level: 9 }).length, 0);
  const min = [...core].reduce((n, p) => n + files.get(p)!.body.length, 0);
  t.diagnostic(`core: ${[...core].join(' + ')} = ${min} bytes minified, ${gz} bytes gzip`);
  assert.ok(gz <= CORE_LIMIT, `core bundle ${gz} bytes gzip > ${CORE_LIMIT}`);
  for (const p of core) assert.doesNotMatch(p, /mpegts|hls/, `${p} is loaded with the core`);
  const lazy = [...files.keys()].filter((p) => /\/(mpegts|hls)-lib-/.test(p));
  assert.equal(lazy.length, 2, `lazy chunks: ${lazy.join(', ')}`);
  for (const p of lazy) {
    const name = p.slice(p.lastIndexOf('/') + 1);
    assert.ok([...core].some((c) => text(c).includes(`import("./chunks/${name}")`) || text(c).includes(`import("./${name}")`)), `${name} is imported dynamically`);
    t.diagnostic(`${name}: ${gzipSync(files.get(p)!.body).length} bytes gzip, loaded on demand`);
  }
});
