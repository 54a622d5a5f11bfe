/** Makes (once) the benchmark clip: 720p30 H264 ~2.5 Mb/s + AAC 128 kb/s, 30 s, FLV. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export function benchClip(): string {
  const dir = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'out');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'clip-720p-2500k.flv');
  if (existsSync(file)) return file;
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000',
    '-t', '30', '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', '2500k', '-maxrate', '2500k', '-bufsize', '2500k',
    '-g', '60', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '128k', '-f', 'flv', file,
  ], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('ffmpeg could not make the benchmark clip');
  return file;
}
