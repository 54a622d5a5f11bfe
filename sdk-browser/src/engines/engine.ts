/** What the player asks of each way of playing (WebRTC, FLV, HLS). */
import type { LivegateError } from '../errors.js';
import type { PlaybackProtocol } from '../ladder.js';

export interface EngineOptions {
  video: HTMLVideoElement;
  server: string;
  path: string;
  token: string | undefined;
  /** Latency to hold for the MSE players (ms). */
  targetLatencyMs: number;
  /** The page set `targetLatencyMs` itself (HLS then plays that far behind, not at the playlist's PART-HOLD-BACK). */
  targetLatencyExplicit: boolean;
  /** FLV: where playback sits behind the newest data when caught up (ms); the engine's default when undefined. */
  liveEdgeMs: number | undefined;
  /** WebRTC: receiver jitter buffer target (ms), when asked for. */
  jitterBufferTargetMs: number | undefined;
  iceServers: RTCIceServer[];
  /** Called once when playback that had started ends or breaks. */
  onEnd: (error: LivegateError) => void;
}

/** One sample of what the engine sees, for `stats` and stall detection. */
export interface EngineSample {
  /** Frames decoded so far (grows while video plays). */
  framesDecoded: number;
  /** Bytes received so far (the player derives the bitrate), or the bitrate itself. */
  bytesReceived?: number;
  bitrateBps?: number;
  packetsLost: number;
  /** Estimated latency (ms), when the engine can tell. */
  latencyMs: number | null;
  width: number;
  height: number;
}

export interface PlaybackEngine {
  readonly protocol: PlaybackProtocol;
  /**
   * The server answered this engine (its signalling or API request): a network failure after that is
   * this protocol's transport failing (UDP blocked, a proxy in the way), a reason to climb down.
   */
  readonly reachedServer: boolean;
  /** Connects and attaches the media to the video element; the player then waits for the first frame. */
  start(signal: AbortSignal): Promise<void>;
  sample(): Promise<EngineSample>;
  /** Keeps playback at the live edge (called four times a second while playing). */
  holdLiveEdge(): void;
  /** Frees everything (connections, players, timers); tells the server when it can. */
  destroy(): void;
}
