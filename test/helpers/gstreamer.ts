/** GStreamer peers for interop tests: rtspsrc players and the RTSP camera simulator (gst-rtsp-server). */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stopChild, type Publisher } from './ffmpeg.js';

export interface GstResult {
  code: number | null;
  output: string;
}

/** Runs gst-launch-1.0 until it ends (EOS after the sinks' num-buffers) or `timeoutMs`. */
export function gstLaunch(pipeline: string[], timeoutMs = 20_000): Promise<GstResult> {
  return new Promise((resolve) => {
    const child = spawn('gst-launch-1.0', ['-e', ...pipeline], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const add = (d: Buffer): void => {
      if (output.length < 64 * 1024) output += d.toString();
    };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/**
 * GStreamer `rtspsrc` plays `url` over `protocols` and decodes `videoFrames` H264 frames (and
 * `audioBuffers` AAC buffers when asked); exit code 0 means every sink got its count.
 */
export function rtspsrcDecode(url: string, o: { protocols: 'tcp' | 'udp'; videoFrames: number; audioBuffers?: number; timeoutMs?: number }): Promise<GstResult> {
  const p = ['rtspsrc', `location=${url}`, `protocols=${o.protocols}`, 'latency=200', 'name=s'];
  p.push('s.', '!', 'application/x-rtp,media=video', '!', 'rtph264depay', '!', 'h264parse', '!', 'avdec_h264', '!', 'fakesink', `num-buffers=${o.videoFrames}`);
  if (o.audioBuffers) p.push('s.', '!', 'application/x-rtp,media=audio', '!', 'rtpmp4gdepay', '!', 'aacparse', '!', 'avdec_aac', '!', 'fakesink', `num-buffers=${o.audioBuffers}`);
  return gstLaunch(p, o.timeoutMs);
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
