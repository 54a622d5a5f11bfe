export * from './audio-body.js';
export * from './demuxer.js';
export * from './tag.js';
export * from './video-body.js';
