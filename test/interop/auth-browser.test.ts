/**
 * Acceptance (issue 13) in Chromium through the SDK, with JWT credentials (in a loopback-only network
 * namespace): a publisher with a publish token goes live over WHIP, one without is refused as
 * unauthorized; the demo's player given a read token plays over WebRTC (WHEP, Bearer), FLV
 * (mpegts.js, `?token=`) and HLS (hls.js, `Authorization` on every request), with frames and the
 * tone; without a token each rung is refused as unauthorized. And over HTTPS (the dev certificate;
 * `--ignore-certificate-errors` in this test only): the demo page served over https:// publishes WHIP
 * and plays WHEP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { FAKE_MEDIA_FLAGS, launchChromium, WEBRTC_FLAGS } from '../helpers/browser.js';
import { openPlayer, playing, view } from '../helpers/demo-page.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { IN_LOOPBACK_NETNS, runInLoopbackNamespace } from '../helpers/netns.js';
import { requireTools } from '../helpers/tools.js';
import { makeCert } from '../helpers/tls.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'auth-browser-secret-0123456789';
const jwt = (permissions: { action: string; path?: string }[]) =>
  new SignJWT({ permissions }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));

/** Starts the SDK's publisher in `page` (the fake camera); resolves with the error code, or 'ok'. */
function startPublisher(page: Page, token: string | null): Promise<string> {
  return page.evaluate(async (token) => {
    const sdk = (await import('/sdk/livegate.js' as string)) as typeof import('@livegate/sdk');
    const p = new sdk.LivegatePublisher({ server: location.origin, path: 'live/cam', reconnect: { maxAttempts: 0 }, ...(token ? { token } : {}) });
    try {
      await p.start({ width: 640, height: 360 });
      (window as unknown as { publisher: unknown }).publisher = p;
      return 'ok';
    } catch (e) {
      return (e as { code?: string }).code ?? String(e);
    }
  }, token);
}

if (!IN_LOOPBACK_NETNS) {
  test('credentials in Chromium through the SDK (run in a loopback-only network namespace)', { timeout: 300_000 }, async (t) => {
    if (!requireTools(t, 'chromium', 'unshare', 'ip', 'openssl')) return;
    const { code, output } = await runInLoopbackNamespace(import.meta.url);
    t.diagnostic(output.split('\n').filter((l) => /✔|✖|ℹ|Error|error|expected|actual/.test(l)).slice(0, 60).join('\n'));
    assert.equal(code, 0, output.slice(-5000));
  });
} else {
  describe('credentials in Chromium through the SDK', { concurrency: false }, () => {
    let gw: TestGateway;
    let browser: Browser;
    let readToken: string;

    before(async () => {
      gw = await startGateway({
        webrtc: { additionalHosts: ['127.0.0.1'] },
        http: { tls: { port: 0, ...makeCert() } },
        auth: { methods: ['jwt'], jwt: { secret: SECRET, algorithms: ['HS256'] }, failures: { freeFailures: 1000 } },
      });
      await gw.gateway.web!.load();
      browser = await launchChromium([...WEBRTC_FLAGS, ...FAKE_MEDIA_FLAGS, '--autoplay-policy=no-user-gesture-required', '--ignore-certificate-errors']);
      readToken = await jwt([{ action: 'read', path: 'live/cam' }]);
    });
    after(async () => {
      await browser?.close();
      await gw?.close();
    });

    test('WHIP: no token → unauthorized; a publish token → live', async () => {
      const page = await (await browser.newContext()).newPage();
      await page.goto(gw.httpUrl(''));
      assert.equal(await startPublisher(page, null), 'unauthorized');
      assert.equal(await startPublisher(page, await jwt([{ action: 'read', path: 'live/cam' }])), 'forbidden', 'a token that may only read');
      assert.equal(await startPublisher(page, await jwt([{ action: 'publish', path: 'live/cam' }])), 'ok');
      await waitFor(() => gw.gateway.registry.get('live/cam')?.tracks.length === 2, 15_000, 'the WHIP stream live');
      assert.equal(gw.gateway.registry.get('live/cam')!.publisher.grant?.method, 'jwt');
    });

    for (const protocol of ['webrtc', 'flv', 'hls']) {
      test(`${protocol}: the player with a read token plays (frames, tone); without one it is refused as unauthorized`, async () => {
        const refused = await openPlayer(browser, gw, 'live/cam', protocol);
        await waitFor(async () => (await view(refused.page)).events.some((e) => /unauthorized/.test(e.detail) || /unauthorized/.test(e.type)), 15_000, `${protocol} refused as unauthorized`).catch(async (err: Error) => {
          throw new Error(`${err.message}: ${JSON.stringify((await view(refused.page)).events)}`);
        });
        assert.notEqual((await view(refused.page)).state, 'playing');
        await refused.context.close();
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(gw.httpUrl(`#/play?path=live/cam&protocol=${protocol}&token=${readToken}`));
        const { probe } = await import('../helpers/demo-page.js');
        await probe(page);
        const v = await playing(page, protocol, 30_000);
        // (The size follows the browser encoder's own adaptation to the CPU: not asserted.)
        assert.ok(v.width > 0 && v.height > 0);
        await context.close();
      });
    }

    test('over HTTPS: the demo page from https:// publishes (WHIP) and plays (WebRTC) with tokens', async () => {
      const origin = `https://127.0.0.1:${gw.gateway.ports.https}`;
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const pub = await context.newPage();
      await pub.goto(`${origin}/`);
      assert.equal(await pub.evaluate(() => location.protocol), 'https:');
      const token = await jwt([{ action: 'publish', path: 'live/secure' }]);
      const code = await pub.evaluate(async (token) => {
        const sdk = (await import('/sdk/livegate.js' as string)) as typeof import('@livegate/sdk');
        const p = new sdk.LivegatePublisher({ server: location.origin, path: 'live/secure', token });
        try {
          await p.start({ width: 320, height: 240 });
          (window as unknown as { secure: unknown }).secure = p;
          return 'ok';
        } catch (e) {
          return (e as { code?: string }).code ?? String(e);
        }
      }, token);
      assert.equal(code, 'ok');
      await waitFor(() => gw.gateway.registry.get('live/secure')?.tracks.length === 2, 15_000, 'published over https');
      const page = await context.newPage();
      await page.goto(`${origin}/#/play?path=live/secure&protocol=webrtc&token=${await jwt([{ action: 'read', path: 'live/secure' }])}`);
      const { probe } = await import('../helpers/demo-page.js');
      await probe(page);
      await playing(page, 'webrtc', 30_000);
      await context.close();
    });
  });
}
