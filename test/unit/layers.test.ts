/**
 * The layers of gateway/src, enforced: every import (static, dynamic, re-export) of every source file
 * is resolved and checked against the rules below. A protocol folder never imports another protocol
 * nor `transcode/` (the stream core is the one place that fans out and makes renditions); pure
 * codec/format code imports no I/O layer; the core imports no layer above it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = resolve(new URL('../../gateway/src', import.meta.url).pathname);

/** Top folders above the pure layers: what codec/ and format/ (and, but for types, core/) must not import. */
const IO_LAYERS = ['protocols', 'transcode', 'auth', 'cluster', 'api', 'http', 'net', 'nat', 'config', 'server.ts', 'cli.ts', 'index.ts'];

interface Rule {
  /** Which importing files (relative to gateway/src, posix) the rule is about. */
  from: RegExp;
  /** Whether importing `to` (relative to gateway/src) from `file` breaks it. */
  forbids(to: string, file: string): boolean;
  why: string;
}

const top = (p: string): string => p.split('/')[0]!;
const protocolOf = (p: string): string | null => (p.startsWith('protocols/') ? (p.split('/')[1] ?? null) : null);

export const RULES: Rule[] = [
  { from: /^protocols\//, forbids: (to, file) => protocolOf(to) !== null && protocolOf(to) !== protocolOf(file), why: 'a protocol folder never imports another' },
  { from: /^protocols\//, forbids: (to) => top(to) === 'transcode', why: 'protocols ask the stream for renditions; they never import transcode/' },
  { from: /^(codec|format)\//, forbids: (to) => IO_LAYERS.includes(top(to)), why: 'codec/ and format/ are pure: no protocol, transcoder, API or I/O' },
  { from: /^core\//, forbids: (to) => IO_LAYERS.includes(top(to)), why: 'the core knows no protocol, transcoder or API (they are given to it)' },
  { from: /^transcode\//, forbids: (to) => ['protocols', 'api', 'http'].includes(top(to)), why: 'transcoders know the core, not the protocols' },
  { from: /^api\//, forbids: (to) => top(to) === 'transcode', why: 'the API reads renditions and outputs from the stream' },
  { from: /^(protocols|api|http)\//, forbids: (to) => top(to) === 'auth', why: 'credentials are checked by the admission gate (StreamRegistry.admit), never by a protocol' },
  { from: /^cluster\//, forbids: (to) => ['protocols', 'api', 'http', 'transcode', 'auth'].includes(top(to)), why: 'the cluster knows the core (registry, sources), not the protocols' },
  { from: /^(protocols|auth|transcode)\//, forbids: (to) => top(to) === 'cluster', why: 'the cluster is given to the core; protocols never ask it' },
  { from: /^auth\//, forbids: (to) => ['protocols', 'api', 'http', 'transcode'].includes(top(to)), why: 'auth methods know the core, not the protocols' },
];

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;(])import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm;

/** Relative import specifiers of a source text. */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec?.startsWith('.')) out.push(spec);
  }
  return out;
}

/** Every broken rule in `files` (path relative to gateway/src → source text). */
export function layerViolations(files: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [file, source] of files) {
    for (const spec of importsOf(source)) {
      const to = posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts');
      for (const rule of RULES) {
        if (rule.from.test(file) && rule.forbids(to, file)) out.push(`${file} imports ${to}: ${rule.why}`);
      }
    }
  }
  return out;
}

function sourceTree(dir: string, out = new Map<string, string>()): Map<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sourceTree(path, out);
    else if (entry.name.endsWith('.ts')) out.set(relative(SRC, path).split('\\').join('/'), readFileSync(path, 'utf8'));
  }
  return out;
}

test('gateway/src keeps its layers', () => {
  const files = sourceTree(SRC);
  assert.ok(files.size > 100, `read ${files.size} files under ${dirname(SRC)}`);
  assert.ok([...files.values()].reduce((n, s) => n + importsOf(s).length, 0) > 300, 'imports were found');
  assert.deepEqual(layerViolations(files), []);
});

test('the check sees each kind of forbidden import (static, type, dynamic, re-export)', () => {
  const files = new Map([
    ['protocols/flv/flv-server.ts', "import { SrtReader } from '../srt/from-stream.js';\nimport type { X } from '../../transcode/aac-feed.js';"],
    ['protocols/rtmp/rtmp-server.ts', "const m = await import('../webrtc/werift.js');\nimport { ok } from './chunk-reader.js';\nimport { Stream } from '../../core/stream.js';"],
    ['format/flv/tag.ts', "export { x } from '../../protocols/rtmp/messages.js';"],
    ['core/stream.ts', "import { opusToAac } from '../transcode/renditions.js';"],
    ['api/streams-api.ts', "import { AacFeed } from '../transcode/aac-feed.js';\nimport { Stream } from '../core/stream.js';"],
  ]);
  const found = layerViolations(files).map((v) => v.split(':')[0]);
  assert.deepEqual(found, [
    'protocols/flv/flv-server.ts imports protocols/srt/from-stream.ts',
    'protocols/flv/flv-server.ts imports transcode/aac-feed.ts',
    'protocols/rtmp/rtmp-server.ts imports protocols/webrtc/werift.ts',
    'format/flv/tag.ts imports protocols/rtmp/messages.ts',
    'core/stream.ts imports transcode/renditions.ts',
    'api/streams-api.ts imports transcode/aac-feed.ts',
  ]);
});
