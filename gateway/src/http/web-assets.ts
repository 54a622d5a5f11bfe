/**
 * The browser SDK (`/sdk/livegate.js` and the chunks it loads on demand) and the demo app (`/`),
 * built from the repository's sources with esbuild on first request, kept in memory, served with
 * ETags and gzip. Nothing is fetched from a CDN.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Logger } from '../core/log.js';
import type { HttpServer } from './http-server.js';

interface Asset {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
  etag: string;
  /** Content-hashed names never change: cached for a year. */
  immutable: boolean;
}

const TYPES: { [ext: string]: string } = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

/** The repository root (this file is gateway/src/http or gateway/dist/http). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface WebSources {
  /** The SDK's entry (sdk-browser/src/index.ts). */
  sdkEntry: string;
  /** The demo's folder (demo/: index.html, style.css, src/main.ts). */
  demoDir: string;
}

export const DEFAULT_WEB_SOURCES: WebSources = {
  sdkEntry: join(ROOT, 'sdk-browser', 'src', 'index.ts'),
  demoDir: join(ROOT, 'demo'),
};

/** What the build made, by URL path. */
export type WebFiles = Map<string, Asset>;

/** Builds the SDK (ESM, split: mpegts.js and hls.js in chunks of their own) and the demo, in memory. */
export async function buildWebFiles(sources: WebSources, withDemo: boolean): Promise<WebFiles> {
  const { build } = await import('esbuild');
  const files: WebFiles = new Map();
  const sdkOut = '/out/sdk';
  const sdk = await build({
    entryPoints: { livegate: sources.sdkEntry },
    bundle: true,
    splitting: true,
    format: 'esm',
    minify: true,
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    outdir: sdkOut,
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    write: false,
    logLevel: 'silent',
    legalComments: 'eof',
  });
  for (const f of sdk.outputFiles) add(files, `/sdk/${relative(sdkOut, f.path).split('\\').join('/')}`, Buffer.from(f.contents), f.path.includes('/chunks/'));
  if (withDemo) {
    const demoOut = '/out/demo';
    const demo = await build({
      entryPoints: { app: join(sources.demoDir, 'src', 'main.ts') },
      bundle: true,
      format: 'esm',
      minify: true,
      target: ['es2020'],
      outdir: demoOut,
      write: false,
      logLevel: 'silent',
      // The demo uses the SDK the gateway serves, as any page would.
      plugins: [{ name: 'livegate-sdk', setup: (b) => b.onResolve({ filter: /^@livegate\/sdk$/ }, () => ({ path: '/sdk/livegate.js', external: true })) }],
    });
    for (const f of demo.outputFiles) add(files, `/demo/${basename(f.path)}`, Buffer.from(f.contents), false);
    add(files, '/', readFileSync(join(sources.demoDir, 'index.html')), false, '.html');
    add(files, '/demo/style.css', readFileSync(join(sources.demoDir, 'style.css')), false);
  }
  return files;
}

function add(files: WebFiles, path: string, body: Buffer, immutable: boolean, ext = extname(path)): void {
  const type = TYPES[ext] ?? 'application/octet-stream';
  const gzip = body.length > 1024 && !type.startsWith('image/') ? gzipSync(body, { level: 9 }) : null;
  const etag = `"${createHash('sha1').update(body).digest('base64url').slice(0, 20)}"`;
  files.set(path, { body, gzip, type, etag, immutable });
}

/** Serves the SDK under /sdk/ and, unless disabled, the demo at / (both built once, on first request). */
export class WebAssets {
  private files: Promise<WebFiles> | null = null;
  readonly available: boolean;

  constructor(
    private readonly options: { demo: boolean; log: Logger; sources?: WebSources },
  ) {
    const s = options.sources ?? DEFAULT_WEB_SOURCES;
    this.available = existsSync(s.sdkEntry) && (!options.demo || existsSync(join(s.demoDir, 'src', 'main.ts')));
  }

  /** Whether the demo page is served (for the start banner). */
  get servesDemo(): boolean {
    return this.available && this.options.demo;
  }

  register(http: HttpServer): void {
    if (!this.available) return;
    http.route('GET', /^\/sdk\/(?<file>[A-Za-z0-9_.\-/]+)$/, (req, res, params) => this.serve(req, res, `/sdk/${params.file ?? ''}`));
    if (this.options.demo) {
      http.route('GET', '/', (req, res) => this.serve(req, res, '/'));
      http.route('GET', /^\/demo\/(?<file>[A-Za-z0-9_.-]+)$/, (req, res, params) => this.serve(req, res, `/demo/${params.file ?? ''}`));
    }
  }

  /** Builds now (the first request would otherwise wait for it). */
  load(): Promise<WebFiles> {
    this.files ??= (async () => {
      const started = performance.now();
      const files = await buildWebFiles(this.options.sources ?? DEFAULT_WEB_SOURCES, this.options.demo);
      this.options.log.info('web assets built', { files: files.size, ms: Math.round(performance.now() - started) });
      return files;
    })();
    this.files.catch(() => (this.files = null));
    return this.files;
  }

  private async serve(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let files: WebFiles;
    try {
      files = await this.load();
    } catch (err) {
      this.options.log.error('web assets could not be built', { reason: String(err) });
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end('the SDK and demo could not be built; see the server log\n');
      return;
    }
    const asset = files.get(path);
    if (!asset) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    const headers: { [k: string]: string } = {
      'Content-Type': asset.type,
      ETag: asset.etag,
      'Cache-Control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      Vary: 'Accept-Encoding',
      'X-Content-Type-Options': 'nosniff',
    };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    const gzip = asset.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? asset.gzip! : asset.body;
    if (gzip) headers['Content-Encoding'] = 'gzip';
    headers['Content-Length'] = String(body.length);
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
