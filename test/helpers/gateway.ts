/** Starts livegate for a test: in-process (fast, logs inspectable) or as a child process (memory). */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { parseConfig } from '../../gateway/src/config/load.js';
import type { ConfigInput } from '../../gateway/src/config/schema.js';
import { createLogger } from '../../gateway/src/core/log.js';
import { Gateway } from '../../gateway/src/server.js';

export type LogLine = { level: string; msg: string; [key: string]: unknown };

export interface TestGateway {
  gateway: Gateway;
  rtmpPort: number;
  httpPort: number;
  srtPort: number;
  rtspPort: number;
  logs: LogLine[];
  rtmpUrl(path: string): string;
  rtspUrl(path: string): string;
  httpUrl(path: string): string;
  /** An SRT URL for ffmpeg/ffprobe/srt-live-transmit with this stream id (as is: ffmpeg 5.1 does not URL-decode it) and options. */
  srtUrl(streamId: string, options?: string): string;
  close(): Promise<void>;
}

/** Loopback only, ephemeral ports. */
export function testConfig(overrides: ConfigInput): ConfigInput {
  return {
    ...overrides,
    host: '127.0.0.1',
    logLevel: overrides.logLevel ?? 'info',
    rtmp: { port: 0, ...overrides.rtmp },
    http: { port: 0, ...overrides.http },
    srt: { port: 0, ...overrides.srt },
    rtsp: { port: 0, udpRtpPort: 0, udpRtcpPort: 0, ...overrides.rtsp },
    webrtc: { udpPort: 0, tcpPort: 0, ...overrides.webrtc },
  };
}

export async function startGateway(overrides: ConfigInput = {}): Promise<TestGateway> {
  const logs: LogLine[] = [];
  const config = parseConfig(testConfig(overrides));
  const log = createLogger(config.logLevel, (line) => {
    logs.push(JSON.parse(line) as LogLine);
    if (process.env.LIVEGATE_TEST_LOG) process.stderr.write(line + '\n');
  });
  const gateway = await Gateway.start(config, { log });
  const rtmpPort = gateway.ports.rtmp!;
  const httpPort = gateway.ports.http!;
  const srtPort = gateway.ports.srt ?? 0;
  const rtspPort = gateway.ports.rtsp ?? 0;
  return {
    gateway,
    rtmpPort,
    httpPort,
    srtPort,
    rtspPort,
    logs,
    rtmpUrl: (p) => `rtmp://127.0.0.1:${rtmpPort}/${p}`,
    rtspUrl: (p) => `rtsp://127.0.0.1:${rtspPort}/${p}`,
    httpUrl: (p) => `http://127.0.0.1:${httpPort}/${p}`,
    srtUrl: (id, options) => `srt://127.0.0.1:${srtPort}?streamid=${id}${options ? '&' + options : ''}`,
    close: () => gateway.close(),
  };
}

export interface ChildGateway {
  child: ChildProcess;
  /** The YAML file it was started with (rewrite it and send SIGHUP to reload). */
  configFile: string;
  rtmpPort: number;
  httpPort: number;
  srtPort: number;
  logs: LogLine[];
  rtmpUrl(path: string): string;
  httpUrl(path: string): string;
  /** Resident set size of the gateway process in bytes (from /proc). */
  rss(): number;
  close(): Promise<void>;
}

/** Runs the real CLI (`livegate --config …`) as a separate process. */
export async function spawnGateway(overrides: ConfigInput = {}): Promise<ChildGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'livegate-test-'));
  const file = join(dir, 'livegate.yaml');
  writeFileSync(file, stringify(testConfig(overrides)));
  const root = new URL('../../', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'gateway/src/cli.ts'), '--config', file], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 256 * 1024) stderr += d.toString();
    if (process.env.LIVEGATE_TEST_LOG) process.stderr.write(d);
  });
  child.once('exit', (code, signal) => {
    if (code && code !== 0) process.stderr.write(`gateway ${file} exited with ${code ?? signal}: ${stderr.slice(-4000)}\n`);
  });
  const ports = await new Promise<{ rtmp: number; http: number; srt: number }>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as LogLine;
        logs.push(entry);
        if (entry.msg === 'listening') resolve({ rtmp: entry.rtmp as number, http: entry.http as number, srt: (entry.srt as number | undefined) ?? 0 });
      } catch {
        /* not a log line */
      }
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}: ${stderr}`)));
  });
  return {
    child,
    configFile: file,
    rtmpPort: ports.rtmp,
    httpPort: ports.http,
    srtPort: ports.srt,
    logs,
    rtmpUrl: (p) => `rtmp://127.0.0.1:${ports.rtmp}/${p}`,
    httpUrl: (p) => `http://127.0.0.1:${ports.http}/${p}`,
    rss: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const m = /VmRSS:\s+(\d+) kB/.exec(status);
      return m ? Number(m[1]) * 1024 : 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
