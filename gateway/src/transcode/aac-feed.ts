/**
 * The Opus → AAC transcoder of one stream, shared by all its FLV and RTMP readers: a reader of the
 * stream's Opus track that is also a source of AAC units. A camera's G.711 goes the same way, made
 * Opus first in process (AacToOpus.g711: a table lookup, resampling, an Opus encoder), then AAC. The first subscriber starts it; it stops
 * a while after the last one leaves (so that a page reload does not restart it).
 *
 * It keeps the AAC units since the stream's last video keyframe (bounded), so that a reader who
 * joins and is replayed the cached GOP gets that GOP's audio too, not silence until the next one.
 */
import { makeUnit, type AudioCodec, type AudioTrack, type MediaUnit, type Track } from '../core/media-unit.js';
import { AacToOpus } from './aac-to-opus.js';
import type { ReaderHandle, Stream } from '../core/stream.js';
import type { AudioRendition, RenditionSubscriber, RenditionView } from '../core/rendition.js';
import type { Logger } from '../core/log.js';
import { codecString, parseAudioSpecificConfig } from '../codec/aac.js';
import { AAC_RATE } from './aac-clock.js';
import { expectedAudioSpecificConfig, OpusToAac, type AacUnit } from './opus-to-aac.js';

export interface AacFeedOptions {
  /** AAC bitrate of a stereo stream, bits per second; mono streams get half. */
  bitrate: number;
  /** How long the transcoder lives on after its last subscriber (ms). */
  lingerMs: number;
  log: Logger;
}

/** A reader of the feed: the AAC track, new AAC units in order, and the end of the feed. */
export type AacFeedSubscriber = RenditionSubscriber;

/** Bounds of the kept units (besides "since the last keyframe"): about 20 s, 2 MiB. */
const RECENT_MAX_UNITS = 1000;
const RECENT_MAX_BYTES = 2 * 1024 * 1024;
/** Arrival times of the last Opus packets, to stamp AAC units for the latency probes. */
const ARRIVALS = 128;
/** An AAC frame lasts 1024 samples: 1920 ticks at 90 kHz. */
const FRAME_TICKS = 1920;

/** The Opus → AAC rendition of a stream (see core/rendition.ts). */
export class AacFeed implements AudioRendition {
  readonly to = 'aac';
  /** G.711 sources: the Opus stage in front of the AAC transcoder. */
  private g711: AacToOpus | null = null;
  private readonly subscribers = new Set<AacFeedSubscriber>();
  private handle: ReaderHandle | null = null;
  private transcoder: OpusToAac | null = null;
  private channels: 1 | 2 | null = null;
  private aacTrack: AudioTrack | null = null;
  private opusTrackId = 1;
  private recentUnits: MediaUnit[] = [];
  private recentBytes = 0;
  /** dts of the stream's last video keyframe: older units are no use to a joining reader. */
  private keyframeDts = -Infinity;
  private arrivals: { pts: number; receivedAt: number }[] = [];
  private lingerTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Counters for the API and the benchmarks (of every transcoder this feed ran). */
  framesIn = 0;
  framesOut = 0;

  constructor(
    private readonly stream: Stream,
    private readonly options: AacFeedOptions,
    readonly from: Extract<AudioCodec, 'opus' | 'pcmu' | 'pcma'> = 'opus',
  ) {}

  /** The stream's feed now (the stream makes it for the first reader that asks), if any. */
  static existing(stream: Stream): AacFeed | undefined {
    const r = stream.currentRendition('opus', 'aac');
    return r instanceof AacFeed ? r : undefined;
  }

  view(): RenditionView {
    return { from: this.from, to: 'aac', readers: this.subscribers.size, framesIn: this.framesIn, framesOut: this.framesOut, framesDropped: this.transcoder?.framesDropped ?? 0 };
  }

