/** hls.js, in a module of its own so that bundlers split it out and only the HLS rung loads it. */
import type HlsType from 'hls.js';
// The light build (fMP4/TS playback and LL-HLS, without subtitles, alternate audio or DRM) ships no
// declarations of its own; its API is the full build's.
// @ts-expect-error no declaration file for hls.js/light
import HlsLight from 'hls.js/light';

export const Hls = HlsLight as typeof HlsType;
