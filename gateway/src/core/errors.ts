/**
 * Every error livegate raises on purpose, with a stable `code` (as undici and fastify do).
 * A session that catches one of these closes itself and logs `code` and `message` as the reason.
 */
export type ErrorCode =
  | 'ERR_PARSE'
  | 'ERR_LIMIT'
  | 'ERR_PROTOCOL'
  | 'ERR_UNSUPPORTED'
  | 'ERR_TIMEOUT'
  | 'ERR_STREAM_BUSY'
  | 'ERR_STREAM_NOT_FOUND'
  | 'ERR_SLOW_READER'
  | 'ERR_CONFIG'
  | 'ERR_REJECTED'
  | 'ERR_CLOSED';

export class LivegateError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Malformed bytes: a field that cannot be what the format allows. */
export class ParseError extends LivegateError {
  constructor(message: string) {
    super('ERR_PARSE', message);
  }
}

/** A size, depth or count limit was exceeded (hostile or broken peer). */
export class LimitError extends LivegateError {
  constructor(message: string) {
    super('ERR_LIMIT', message);
  }
}

/** Well-formed bytes used in a way the protocol does not allow. */
export class ProtocolError extends LivegateError {
  constructor(message: string) {
    super('ERR_PROTOCOL', message);
  }
}

/** A valid feature livegate does not implement. */
export class UnsupportedError extends LivegateError {
  constructor(message: string) {
    super('ERR_UNSUPPORTED', message);
  }
}

export class TimeoutError extends LivegateError {
  constructor(message: string) {
    super('ERR_TIMEOUT', message);
  }
}

/** A second publisher on a live path whose publisher is still sending (and take-over is not allowed). */
export class StreamBusyError extends LivegateError {
  constructor(
    path: string,
    /** The current publisher is silent: if it stays so this much longer, it can be taken over. */
    readonly retryInMs?: number,
  ) {
    super('ERR_STREAM_BUSY', `stream "${path}" is already being published`);
  }
}

export class StreamNotFoundError extends LivegateError {
  constructor(path: string) {
    super('ERR_STREAM_NOT_FOUND', `stream "${path}" is not live`);
  }
}

export class SlowReaderError extends LivegateError {
  constructor(message: string) {
    super('ERR_SLOW_READER', message);
  }
}

export class ConfigError extends LivegateError {
  constructor(message: string) {
    super('ERR_CONFIG', message);
  }
}

/** The peer refused us with a protocol-level code (e.g. an SRT handshake rejection). */
export class RejectedError extends LivegateError {
  constructor(
    message: string,
    /** The code as the protocol carries it (SRT: the handshake type, 1000 + reason). */
    readonly rejectCode: number,
  ) {
    super('ERR_REJECTED', message);
  }
}

/** Describes any thrown value in one line for a log's `reason` field. */
export function describeError(err: unknown): string {
  if (err instanceof LivegateError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
