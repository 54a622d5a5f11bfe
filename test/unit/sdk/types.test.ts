/** The SDK's published declarations, checked by compiling an example consumer (test/types/consumer.ts). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const tsc = fileURLToPath(new URL('../../../node_modules/typescript/bin/tsc', import.meta.url));

test('an example consumer compiles against @livegate/sdk’s .d.ts, and its expected errors stay errors', () => {
  const build = spawnSync(process.execPath, [tsc, '-b', 'sdk-browser'], { cwd: root, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stdout + build.stderr);
  const check = spawnSync(process.execPath, [tsc, '-p', 'test/types'], { cwd: root, encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
});
