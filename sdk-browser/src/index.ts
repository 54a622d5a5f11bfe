/**
 * @livegate/sdk — publish and play livegate streams from any web page.
 *
 * ```ts
 * import { LivegatePlayer, LivegatePublisher } from '@livegate/sdk';
 * const player = new LivegatePlayer(video, { server: 'http://127.0.0.1:8080', path: 'live/cam1' });
 * player.on('stats', (s) => console.log(s.protocol, s.latencyMs));
 * ```
 */
export { LivegatePlayer } from './player.js';
export type { PlayerEvents, PlayerOptions, PlayerState, PlayerStats } from './player.js';
export { LivegatePublisher } from './publisher.js';
export type { PublisherEvents, PublisherOptions, PublisherState, PublisherStats, PublishSettings } from './publisher.js';
export { LivegateError } from './errors.js';
export type { LivegateErrorCode, LivegateErrorInit } from './errors.js';
export { getStream, listStreams, serverInfo, watchStreams } from './api.js';
export type { ServerInfo, ServerOptions, StreamInfo, TrackInfo, WatchOptions } from './api.js';
export { DEFAULT_LADDER } from './ladder.js';
export type { PlaybackProtocol } from './ladder.js';
export type { BackoffOptions } from './backoff.js';
export type { Listener } from './emitter.js';
export { endpointUrl } from './urls.js';
export type { Endpoint } from './urls.js';
