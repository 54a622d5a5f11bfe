/**
 * livegate for bench/srt-ingest.ts: the real Gateway in its own process, everything on 127.0.0.1,
 * SRT, RTMP and HTTP on free ports, WebRTC off (it would bind UDP on every interface and has no part
 * in SRT ingest), logLevel warn (log lines go to stdout, which the parent collects).
 * IPC: sends { srt, rtmp, http } once listening. Exits on SIGINT/SIGTERM or when the parent goes.
 */
import { parseConfig } from '../gateway/src/config/load.js';
import { createLogger } from '../gateway/src/core/log.js';
import { Gateway } from '../gateway/src/server.js';

const config = parseConfig({
  host: '127.0.0.1',
  logLevel: 'warn',
  rtmp: { port: 0 },
  http: { port: 0 },
  srt: { port: 0 },
  webrtc: { enabled: false },
});
const gw = await Gateway.start(config, { log: createLogger('warn') });
process.send!({ srt: gw.ports.srt, rtmp: gw.ports.rtmp, http: gw.ports.http });

let closing = false;
const stop = (): void => {
  if (closing) return;
  closing = true;
  void gw.close().then(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.on('disconnect', stop);
