/**
 * Acceptance (issue 4): srt-live-transmit (libsrt 1.5) as the caller publishes and reads, in clear
 * and with passphrases (pbkeylen 16 and 32); a wrong or missing passphrase is rejected and the
 * caller reports why; application refusals carry their codes; key refresh works both ways (livegate's
 * followed by libsrt's decryption, libsrt's by livegate's).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AccessReject } from '../../gateway/src/protocols/srt/listener-handshake.js';
import { SrtCaller } from '../../gateway/src/protocols/srt/caller.js';
import { RejectedError } from '../../gateway/src/core/errors.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { checkTs, sltPublish, sltRead, type Proc } from '../helpers/srt.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';

const PUBLISH_SECRET = 'publish-secret-1';
const READ_SECRET = 'read-secret-2345';

/** Reads `uri` for `ms` with srt-live-transmit and checks the TS it got. */
async function readFor(uri: string, ms: number) {
  const r = sltRead(uri);
  await sleep(ms);
  await r.stop();
  return { ...checkTs(r.bytes()), bytes: r.bytes().length, stderr: r.stderr() };
}

/** Waits until a caller that keeps retrying has printed `pattern`, then stops it. */
async function expectRefused(p: Proc, pattern: RegExp): Promise<void> {
  try {
    await waitFor(() => pattern.test(p.stderr()), 8000, `srt-live-transmit to report ${pattern}`);
  } finally {
    await p.stop();
  }
}

