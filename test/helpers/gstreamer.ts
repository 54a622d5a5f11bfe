/** GStreamer peers for interop tests: rtspsrc players and the RTSP camera simulator (gst-rtsp-server). */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stopChild, type Publisher } from './ffmpeg.js';

export interface GstResult {
  code: number | null;
  output: string;
}

const PLAY_SCRIPT = fileURLToPath(new URL('./rtsp-play.py', import.meta.url));

/**
 * GStreamer `rtspsrc` plays `url` over `protocols` and decodes `videoFrames` video frames (H264 or
 * H265) and `audioBuffers` audio buffers (decodebin); exit code 0 means both counts were reached.
 * A small Python program (rtsp-play.py) links each pad by its media, whatever order they come in,
 * which gst-launch's delayed linking cannot promise.
 */
export function rtspsrcDecode(url: string, o: { protocols: 'tcp' | 'udp'; videoFrames: number; audioBuffers?: number; timeoutMs?: number }): Promise<GstResult> {
  return new Promise((resolve) => {
    const seconds = Math.ceil((o.timeoutMs ?? 20_000) / 1000);
    const child = spawn('/usr/bin/python3', [PLAY_SCRIPT, url, o.protocols, String(o.videoFrames), String(o.audioBuffers ?? 0), String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const add = (d: Buffer): void => {
      if (output.length < 64 * 1024) output += d.toString();
    };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 5) * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const CAMERA_SCRIPT = fileURLToPath(new URL('./rtsp-camera.py', import.meta.url));

export interface Camera extends Publisher {
  url(user?: string, pass?: string): string;
}

/**
 * A camera simulator: gst-rtsp-server on 127.0.0.1:`port` serving `/cam` from a launch line (payloaders
 * named pay0, pay1), with Digest authentication when `user` is given; `tcpOnly`: it refuses UDP (461).
 * Resolves once it listens.
 */
export async function startCamera(port: number, launch: string, auth?: { user: string; pass: string }, o: { tcpOnly?: boolean } = {}): Promise<Camera> {
  const args = [CAMERA_SCRIPT, String(port), launch, ...(auth ? [auth.user, auth.pass] : [])];
  const env = { ...process.env, ...(o.tcpOnly ? { CAMERA_TCP_ONLY: '1' } : {}) };
  const child = spawn('/usr/bin/python3', args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    if (err.length < 64 * 1024) err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      if (line === 'ready') resolve();
    });
    void exited.then((code) => reject(new Error(`camera simulator exited ${code}: ${err}`)));
  });
  return {
    child,
    exited,
    stderr: () => err,
    stop: () => stopChild(child, exited),
    url: (user, pass) => `rtsp://${user ? `${user}:${pass}@` : ''}127.0.0.1:${port}/cam`,
  };
}
