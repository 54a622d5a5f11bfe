/** The `livegate` command: loads the configuration, starts the gateway, prints its addresses. */
import { networkInterfaces } from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { LivegateError } from './core/errors.js';
import { createLogger } from './core/log.js';
import { Gateway } from './server.js';

const HELP = `livegate — live-media gateway

Usage: livegate [options]

  -c, --config <file>     YAML configuration file (optional; built-in defaults otherwise)
      --host <addr>       address to bind (default 0.0.0.0)         env LIVEGATE_HOST
      --rtmp-port <n>     RTMP port (default 1935)                    env LIVEGATE_RTMP_PORT
      --http-port <n>     HTTP port: FLV, WHIP/WHEP, API, demo (8080)  env LIVEGATE_HTTP_PORT
      --srt-port <n>      SRT port (UDP, default 8890)               env LIVEGATE_SRT_PORT
      --rtsp-port <n>     RTSP port (default 8554)                    env LIVEGATE_RTSP_PORT
      --log-level <l>     debug | info | warn | error                 env LIVEGATE_LOG_LEVEL
  -h, --help              show this help
`;

function displayHost(config: Config): string {
  if (config.publicHost) return config.publicHost;
  if (config.host !== '0.0.0.0' && config.host !== '::') return config.host.includes(':') ? `[${config.host}]` : config.host;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        host: { type: 'string' },
        'rtmp-port': { type: 'string' },
        'http-port': { type: 'string' },
        'srt-port': { type: 'string' },
        'rtsp-port': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`livegate: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(HELP);
    return 0;
  }
  let gateway: Gateway;
  try {
    const config = await loadConfig(args.config, process.env, {
      host: args.host,
      logLevel: args['log-level'],
      rtmpPort: args['rtmp-port'],
      httpPort: args['http-port'],
      srtPort: args['srt-port'],
      rtspPort: args['rtsp-port'],
    });
    const log = createLogger(config.logLevel);
    gateway = await Gateway.start(config, { log });
    const host = displayHost(config);
    const { rtmp, http, https, srt, rtsp } = gateway.ports;
    log.info('listening', { host: config.host, rtmp, http, https, srt, rtsp, rtspUdp: gateway.ports.rtspUdp?.join('/'), webrtcUdp: gateway.ports.webrtcUdp, webrtcTcp: gateway.ports.webrtcTcp });
    const lines = ['', 'livegate is running. Publish and play stream "live/cam1":'];
    if (rtmp !== undefined) lines.push(`  publish  rtmp://${host}:${rtmp}/live/cam1        (OBS: server rtmp://${host}:${rtmp}/live, key cam1)`);
    if (srt !== undefined) lines.push(`  publish  srt://${host}:${srt}?streamid=publish:live/cam1   (SRT, MPEG-TS)`);
    if (rtsp !== undefined) lines.push(`  publish  rtsp://${host}:${rtsp}/live/cam1        (RTSP ANNOUNCE/RECORD: ffmpeg -f rtsp, GStreamer rtspclientsink)`);
    if (http !== undefined && gateway.whip) lines.push(`  publish  http://${host}:${http}/live/cam1/whip  (WebRTC WHIP: a browser, OBS)`);
    if (rtmp !== undefined) lines.push(`  play     rtmp://${host}:${rtmp}/live/cam1`);
    if (srt !== undefined) lines.push(`  play     srt://${host}:${srt}?streamid=read:live/cam1`);
    if (rtsp !== undefined) lines.push(`  play     rtsp://${host}:${rtsp}/live/cam1        (TCP interleaved${gateway.ports.rtspUdp ? ` or UDP ${gateway.ports.rtspUdp.join('/')}` : ''})`);
    if (gateway.ports.rtsps !== undefined) lines.push(`  rtsps    rtsps://${host}:${gateway.ports.rtsps}/live/cam1       (RTSP over TLS, publish and play)`);
    if (http !== undefined) {
      lines.push(`  play     http://${host}:${http}/live/cam1.flv   (HTTP-FLV)`);
      lines.push(`  play     ws://${host}:${http}/live/cam1.flv     (WS-FLV)`);
      if (gateway.whep) lines.push(`  play     http://${host}:${http}/live/cam1/whep  (WebRTC WHEP)`);
      if (gateway.hls) lines.push(`  play     http://${host}:${http}/live/cam1/index.m3u8  (HLS, LL-HLS)`);
      lines.push(`  api      http://${host}:${http}/api/v1/streams    metrics http://${host}:${http}/metrics`);
      if (gateway.web?.available) lines.push(`  sdk      http://${host}:${http}/sdk/livegate.js   (import { LivegatePlayer, LivegatePublisher } from it)`);
      if (gateway.web?.servesDemo) lines.push('', `  demo     http://${host}:${http}/   (streams, play, publish from the camera: use localhost or HTTPS for the camera)`);
    }
    if (https !== undefined) lines.push(`  https    https://${host}:${https}/   (every HTTP route over TLS, HTTP/2; wss:// for WS-FLV)`);
    if (gateway.ports.webrtcUdp !== undefined) {
      const tcp = gateway.ports.webrtcTcp !== undefined ? ` and TCP ${gateway.ports.webrtcTcp} (ICE-TCP)` : '';
      const announced = gateway.webrtcAddresses().map((a) => `${a.address}:${a.udpPort}${a.tcpPort !== undefined && a.tcpPort !== a.udpPort ? `/tcp ${a.tcpPort}` : ''}`);
      lines.push(`  webrtc   media on UDP ${gateway.ports.webrtcUdp}${tcp}; candidates announce ${announced.length > 0 ? announced.join(', ') : 'nothing (set webrtc.publicAddresses)'}`);
    }
    if (gateway.cluster) {
      const c = gateway.config.cluster;
      lines.push(`  cluster  node ${gateway.cluster.id}, edges pull over ${c.pullProtocol.toUpperCase()}${c.redirect ? ', HTTP players redirected to the node with the path' : ''}   (GET /api/v1/cluster)`);
    }
    process.stderr.write(lines.join('\n') + '\n\n');
  } catch (err) {
    if (err instanceof LivegateError) {
      process.stderr.write(`livegate: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      process.exit(1);
    }
    stopping = true;
    gateway.log.info('shutting down', { signal });
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    void gateway.close().then(() => process.exit(0));
  };
  // SIGHUP: the config file is read again; access rules and the TLS certificate apply at once.
  process.on('SIGHUP', () => {
    void loadConfig(args.config, process.env, {})
      .then((config) => gateway.reload(config))
      .catch((err: unknown) => gateway.log.error('configuration not reloaded', { reason: err instanceof Error ? err.message : String(err) }));
  });
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return -1;
}

const code = await main();
if (code >= 0) process.exit(code);