  get running(): boolean {
    return this.handle !== null;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** The AAC track, once the encoder has given its configuration. */
  get track(): AudioTrack | null {
    return this.aacTrack;
  }

  /** The transcoder now running (counters), if any. */
  get current(): OpusToAac | null {
    return this.transcoder;
  }

  /** Kept AAC units with dts ≥ `fromDts`, oldest first. */
  recent(fromDts: number): MediaUnit[] {
    let i = this.recentUnits.length;
    while (i > 0 && this.recentUnits[i - 1]!.dts >= fromDts) i--;
    return this.recentUnits.slice(i);
  }

  subscribe(sub: AacFeedSubscriber): () => void {
    if (this.closed) {
      sub.stopped('transcoder stopped');
      return () => {};
    }
    this.subscribers.add(sub);
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    if (!this.handle) this.start();
    return () => {
      if (!this.subscribers.delete(sub) || this.subscribers.size > 0 || this.closed || this.lingerTimer) return;
      this.lingerTimer = setTimeout(() => this.stop('no more FLV or RTMP readers'), this.options.lingerMs);
      this.lingerTimer.unref();
    };
  }

  private start(): void {
    // The reader is attached first, so that the cached GOP replayed to it is transcoded too.
    this.options.log.info('transcoder started', { path: this.stream.path, from: this.from, to: 'aac' });
    this.handle = this.stream.addReader(
      { id: `transcode-${this.from}-aac/${this.stream.path}`, protocol: 'transcoder', remoteAddress: '' },
      {
        start: (info) => {
          for (const t of info.tracks) this.onTrack(t);
        },
        trackUpdate: (track) => this.onTrack(track),
        unit: (unit) => this.onUnit(unit),
        metadata: () => {},
        end: () => this.stop('stream ended'),
        backlog: () => 0,
        drop: (reason) => this.stop(reason),
      },
    );
    // It may have stopped while attaching (the audio was not Opus after all).
    if (this.closed) {
      this.handle.close();
      this.handle = null;
    }
  }

  private onTrack(track: Track): void {
    if (track.kind !== 'audio' || this.closed) return;
    if (track.codec !== this.from) return this.stop(`audio is ${track.codec} now`);
    this.opusTrackId = track.id;
    if (this.from !== 'opus' && !this.g711) {
      const law = this.from;
      this.g711 = AacToOpus.g711(law, {
        bitrate: 64_000,
        onPacket: (p) => this.transcoder?.push(p.data, p.pts),
        onError: (err) => this.stop(`G.711 stage failed: ${err.message}`),
      });
    }
    // Opus tracks here are mono or stereo (RFC 7845 mapping family 0); anything else is taken as stereo.
    const channels: 1 | 2 = track.channels === 1 ? 1 : 2;
    if (channels === this.channels) return;
    this.channels = channels;
    const previous = this.transcoder;
    const bitrate = channels === 1 ? Math.round(this.options.bitrate / 2) : this.options.bitrate;
    const transcoder: OpusToAac = OpusToAac.create({
      channels,
      bitrate,
      onConfig: (asc) => this.transcoder === transcoder && this.onConfig(asc, channels),
      onUnits: (units) => this.transcoder === transcoder && this.onAac(units),
      onError: (err) => {
        this.options.log.error('transcoder failed', { path: this.stream.path, reason: err.message });
        if (this.transcoder === transcoder) this.stop(`transcoder failed: ${err.message}`);
      },
      onWarning: (msg, fields) => this.options.log.warn(msg, { path: this.stream.path, ...fields }),
    });
    this.transcoder = transcoder;
    // Closed after the new one opened, so that the shared worker is not stopped and started again.
    previous?.close();
    // Readers announce the AAC track at once, with the configuration the encoder will give.
    this.onConfig(expectedAudioSpecificConfig(channels), channels);
  }

  private onConfig(asc: Buffer, channels: number): void {
    const current = this.aacTrack;
    if (current && current.channels === channels && current.config?.equals(asc)) return;
    const info = parseAudioSpecificConfig(asc);
    this.aacTrack = { kind: 'audio', id: this.opusTrackId, codec: 'aac', config: asc, sampleRate: AAC_RATE, channels, codecString: codecString(info) };
    for (const s of this.subscribers) s.track(this.aacTrack);
  }

  private onUnit(unit: MediaUnit): void {
    if (unit.track.kind === 'video') {
      if (unit.keyframe) {
        this.keyframeDts = unit.dts;
        this.trimRecent();
      }
      return;
    }
    if (unit.track.codec !== this.from || !this.transcoder) return;
    this.framesIn++;
    this.arrivals.push({ pts: unit.pts, receivedAt: unit.receivedAt });
    if (this.arrivals.length > ARRIVALS) this.arrivals.shift();
    if (this.g711) this.g711.push(unit.data, unit.pts);
    else this.transcoder.push(unit.data, unit.pts);
  }

  private onAac(units: AacUnit[]): void {
    const track = this.aacTrack;
    if (!track || this.closed) return;
    const made = units.map((u) => {
      this.framesOut++;
      const unit = makeUnit(track, u.pts, u.pts, true, u.data, this.arrivalOf(u.pts + FRAME_TICKS - 1));
      this.recentUnits.push(unit);
      this.recentBytes += unit.data.length;
      return unit;
    });
    this.trimRecent();
    for (const s of this.subscribers) s.units(made);
  }

  /** When the Opus packet that completed an AAC frame reached livegate (the latency it adds counts). */
  private arrivalOf(pts: number): number {
    for (let i = this.arrivals.length - 1; i >= 0; i--) if (this.arrivals[i]!.pts <= pts) return this.arrivals[i]!.receivedAt;
    return performance.now();
  }

  private trimRecent(): void {
    let drop = 0;
    const units = this.recentUnits;
    while (
      drop < units.length &&
      (units[drop]!.dts < this.keyframeDts || units.length - drop > RECENT_MAX_UNITS || this.recentBytes > RECENT_MAX_BYTES)
    ) {
      this.recentBytes -= units[drop]!.data.length;
      drop++;
    }
    if (drop > 0) this.recentUnits = units.slice(drop);
  }

  private stop(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.handle?.close();
    this.handle = null;
    const t = this.transcoder;
    this.transcoder = null;
    t?.close();
    this.g711?.close();
    this.g711 = null;
    this.recentUnits = [];
    this.options.log.info('transcoder stopped', {
      path: this.stream.path,
      from: this.from,
      to: 'aac',
      reason,
      framesIn: this.framesIn,
      framesOut: this.framesOut,
      framesDropped: t?.framesDropped,
      corruptPackets: t?.stats?.corruptPackets,
    });
    const subs = [...this.subscribers];
    this.subscribers.clear();
    for (const s of subs) s.stopped(reason);
  }
}
