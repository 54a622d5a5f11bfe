/** RFC 6381 codec strings for the multivariant playlist's CODECS, from the track or its configuration. */
import type { Track } from '../../core/media-unit.js';
import { codecString as aacCodecString, parseAudioSpecificConfig } from '../../codec/aac.js';
import { codecString as h265CodecString, parseHvcC } from '../../codec/h265.js';

export function codecStringOf(track: Track): string | null {
  if (track.codecString && track.codecString !== 'opus') return track.codecString;
  const config = track.config;
  try {
    if (track.codec === 'h264' && config && config.length >= 4) {
      const hex = (n: number): string => n.toString(16).padStart(2, '0');
      return `avc1.${hex(config[1]!)}${hex(config[2]!)}${hex(config[3]!)}`;
    }
    if (track.codec === 'h265' && config) return h265CodecString(parseHvcC(config));
    if (track.codec === 'aac' && config) return aacCodecString(parseAudioSpecificConfig(config));
  } catch {
    // A configuration that does not parse: the playlist goes without this codec string.
  }
  if (track.codec === 'aac') return 'mp4a.40.2';
  if (track.codec === 'opus') return 'opus';
  return null;
}
