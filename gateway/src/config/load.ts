import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../core/errors.js';
import { configSchema, type Config, type ConfigInput } from './schema.js';

type Env = { [key: string]: string | undefined };

/** Command-line overrides, already parsed (the CLI owns the flag names). */
export interface ConfigOverrides {
  host?: string;
  logLevel?: string;
  rtmpPort?: string;
  httpPort?: string;
  srtPort?: string;
  rtspPort?: string;
}

/** Validates a config object (from YAML or code) and fills in every default. */
export function parseConfig(input: unknown, origin = 'config'): Config {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid ${origin}:\n${lines.join('\n')}`);
  }
  return result.data;
}

function portValue(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${name}: "${raw}" is not a port number`);
  return n;
}

/**
 * Builds the running configuration: built-in defaults, then the YAML file (if any), then the
 * environment (LIVEGATE_*_PORT, LIVEGATE_HOST, LIVEGATE_LOG_LEVEL), then command-line flags.
 */
export async function loadConfig(file: string | undefined, env: Env, flags: ConfigOverrides): Promise<Config> {
  let raw: ConfigInput = {};
  if (file) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    try {
      raw = (parseYaml(text) as ConfigInput | null) ?? {};
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`config file ${file} must hold a mapping`);
  }
  const merged = structuredClone(raw) as Record<string, Record<string, unknown> | unknown>;
  const section = (name: string): Record<string, unknown> => {
    const s = merged[name];
    if (s === undefined || s === null) return (merged[name] = {}) as Record<string, unknown>;
    if (typeof s !== 'object') throw new ConfigError(`${name} must be a mapping`);
    return s as Record<string, unknown>;
  };
  const ports: [keyof ConfigOverrides, string, string][] = [
    ['rtmpPort', 'LIVEGATE_RTMP_PORT', 'rtmp'],
    ['httpPort', 'LIVEGATE_HTTP_PORT', 'http'],
    ['srtPort', 'LIVEGATE_SRT_PORT', 'srt'],
    ['rtspPort', 'LIVEGATE_RTSP_PORT', 'rtsp'],
  ];
  for (const [flag, envName, name] of ports) {
    const fromEnv = portValue(env[envName], envName);
    const fromFlag = portValue(flags[flag], `--${name}-port`);
    const value = fromFlag ?? fromEnv;
    if (value !== undefined) section(name).port = value;
  }
  const host = flags.host ?? env.LIVEGATE_HOST;
  if (host) merged.host = host;
  const level = flags.logLevel ?? env.LIVEGATE_LOG_LEVEL;
  if (level) merged.logLevel = level;
  return parseConfig(merged, file ? `config file ${file}` : 'configuration');
}
