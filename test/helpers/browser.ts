/** Headless Debian Chromium through playwright-core, with nothing that reaches the internet. */
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * What Chromium needs for WebRTC to livegate on loopback: loopback candidates (it leaves them out by
 * default) and plain addresses instead of mDNS names.
 */
export const WEBRTC_FLAGS = ['--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'];

/** A fake camera and microphone, granted without a prompt. */
export const FAKE_MEDIA_FLAGS = ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'];

/** `executablePath`: another way to start Chromium (a wrapper that enters a network namespace). */
export function launchChromium(extraArgs: string[] = [], executablePath: string = CHROMIUM): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-features=MediaRouter,OptimizationHints',
      '--autoplay-policy=no-user-gesture-required',
      ...extraArgs,
    ],
  });
}

/** Serves fixed pages and scripts on 127.0.0.1 (port 0); `files` maps URL paths to [type, body]. */
export async function serveStatic(files: { [path: string]: [string, string | Buffer] }): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const f = files[new URL(req.url ?? '/', 'http://x').pathname];
    if (!f) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': f[0], 'Cache-Control': 'no-store' }).end(f[1]);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, server };
}

export function readModule(path: string): Buffer {
  return readFileSync(new URL(`../../node_modules/${path}`, import.meta.url));
}