describe('srt-live-transmit as caller: publish and read, clear and encrypted', { concurrency: false }, () => {
  let gw: TestGateway;
  const running: Proc[] = [];

  before(async () => {
    if (!hasTool('srt-live-transmit') && process.env.CI !== 'true') return;
    gw = await startGateway({
      srt: {
        passphrases: [{ path: 'secure/*', publish: PUBLISH_SECRET, read: READ_SECRET }],
        keyRefreshPackets: 400,
        keyPreAnnouncePackets: 100,
      },
      streams: { publisherIdleTimeoutMs: 5000 },
    });
  });

  after(async () => {
    await Promise.all(running.map((p) => p.stop()));
    await gw?.close();
  });

  test('publishes in clear, and is read back in clear with zero continuity errors', async (t) => {
    if (!requireTools(t, 'srt-live-transmit', 'ffmpeg')) return;
    running.push(sltPublish(`srt://127.0.0.1:${gw.srtPort}?streamid=#!::r=live/slt,m=publish`));
    await waitFor(() => gw.gateway.registry.get('live/slt')?.tracks.length === 2, 10000, 'live/slt live');
    const got = await readFor(`srt://127.0.0.1:${gw.srtPort}?streamid=read:live/slt`, 3000);
    assert.deepEqual(got.codecs, ['aac', 'h264'], got.stderr);
    assert.ok((got.units.h264 ?? 0) > 50, `video units read: ${got.units.h264}`);
    assert.ok((got.units.aac ?? 0) > 80, `audio units read: ${got.units.aac}`);
    assert.equal(got.continuityErrors, 0, got.warnings.join('\n'));
  });

  for (const pbkeylen of [16, 32] as const) {
    test(`publishes and reads with a passphrase, pbkeylen ${pbkeylen} (AES-${pbkeylen * 8})`, async (t) => {
      if (!requireTools(t, 'srt-live-transmit', 'ffmpeg')) return;
      const path = `secure/k${pbkeylen}`;
      running.push(sltPublish(`srt://127.0.0.1:${gw.srtPort}?streamid=publish:${path}&passphrase=${PUBLISH_SECRET}&pbkeylen=${pbkeylen}`));
      await waitFor(() => gw.gateway.registry.get(path)?.tracks.length === 2, 10000, `${path} live`);
      const pub = gw.gateway.srt!.sessions().find((s) => s.path === path && s.mode === 'publish')!;
      assert.equal(pub.encrypted, true);
      assert.equal(pub.keyLength, pbkeylen);
      assert.equal(pub.stats.packetsUndecryptable, 0);
      const got = await readFor(`srt://127.0.0.1:${gw.srtPort}?streamid=read:${path}&passphrase=${READ_SECRET}&pbkeylen=${pbkeylen}`, 3000);
      assert.deepEqual(got.codecs, ['aac', 'h264'], got.stderr);
      assert.ok((got.units.h264 ?? 0) > 50, `video units decrypted and read: ${got.units.h264}`);
      assert.equal(got.continuityErrors, 0);
    });
  }

  test('a wrong passphrase and a missing one are rejected, and srt-live-transmit says so', async (t) => {
    if (!requireTools(t, 'srt-live-transmit', 'ffmpeg')) return;
    await expectRefused(sltRead(`srt://127.0.0.1:${gw.srtPort}?streamid=read:secure/k16&passphrase=not-the-secret`), /Incorrect passphrase/);
    await expectRefused(sltRead(`srt://127.0.0.1:${gw.srtPort}?streamid=read:secure/k16`), /Password required or unexpected/);
    await expectRefused(sltPublish(`srt://127.0.0.1:${gw.srtPort}?streamid=publish:secure/other&passphrase=not-the-secret`), /Incorrect passphrase/);
    // A passphrase where none is configured is refused too (libsrt's enforced encryption does the same).
    await expectRefused(sltRead(`srt://127.0.0.1:${gw.srtPort}?streamid=read:live/slt&passphrase=${READ_SECRET}`), /Password required or unexpected/);
    const codes = gw.logs.filter((l) => l.msg === 'srt connection refused').map((l) => l.code);
    assert.ok(codes.includes(1010) && codes.includes(1011), `1010 and 1011 logged: ${codes.join(',')}`);
    assert.ok(gw.gateway.registry.get('secure/k16'), 'the encrypted stream is undisturbed');
  });

  test('livegate refreshes its sending key in-band; libsrt follows every switch', async (t) => {
    if (!requireTools(t, 'srt-live-transmit', 'ffmpeg')) return;
    const r = sltRead(`srt://127.0.0.1:${gw.srtPort}?streamid=read:secure/k32&passphrase=${READ_SECRET}&pbkeylen=32`);
    running.push(r);
    const session = await waitFor(() => gw.gateway.srt!.sessions().find((s) => s.path === 'secure/k32' && s.mode === 'read'), 5000, 'read session');
    await waitFor(() => (gw.gateway.srt!.sessions().find((s) => s.id === session.id)?.stats.keySwitches ?? 0) >= 2, 30000, 'two key switches');
    await sleep(500);
    await r.stop();
    const got = checkTs(r.bytes());
    assert.deepEqual(got.codecs, ['aac', 'h264']);
    assert.deepEqual(got.warnings, [], "no packet lost or garbled by a key switch");
    assert.ok((got.units.h264 ?? 0) > 60, `video units: ${got.units.h264}`);
  });

  test('libsrt refreshes its key in-band while publishing; livegate follows every switch', async (t) => {
    if (!requireTools(t, 'srt-live-transmit', 'ffmpeg')) return;
    const path = 'secure/rekey';
    const pub = sltPublish(
      `srt://127.0.0.1:${gw.srtPort}?streamid=publish:${path}&passphrase=${PUBLISH_SECRET}&pbkeylen=24&kmrefreshrate=400&kmpreannounce=100`,
      { bitrate: '2000k' },
    );
    running.push(pub);
    await waitFor(() => gw.gateway.registry.get(path)?.tracks.length === 2, 10000, `${path} live`);
    const session = () => gw.gateway.srt!.sessions().find((s) => s.path === path && s.mode === 'publish')!;
    await waitFor(() => session().stats.peerKeyAnnouncements >= 4, 30000, 'libsrt announced new keys (KMREQ in-band) at least 4 times');
    const s = session();
    assert.equal(s.keyLength, 24);
    assert.equal(s.stats.packetsUndecryptable, 0, 'every packet decrypted across the switches');
    assert.equal(s.transportErrors, 0, 'no TS error across the switches');
    assert.equal(s.stats.packetsDropped, 0);
    await pub.stop();
  });

  test('application refusals carry their codes (2401, 2403, 2404, 2409) to the caller', async (t) => {
    if (!requireTools(t, 'srt-live-transmit', 'ffmpeg')) return;
    const srt = gw.gateway.srt!;
    srt.access = (r) =>
      r.path === 'private/cam' && r.password !== 'letmein'
        ? { code: AccessReject.Unauthorized, reason: 'bad credentials' }
        : r.path === 'private/cam' && r.mode === 'publish'
          ? { code: AccessReject.Forbidden, reason: 'read only' }
          : null;
    try {
      await expectRefused(sltRead(`srt://127.0.0.1:${gw.srtPort}?streamid=read:private/cam:bob:wrong`), /rejection reason|reject/i);
      const expectCode = async (streamId: string, code: number) => {
        const err = await SrtCaller.connect({ host: '127.0.0.1', port: gw.srtPort, streamId }).then(
          (c) => (c.close(), null),
          (e: unknown) => e,
        );
        assert.ok(err instanceof RejectedError, `${streamId}: rejected (${String(err)})`);
        assert.equal(err.rejectCode, code, `${streamId}: ${err.message}`);
      };
      await expectCode('read:private/cam:bob:wrong', 2401);
      await expectCode('publish:private/cam:bob:letmein', 2403);
      await expectCode('read:private/nothing', 2404);
      await expectCode('publish:live/slt', 2409);
      await expectCode('#!::r=live/x,m=bidirectional', 2405);
    } finally {
      srt.access = null;
    }
  });
});
