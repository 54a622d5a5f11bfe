/**
 * livegate as a library: start a gateway inside a Node application, read its streams, and use its
 * RTMP client and SRT caller.
 *
 * ```ts
 * import { Gateway, parseConfig } from 'livegate';
 * const gateway = await Gateway.start(parseConfig({ http: { port: 8080 } }));
 * gateway.registry.on('publish', (stream) => console.log('live', stream.path));
 * ```
 */
export { Gateway, ListenError } from './server.js';
export type { GatewayOptions, ListeningPorts } from './server.js';
export { configSchema } from './config/schema.js';
export type { Config, ConfigInput } from './config/schema.js';
export { loadConfig, parseConfig } from './config/load.js';
export type { ConfigOverrides } from './config/load.js';
export {
  ConfigError,
  describeError,
  LimitError,
  LivegateError,
  ParseError,
  ProtocolError,
  RejectedError,
  SlowReaderError,
  StreamBusyError,
  StreamNotFoundError,
  TimeoutError,
  UnsupportedError,
} from './core/errors.js';
export type { ErrorCode } from './core/errors.js';
export { createLogger } from './core/log.js';
export type { LogFields, Logger, LogLevel, LogSink } from './core/log.js';
export { StreamRegistry } from './core/stream-registry.js';
export type { Stream } from './core/stream.js';
export type { MediaUnit } from './core/media-unit.js';
export { normalizePath } from './core/path.js';
export { RtmpClient, parseRtmpUrl } from './protocols/rtmp/client.js';
export type { RtmpClientEvents } from './protocols/rtmp/client.js';
export { SrtCaller } from './protocols/srt/caller.js';
export type { SrtCallerEvents, SrtCallerOptions } from './protocols/srt/caller.js';
export { VERSION } from './api/info-api.js';
export type { ServerInfoView } from './api/info-api.js';
export type { StreamView, TrackView } from './api/streams-api.js';
