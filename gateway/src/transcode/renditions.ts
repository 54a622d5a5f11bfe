/**
 * The renditions livegate can make, for the registry (see core/rendition.ts): Opus → AAC for FLV and
 * RTMP players, AAC → Opus for WebRTC viewers, and a camera's G.711 (PCMU/PCMA) → AAC and → Opus. The gateway gives these to the StreamRegistry at
 * start; readers only say which codecs they play.
 */
import type { AudioTrack, StreamMetadata } from '../core/media-unit.js';
import type { Logger } from '../core/log.js';
import type { RenditionMaker } from '../core/rendition.js';
import { AAC_RATE } from './aac-clock.js';
import type { AacDecoderKind } from './aac-decoders.js';
import { AacFeed } from './aac-feed.js';
import { expectedAudioSpecificConfig } from './opus-to-aac.js';
import { OpusFeed, opusTrackFor } from './opus-feed.js';

/** FLV's SoundFormat for AAC (E.4.2.1), for rewriting onMetaData. */
const FLV_AAC = 10;

const placeholders = new WeakMap<AudioTrack, AudioTrack>();
const rewrittenMetadata = new WeakMap<StreamMetadata, StreamMetadata>();

/** The AAC track announced for an Opus track before the encoder has spoken (the config it will give). */
function aacPlaceholderFor(opus: AudioTrack): AudioTrack {
  let t = placeholders.get(opus);
  if (!t) {
    const channels = opus.channels === 1 ? 1 : 2;
    t = { kind: 'audio', id: opus.id, codec: 'aac', config: expectedAudioSpecificConfig(channels), sampleRate: AAC_RATE, channels, codecString: 'mp4a.40.2' };
    placeholders.set(opus, t);
  }
  return t;
}

/** onMetaData that names Opus audio would mislead players that get AAC: it names AAC instead. */
function aacMetadata(meta: StreamMetadata): StreamMetadata {
  if (meta.audiocodecid === undefined) return meta;
  let out = rewrittenMetadata.get(meta);
  if (!out) {
    out = { ...meta, audiocodecid: FLV_AAC, audiosamplerate: AAC_RATE };
    rewrittenMetadata.set(meta, out);
  }
  return out;
}

export interface OpusToAacOptions {
  /** AAC bitrate of a stereo stream, bits per second; mono streams get half. */
  bitrate: number;
  /** How long the transcoder lives on after its last reader (ms). */
  lingerMs: number;
  log: Logger;
}

/** Opus → AAC, once per stream, for the readers that play AAC (FLV, RTMP, HLS). */
export function opusToAac(options: OpusToAacOptions): RenditionMaker {
  return {
    from: 'opus',
    to: 'aac',
    make: (stream) => new AacFeed(stream, options),
    placeholder: aacPlaceholderFor,
    metadata: aacMetadata,
  };
}

export interface AacToOpusOptions {
  /** Opus bitrate, bits per second. */
  bitrate: number;
  decoder: AacDecoderKind;
  /** How long the transcoder lives on after its last reader (ms). */
  lingerMs: number;
  log: Logger;
}

/** AAC → Opus, once per stream, for WebRTC viewers. */
export function aacToOpus(options: AacToOpusOptions): RenditionMaker {
  return {
    from: 'aac',
    to: 'opus',
    make: (stream) => new OpusFeed(stream, options),
    placeholder: opusTrackFor,
  };
}

/** G.711 (PCMU and PCMA from RTSP cameras) → AAC for FLV, RTMP and HLS readers, and → Opus for WebRTC viewers. */
export function g711Renditions(aac: OpusToAacOptions, opus: AacToOpusOptions): RenditionMaker[] {
  return (['pcmu', 'pcma'] as const).flatMap((law): RenditionMaker[] => [
    { from: law, to: 'aac', make: (stream) => new AacFeed(stream, aac, law), placeholder: aacPlaceholderFor, metadata: aacMetadata },
    { from: law, to: 'opus', make: (stream) => new OpusFeed(stream, opus, law), placeholder: opusTrackFor },
  ]);
}
