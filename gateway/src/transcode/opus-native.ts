/**
 * libopus (opusscript's WASM build) without opusscript's JavaScript wrapper.
 *
 * Why: opusscript 0.1.1's wrapper gives its C side the byte address of a 16-bit view of its PCM
 * buffers, i.e. twice the address it allocated, and the C side keeps each PCM byte in a 16-bit slot
 * (4 bytes per sample). One instance gets away with it (the doubled address lands in unused heap);
 * a few instances in one thread overwrite each other's libopus state and the module aborts
 * ("assertion failed … opus_decoder.c", or "memory access out of bounds") — the Opus → AAC host
 * worker runs one decoder per stream. Here the buffers have their real sizes (slots included) and
 * are reached through the module's current memory view (which it replaces when its memory grows).
 * The encoder gives the same bytes as opusscript's.
 */
import { createRequire } from 'node:module';

interface Handler {
  /** Decodes `length` bytes at `input` into `output` (each PCM byte in a 16-bit slot); samples per channel, or < 0. */
  _decode(input: number, length: number, output: number): number;
  /** Encodes `frameSize` samples (`length` PCM bytes, each in a 16-bit slot, at `input`) into `output`; bytes, or < 0. */
  _encode(input: number, length: number, output: number, frameSize: number): number;
  _encoder_ctl(ctl: number, value: number): number;
}

interface OpusNative {
  OpusScriptHandler: { new (rate: number, channels: number, application: number): Handler; destroy_handler(h: Handler): void };
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  HEAPU8: Uint8Array;
}

/** libopus decodes at most 120 ms per packet (RFC 6716 §3.2.5). */
const MAX_SAMPLES = 5760;
/** The largest packet RFC 6716 allows: 48 frames of 1275 bytes and their framing. */
const MAX_PACKET_BYTES = 48 * 1277 + 2;
const OPUS_APPLICATION_AUDIO = 2049;
const OPUS_SET_BITRATE = 4002;
const OPUS_GET_LOOKAHEAD = 4027;
/** Largest packet libopus makes for one frame (RFC 6716 §3.4 R2: 1275 bytes per frame, 3 frames). */
const MAX_ENCODED_BYTES = 3 * 1275 + 3;
/** 20 ms of stereo: what opusscript's C side is known to hold (see `encode`). */
const MAX_ENCODE_VALUES = 1920;
const RATE = 48_000;

const require = createRequire(import.meta.url);
let native: OpusNative | null = null;

/** One WASM module per thread, shared by the decoders of that thread. */
function opusNative(): OpusNative {
  return (native ??= (require('opusscript/build/opusscript_native_wasm.js') as () => OpusNative)());
}

export class OpusDecoder {
  private readonly native = opusNative();
  private readonly handler: Handler;
  private readonly input: number;
  private readonly output: number;
  private closed = false;

  constructor(readonly channels: 1 | 2) {
    this.handler = new this.native.OpusScriptHandler(RATE, channels, OPUS_APPLICATION_AUDIO);
    this.input = this.native._malloc(MAX_PACKET_BYTES);
    this.output = this.native._malloc(MAX_SAMPLES * channels * 4);
  }

  /**
   * Decodes one packet into interleaved 16-bit PCM at 48 kHz, or returns null when libopus refuses
   * it. An empty packet asks for loss concealment (libopus makes 120 ms of it).
   */
  decode(packet: Buffer): Int16Array | null {
    if (this.closed || packet.length > MAX_PACKET_BYTES) return null;
    this.native.HEAPU8.set(packet, this.input);
    const samples = this.handler._decode(this.input, packet.length, this.output);
    if (samples < 0) return null;
    const values = samples * this.channels;
    const heap = this.native.HEAPU8;
    const out = new Int16Array(values);
    for (let i = 0, p = this.output; i < values; i++, p += 4) out[i] = (heap[p]! | (heap[p + 2]! << 8)) << 16 >> 16;
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.OpusScriptHandler.destroy_handler(this.handler);
    this.native._free(this.input);
    this.native._free(this.output);
  }
}

export class OpusEncoder {
  private readonly native = opusNative();
  private readonly handler: Handler;
  private readonly input: number;
  private readonly output: number;
  private closed = false;

  constructor(
    readonly channels: 1 | 2,
    bitrate?: number,
  ) {
    this.handler = new this.native.OpusScriptHandler(RATE, channels, OPUS_APPLICATION_AUDIO);
    if (bitrate !== undefined) this.handler._encoder_ctl(OPUS_SET_BITRATE, bitrate);
    this.input = this.native._malloc(MAX_SAMPLES * channels * 4);
    this.output = this.native._malloc(MAX_ENCODED_BYTES);
  }

  /** An encoder CTL with one integer argument (e.g. OPUS_SET_INBAND_FEC 4012); libopus's result code. */
  ctl(request: number, value: number): number {
    if (this.closed) throw new Error('OpusEncoder is closed');
    return this.handler._encoder_ctl(request, value);
  }

  /**
   * The encoder's lookahead in samples at 48 kHz (OPUS_GET_LOOKAHEAD; 312 for this application): the
   * decoded output is that much later than the input, and RFC 7845's pre-skip is this number. RTP
   * has no pre-skip, so a sender shifts its timestamps by it instead.
   */
  lookahead(): number {
    if (this.closed) throw new Error('OpusEncoder is closed');
    const ptr = this.native._malloc(4);
    try {
      // The build passes its second argument through as an int: a GET request takes the address.
      const rc = this.handler._encoder_ctl(OPUS_GET_LOOKAHEAD, ptr);
      if (rc !== 0) throw new Error(`OPUS_GET_LOOKAHEAD failed (${rc})`);
      const h = this.native.HEAPU8;
      return h[ptr]! | (h[ptr + 1]! << 8) | (h[ptr + 2]! << 16) | (h[ptr + 3]! << 24);
    } finally {
      this.native._free(ptr);
    }
  }

  /**
   * Encodes one frame of interleaved 16-bit PCM into a packet: 2.5 … 20 ms (120 … 960 samples per
   * channel). Longer frames overrun the build's own input buffer (60 ms of stereo traps at once, 40 ms
   * corrupts its heap); longer packets are 20 ms frames packed together, as libopus makes them.
   */
  encode(pcm: Int16Array): Buffer {
    if (this.closed) throw new Error('OpusEncoder is closed');
    if (pcm.length > MAX_ENCODE_VALUES) throw new RangeError(`at most ${MAX_ENCODE_VALUES} PCM values per frame`);
    const frame = pcm.length / this.channels;
    const heap = this.native.HEAPU8;
    for (let i = 0, p = this.input; i < pcm.length; i++, p += 4) {
      heap[p] = pcm[i]! & 0xff;
      heap[p + 1] = 0;
      heap[p + 2] = (pcm[i]! >> 8) & 0xff;
      heap[p + 3] = 0;
    }
    const bytes = this.handler._encode(this.input, pcm.length * 2, this.output, frame);
    if (bytes < 0) throw new Error(`libopus could not encode (error ${bytes})`);
    return Buffer.from(this.native.HEAPU8.subarray(this.output, this.output + bytes));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.OpusScriptHandler.destroy_handler(this.handler);
    this.native._free(this.input);
    this.native._free(this.output);
  }
}
