// Builds the native WebRTC send path (srtp_send.cc) with node-gyp, as `npm ci` runs it (the root
// package's prepare script) or `npm run build:native`. Without a compiler the gateway still works,
// on the JavaScript send path: a failed build is a warning, except under CI, where it fails.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const prefix = resolve(dirname(process.execPath), '..');

/** node-gyp: the one npm runs scripts with, else the one inside this Node's npm. */
function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp, join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')];
  return candidates.find((p) => p && existsSync(p));
}

const gyp = nodeGyp();
const args = ['rebuild'];
// Build against this Node's own headers where it has them (no download).
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) args.push(`--nodedir=${prefix}`);
const result = gyp ? spawnSync(process.execPath, [gyp, ...args], { cwd: here, stdio: ['ignore', 'ignore', 'inherit'] }) : null;
if (result?.status === 0) {
  console.log('livegate: built the native WebRTC send path (gateway/native)');
} else {
  const why = !gyp ? 'node-gyp was not found' : `node-gyp exited with ${result?.status ?? result?.error?.message}`;
  console.warn(`livegate: the native WebRTC send path was not built (${why}); WebRTC uses the JavaScript send path. It needs python3, make and a C++ compiler.`);
  if (process.env.CI) process.exit(1);
}
