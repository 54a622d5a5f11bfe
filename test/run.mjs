#!/usr/bin/env node
// Runs every test file under test/unit, test/integration and test/interop with Node's built-in
// runner (TypeScript through tsx). Node 20's --test takes no globs, so the files are listed here.
// Usage: node test/run.mjs [unit|integration|interop|<file>...]
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const suites = ['unit', 'integration', 'interop'];

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...collect(full));
    else if (name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

const args = process.argv.slice(2);
let files = [];
if (args.length === 0) for (const s of suites) files.push(...collect(join(root, 'test', s)));
else for (const a of args) files.push(...(suites.includes(a) ? collect(join(root, 'test', a)) : [a]));
files = files.map((f) => relative(root, f));

const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=180000', ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env } },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
