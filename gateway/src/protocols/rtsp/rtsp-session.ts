/**
 * One RTSP session (RFC 2326 §3, the `Session` header): a publish (ANNOUNCE → SETUP… → RECORD) or a
 * play (DESCRIBE → SETUP… → PLAY) of one path, with the transport its SETUPs chose. Owned by the TCP
 * connection that made it; the server finds it by id for requests and by address for UDP.
 */
import { randomBytes } from 'node:crypto';
import type { AccessGrant } from '../../core/access.js';
import type { PublisherInfo, ReaderHandle, Stream } from '../../core/stream.js';
import type { RtspPresentation } from '../../format/sdp-rtsp.js';
import type { RtpTimeline } from '../../format/rtp/rtp-clock.js';
import type { RtspReader, PlayedTrack } from './from-stream.js';
import type { RtpReceiver } from './rtp-receiver.js';
import type { RtspTrackOut } from './stream-packets.js';

export type RtspSessionState = 'init' | 'ready' | 'playing' | 'recording';

/** A publisher's media section after its SETUP. */
export interface RecordedMedia {
  readonly receiver: RtpReceiver;
  /** TCP: channels (RTP, RTCP). */
  readonly channels?: readonly [number, number];
  /** UDP: the publisher's RTP and RTCP ports. */
  readonly clientPorts?: readonly [number, number];
}

export class RtspSession {
  /** 16 hex digits: unguessable, as RFC 7826 §18.49 asks. */
  readonly id = randomBytes(8).toString('hex');
  state: RtspSessionState = 'init';
  transport: 'tcp' | 'udp' | null = null;
  lastSeen = performance.now();
  /** Undo the UDP routes of this session. */
  readonly unroute: (() => void)[] = [];

  // publish
  presentation: RtspPresentation | null = null;
  /** The ANNOUNCEd media in SDP order: set up (with its receiver) or null. */
  recorded: (RecordedMedia | null)[] = [];
  timeline: RtpTimeline | null = null;
  stream: Stream | null = null;
  publisher: PublisherInfo | null = null;

  // play
  /** The tracks DESCRIBE offered (or SETUP resolved), by control. */
  offered: RtspTrackOut[] = [];
  played: PlayedTrack[] = [];
  playedStream: Stream | null = null;
  reader: RtspReader | null = null;
  handle: ReaderHandle | null = null;
  /** UDP: where each played track's RTP and RTCP go, by track id. */
  readonly udpTargets = new Map<number, readonly [number, number]>();

  /** Receiver reports seen from the player, and the loss they report. */
  receiverReports = 0;
  reportedLost = 0;
  reportedJitter = 0;

  constructor(
    readonly mode: 'publish' | 'play',
    readonly path: string,
    readonly grant: AccessGrant,
    /** The URL the session was made for (SETUP controls are resolved against it). */
    readonly baseUrl: string,
  ) {}
}
