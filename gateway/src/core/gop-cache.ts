import type { MediaUnit } from './media-unit.js';

export interface GopCacheLimits {
  /** Drop the cached GOP when it grows past this many bytes (a stream with rare keyframes). */
  maxBytes: number;
  maxUnits: number;
}

/**
 * The units of every track since the last video keyframe, so that a reader joining mid-stream can
 * start decoding at once. Audio-only streams cache nothing: every audio unit is a random access
 * point, so a new reader simply starts with the next one.
 */
export class GopCache {
  private units: MediaUnit[] = [];
  private bytes = 0;
  /** True while the cache starts on a video keyframe and is complete since then. */
  private valid = false;

  constructor(private readonly limits: GopCacheLimits) {}

  add(unit: MediaUnit): void {
    if (unit.track.kind === 'video' && unit.keyframe) {
      this.units = [unit];
      this.bytes = unit.data.length;
      this.valid = true;
      return;
    }
    if (!this.valid) return;
    if (this.units.length >= this.limits.maxUnits || this.bytes + unit.data.length > this.limits.maxBytes) {
      this.clear();
      return;
    }
    this.units.push(unit);
    this.bytes += unit.data.length;
  }

  /** The cached units, oldest first (a keyframe first), or [] when nothing usable is cached. */
  snapshot(): readonly MediaUnit[] {
    return this.valid ? this.units.slice() : [];
  }

  clear(): void {
    this.units = [];
    this.bytes = 0;
    this.valid = false;
  }

  get size(): { units: number; bytes: number } {
    return { units: this.valid ? this.units.length : 0, bytes: this.valid ? this.bytes : 0 };
  }
}
