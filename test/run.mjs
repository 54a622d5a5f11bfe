#!/usr/bin/env node
// Runs every test file under test/unit, test/integration and test/interop with Node's built-in
// runner (TypeScript through tsx). Node 20's --test takes no globs, so the files are listed here.
// Usage: node test/run.mjs [unit|integration|interop|<file>...]
//
// Two phases, so that the suite behaves the same on a loaded 2-core machine as on an idle one:
// 1. every ordinary file, two at a time;
// 2. the heavy files — those that start Chromium or WebRTC peers (they run in a loopback-only
//    network namespace), and load tests marked `@run-alone` — one at a time, with nothing else
//    running: their timing assertions (bandwidth estimates, lip sync, stalls) must not share the CPU.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
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

/**
 * A file that drives Chromium or WebRTC peers (see test/helpers/browser.ts and netns.ts), or that says
 * `@run-alone` (a load test whose timing must not share the machine with another file).
 */
function isHeavy(file) {
  return /\b(launchChromium|runInLoopbackNamespace)\(|@run-alone\b/.test(readFileSync(join(root, file), 'utf8'));
}

function runFiles(files, concurrency) {
  if (files.length === 0) return Promise.resolve(0);
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=180000', ...files],
      { cwd: root, stdio: 'inherit', env: { ...process.env } },
    );
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const args = process.argv.slice(2);
let files = [];
if (args.length === 0) for (const s of suites) files.push(...collect(join(root, 'test', s)));
else for (const a of args) files.push(...(suites.includes(a) ? collect(join(root, 'test', a)) : [a]));
files = files.map((f) => relative(root, f));

const heavy = files.filter(isHeavy);
const ordinary = files.filter((f) => !heavy.includes(f));
const first = await runFiles(ordinary, 2);
const second = await runFiles(heavy, 1);
if (heavy.length > 0 && ordinary.length > 0) {
  process.stdout.write(`# livegate: ${ordinary.length} ordinary files ${first === 0 ? 'passed' : 'FAILED'}, ${heavy.length} browser/WebRTC files (one at a time) ${second === 0 ? 'passed' : 'FAILED'}\n`);
}
process.exit(first !== 0 ? first : second);
