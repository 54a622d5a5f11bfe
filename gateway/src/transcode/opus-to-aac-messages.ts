/**
 * The messages between the main thread and the Opus → AAC host worker. One worker serves every
 * transcoder of the process, so each message names its transcoder by id. Media travels in batches:
 * everything pushed in one turn of the event loop goes in one message, its bytes packed into one
 * transferred ArrayBuffer (a Buffer sliced from a larger one would otherwise be cloned whole).
 */

/** Per packet in a `push` batch: transcoder id, pts (90 kHz), byte offset, byte length, flags. */
export const PUSH_FIELDS = 5;
/** Flag: input was dropped before this packet; start a new segment here instead of concealing. */
export const PUSH_RESYNC = 1;
/** Per unit in an `out` batch: transcoder id, pts (90 kHz), byte offset, byte length. */
export const OUT_FIELDS = 4;

export type ToWorker =
  | { type: 'open'; id: number; channels: 1 | 2; bitrate: number }
  | { type: 'push'; bytes: ArrayBuffer; entries: number[] }
  | { type: 'close'; id: number };

/** Counters of one transcoder, as the worker sees them. */
export interface PipelineStats {
  id: number;
  /** Input packets fully handled (decoded and taken by the encoder, or discarded). */
  consumed: number;
  framesOut: number;
  /** Host-worker time spent decoding this transcoder's Opus and concealing its gaps (wall ms). */
  decodeMs: number;
  /** Packets that did not decode: their time was concealed instead. */
  corruptPackets: number;
  concealedSamples: number;
  duplicates: number;
  restarts: number;
  /** Threads that appeared when this transcoder's encoder started (its libavcodec worker). */
  encoderThreads: number[];
}

export type FromWorker =
  | { type: 'ready'; threadId: number | null }
  | { type: 'config'; id: number; asc: Uint8Array }
  | { type: 'out'; bytes: ArrayBuffer; entries: number[]; stats: PipelineStats[] }
  | { type: 'warning'; id: number; msg: string; fields: Record<string, string | number> }
  | { type: 'error'; id: number; message: string };
