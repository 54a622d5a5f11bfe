/**
 * An example consumer of @livegate/sdk, type-checked against the package's published declarations
 * (`tsc -p test/types`): the public types stay exact. Every `@ts-expect-error` line must stay an error.
 */
import {
  LivegateError,
  LivegatePlayer,
  LivegatePublisher,
  listStreams,
  watchStreams,
  type LivegateErrorCode,
  type PlaybackProtocol,
  type PlayerStats,
  type StreamInfo,
} from '@livegate/sdk';

declare const video: HTMLVideoElement;

const player = new LivegatePlayer(video, { server: 'http://127.0.0.1:8080', path: 'live/cam1', token: 't', protocols: ['webrtc', 'flv'] });
const offState = player.on('state', (e) => {
  const s: 'idle' | 'connecting' | 'waiting' | 'playing' | 'reconnecting' | 'failed' | 'destroyed' = e.state;
  void s;
});
offState();
player.on('fallback', (e) => {
  const from: PlaybackProtocol = e.from;
  const to: PlaybackProtocol | null = e.to;
  const why: string = e.reason;
  const code: LivegateErrorCode = e.error.code;
  void [from, to, why, code];
});
player.on('stats', (s: PlayerStats) => {
  const latency: number | null = s.latencyMs;
  void latency;
});
player.on('latency', ({ latencyMs, protocol }) => void [latencyMs.toFixed(0), protocol]);
player.on('autoplay-muted', ({ protocol }) => void protocol);
player.on('error', (e) => {
  if (e.code === 'not-live' || e.code === 'unauthorized') void e.detail;
});
player.muted = false;
player.volume = 0.5;
player.destroy();

// @ts-expect-error not an event of the player
player.on('frame', () => undefined);
// @ts-expect-error the state event carries an object, not a string
player.on('state', (s: string) => void s);
// @ts-expect-error the path is required
new LivegatePlayer(video, { server: 'http://h' });
// @ts-expect-error not a playback protocol
new LivegatePlayer(video, { server: 'http://h', path: 'p', protocols: ['rtmp'] });

const publisher = new LivegatePublisher({ server: 'http://127.0.0.1:8080', path: 'live/cam1' });
async function publish(): Promise<void> {
  const media: MediaStream = await publisher.start({ camera: true, microphone: true, width: 1280, height: 720, fps: 30, videoBitrate: 2_500_000 });
  void media;
  await publisher.switchCamera('id');
  publisher.mute('audio');
  // @ts-expect-error only audio and video can be muted
  publisher.mute('screen');
  publisher.on('published', ({ sessionUrl }) => void sessionUrl);
  publisher.on('stats', (s) => void [s.bitrateBps, s.qualityLimitation]);
  await publisher.stop();
}
void publish;

function describe(code: LivegateErrorCode): string {
  switch (code) {
    case 'not-live':
    case 'unauthorized':
    case 'forbidden':
    case 'busy':
    case 'unsupported-codec':
    case 'no-webrtc':
    case 'unsupported':
    case 'unavailable':
    case 'network':
    case 'timeout':
    case 'media-permission':
    case 'bad-request':
    case 'server':
      return code;
    default: {
      // Exhaustive: a new code must be added here (and to the README) on purpose.
      const never: never = code;
      return never;
    }
  }
}
void describe;

const e = new LivegateError('busy', 'x', { status: 409 });
const status: number | undefined = e.status;
void status;

async function streams(): Promise<void> {
  const list: StreamInfo[] = await listStreams({ server: 'http://h' });
  const stop = watchStreams({ server: 'http://h', path: 'live/cam1' }, (s) => void s[0]?.tracks[0]?.codec);
  stop();
  void list;
}
void streams;
