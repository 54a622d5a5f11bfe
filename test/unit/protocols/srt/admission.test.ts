/** The SRT listener's admission decisions, one row per case: the code a libsrt caller is rejected with. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { silentLogger } from '../../../../gateway/src/core/log.js';
import { StreamRegistry } from '../../../../gateway/src/core/stream-registry.js';
import { admit, matchPath, type AdmissionContext } from '../../../../gateway/src/protocols/srt/admission.js';
import { encodeKeyMaterial, generateKeyMaterial } from '../../../../gateway/src/protocols/srt/crypto.js';
import { HandshakeType, SRT_VERSION, type Handshake } from '../../../../gateway/src/protocols/srt/handshake.js';
import { LIVE_FLAGS } from '../../../../gateway/src/protocols/srt/listener-handshake.js';

const SECRET = 'the-secret-1';
const registry = new StreamRegistry(
  { allowTakeover: false, publisherIdleTimeoutMs: 60_000, maxBacklogBytes: 1 << 20, stuckTimeoutMs: 1000, gop: { maxBytes: 1 << 20, maxUnits: 100 } },
  silentLogger,
);
registry.publish('live/on', { id: 'p', protocol: 'test', remoteAddress: '', close: () => {} });
registry.publish('secure/on', { id: 'q', protocol: 'test', remoteAddress: '', close: () => {} });

const ctx: AdmissionContext = {
  registry,
  passphrases: [{ path: 'secure/*', publish: SECRET, read: SECRET }],
  access: (r) => (r.path === 'private/x' ? { code: 1401, reason: 'who are you' } : r.user === 'mallory' ? { code: 1403, reason: 'no' } : null),
  connections: 0,
  maxConnections: 10,
  remoteAddress: '127.0.0.1:1',
};

function hs(streamId: string | undefined, o: Partial<Handshake> = {}): Handshake {
  return {
    version: 5,
    encryption: 0,
    extensionField: 5,
    isn: 1,
    mtu: 1500,
    flowWindow: 8192,
    type: HandshakeType.Conclusion,
    socketId: 9,
    cookie: 1,
    peerIp: Buffer.alloc(16),
    hsReq: { version: SRT_VERSION, flags: LIVE_FLAGS, recvDelayMs: 120, sendDelayMs: 120 },
    ...(streamId !== undefined ? { streamId } : {}),
    ...o,
  };
}
const km = (pass: string) => encodeKeyMaterial(generateKeyMaterial(16, 1), pass);

const CASES: [string, Handshake, Partial<AdmissionContext>, number | { mode: string; path: string; encrypted: boolean }][] = [
  ['publish a free path', hs('publish:live/new'), {}, { mode: 'publish', path: 'live/new', encrypted: false }],
  ['read a live path', hs('#!::r=live/on'), {}, { mode: 'read', path: 'live/on', encrypted: false }],
  ['bare path, live → read', hs('live/on'), {}, { mode: 'read', path: 'live/on', encrypted: false }],
  ['bare path, free → publish', hs('live/free'), {}, { mode: 'publish', path: 'live/free', encrypted: false }],
  ['no HSREQ (v4 conclusion)', hs('publish:live/a', { version: 4, hsReq: undefined }), {}, 4],
  ['SRT 1.2', hs('publish:live/a', { hsReq: { version: 0x010200, flags: LIVE_FLAGS, recvDelayMs: 0, sendDelayMs: 0 } }), {}, 8],
  ['too many connections', hs('publish:live/a'), { connections: 10 }, 1402],
  ['no stream id', hs(undefined), {}, 1400],
  ['bad path', hs('publish:../etc'), {}, 1400],
  ['bidirectional', hs('#!::r=live/a,m=bidirectional'), {}, 1405],
  ['access policy: unauthorized', hs('read:private/x'), {}, 1401],
  ['access policy: forbidden', hs('read:live/on:mallory:pw'), {}, 1403],
  ['read a path that is not live', hs('read:live/none'), {}, 1404],
  ['publish a live path', hs('publish:live/on'), {}, 1409],
  ['passphrase missing', hs('read:secure/on'), {}, 11],
  ['wrong passphrase', hs('read:secure/on', { kmReq: km('not-the-secret') }), {}, 10],
  ['garbage key material', hs('read:secure/on', { kmReq: Buffer.alloc(12) }), {}, 17],
  ['passphrase where none is set', hs('read:live/on', { kmReq: km(SECRET) }), {}, 11],
  ['right passphrase', hs('read:secure/on', { kmReq: km(SECRET) }), {}, { mode: 'read', path: 'secure/on', encrypted: true }],
];

describe('SRT admission', () => {
  for (const [name, h, over, expected] of CASES) {
    test(name, () => {
      const r = admit(h, { ...ctx, ...over });
      if (typeof expected === 'number') {
        assert.equal(r.ok, false);
        if (!r.ok) assert.equal(r.code, expected, r.reason);
      } else {
        assert.ok(r.ok, r.ok ? '' : r.reason);
        if (r.ok) {
          assert.equal(r.request.mode, expected.mode);
          assert.equal(r.request.path, expected.path);
          assert.equal(r.km !== null, expected.encrypted);
        }
      }
    });
  }
  test('path patterns', () => {
    assert.ok(matchPath('live/*', 'live/cam1'));
    assert.ok(matchPath('*', 'a/b'));
    assert.ok(!matchPath('live/*', 'other/cam1'));
    assert.ok(matchPath('a.b/c', 'a.b/c') && !matchPath('a.b/*', 'axb/c'));
  });
});
