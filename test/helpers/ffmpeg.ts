/** Real ffmpeg/ffprobe peers for interop tests. */
import { spawn, type ChildProcess } from 'node:child_process';

export interface PublishOptions {
  size?: string;
  rate?: number;
  /** Keyframe interval in frames. */
  gop?: number;
  audioRate?: number;
  /** Seconds; default: until stopped. */
  duration?: number;
  videoBitrate?: string;
  format?: 'flv' | 'mpegts' | 'rtsp';
  /** RTSP: the transport ffmpeg asks for (default tcp). */
  rtspTransport?: 'tcp' | 'udp';
}

export interface Publisher {
  child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
  exited: Promise<number | null>;
}

/** ffmpeg encodes lavfi testsrc2 (H264) + a 1 kHz sine (AAC) in real time and publishes it. */
export function publish(url: string, o: PublishOptions = {}): Publisher {
  const args = ['-hide_banner', '-loglevel', 'error', '-re'];
  args.push('-f', 'lavfi', '-i', `testsrc2=size=${o.size ?? '640x360'}:rate=${o.rate ?? 30}`);
  args.push('-f', 'lavfi', '-i', `sine=frequency=1000:sample_rate=${o.audioRate ?? 48000}`);
  if (o.duration) args.push('-t', String(o.duration));
  args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p');
  args.push('-g', String(o.gop ?? 30), '-b:v', o.videoBitrate ?? '800k');
  args.push('-c:a', 'aac', '-b:a', '96k', '-f', o.format ?? 'flv');
  if (o.format === 'rtsp') args.push('-rtsp_transport', o.rtspTransport ?? 'tcp');
  args.push(url);
  return run('ffmpeg', args);
}

export function run(cmd: string, args: string[]): Publisher {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (err.length < 64 * 1024) err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stderr: () => err,
    exited,
    stop: () => stopChild(child, exited),
  };
}

/** SIGINT (so ffmpeg and srt-live-transmit finish cleanly), SIGKILL after 3 s. */
export async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

export interface ProbeStream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
}

/** ffprobe a live URL; resolves with its streams (rejects with ffprobe's stderr on failure). */
export function probe(url: string, timeoutMs = 15000): Promise<ProbeStream[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffprobe', ['-v', 'error', '-rw_timeout', String(timeoutMs * 1000), '-show_streams', '-of', 'json', url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`ffprobe ${url} exited ${code}: ${err}`));
      try {
        resolve((JSON.parse(out) as { streams: ProbeStream[] }).streams);
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}
