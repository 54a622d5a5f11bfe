/**
 * WebRTC peers (Chromium, werift) gather candidates on every interface. Their tests run in a network
 * namespace that has only loopback (`unshare -n`, root), so no packet can leave the machine.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const IN_LOOPBACK_NETNS = process.env.LIVEGATE_NETNS === '1';

/**
 * Runs the test file `fileUrl` again inside a fresh loopback-only namespace; resolves with its exit
 * code and output (TAP).
 */
export function runInLoopbackNamespace(fileUrl: string): Promise<{ code: number | null; output: string }> {
  const file = fileURLToPath(fileUrl);
  const script = `ip link set lo up && exec "${process.execPath}" --import tsx --test --test-reporter=spec "${file}"`;
  return new Promise((resolve) => {
    const child = spawn('unshare', ['-n', 'sh', '-c', script], {
      // Without NODE_TEST_CONTEXT the inner runner reports for itself instead of to our runner.
      env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')), LIVEGATE_NETNS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}
