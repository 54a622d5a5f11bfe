/**
 * Structured logging: one JSON line per event, with the session id, path, protocol and remote
 * address as fields, so that a session's whole life can be found with one grep.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = { [key: string]: string | number | boolean | null | undefined };

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export type LogSink = (line: string) => void;

export function createLogger(
  level: LogLevel = 'info',
  sink: LogSink = (line) => process.stdout.write(line + '\n'),
  base: LogFields = {},
): Logger {
  const min = ORDER[level];
  const write = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (ORDER[lvl] < min) return;
    sink(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...base, ...fields }));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger(level, sink, { ...base, ...fields }),
  };
}

/** A logger that drops everything (library use and unit tests). */
export const silentLogger: Logger = createLogger('error', () => {});

let nextId = 0;
/** Short unique session ids: protocol prefix + counter + random suffix (e.g. "rtmp-12-k3f9"). */
export function sessionId(prefix: string): string {
  nextId = (nextId + 1) % 1_000_000_000;
  return `${prefix}-${nextId}-${Math.random().toString(36).slice(2, 6)}`;
}
