/**
 * Acceptance (issue 13): SIGHUP makes the running CLI read its config file again — new access rules
 * apply to every new request at once, and a session admitted before keeps playing.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { readHttpFlv } from '../helpers/flv-client.js';
import { spawnGateway, testConfig, type ChildGateway } from '../helpers/gateway.js';
import { publishKnown } from '../helpers/h264-source.js';
import { waitFor } from '../helpers/wait.js';

const users = (viewerPass: string) => ({
  auth: {
    methods: ['users' as const],
    users: [
      { user: 'cam', pass: 'c', permissions: [{ action: 'publish' as const }] },
      { user: 'viewer', pass: viewerPass, permissions: [{ action: 'read' as const }] },
    ],
  },
});

describe('config reload on SIGHUP', { concurrency: false }, () => {
  let gw: ChildGateway;
  let stop: () => void;
  before(async () => {
    gw = await spawnGateway(users('old'));
    const pub = await publishKnown(`${gw.rtmpUrl('live/r')}?user=cam&pass=c`, 40);
    stop = () => pub.client.close();
    await waitFor(async () => (await fetch(gw.httpUrl('live/r.flv?user=viewer&pass=old'), { method: 'HEAD' })).status === 200, 5000, 'live, readable');
  });
  after(async () => {
    stop?.();
    await gw?.close();
  });

  test('a new password applies to new requests at once; a reader admitted before goes on', async () => {
    const reader = readHttpFlv(gw.httpUrl('live/r.flv?user=viewer&pass=old'));
    await waitFor(() => reader.tags.length > 5, 5000, 'reader flowing');
    const head = (pass: string) => fetch(gw.httpUrl(`live/r.flv?user=viewer&pass=${pass}`), { method: 'HEAD' }).then((r) => r.status);
    assert.equal(await head('new'), 401);
    writeFileSync(gw.configFile, stringify(testConfig({ ...users('new'), rtmp: { port: gw.rtmpPort }, http: { port: gw.httpPort } })));
    gw.child.kill('SIGHUP');
    await waitFor(() => gw.logs.some((l) => l.msg === 'configuration reloaded'), 5000, 'reloaded');
    assert.equal(await head('new'), 200);
    assert.equal(await head('old'), 401);
    const before = reader.tags.length;
    await waitFor(() => reader.tags.length > before + 10, 5000, 'the reader admitted before goes on');
    // A file it cannot use changes nothing, and says why.
    writeFileSync(gw.configFile, 'auth: { methods: [jwt] }\n');
    gw.child.kill('SIGHUP');
    await waitFor(() => gw.logs.some((l) => l.msg === 'configuration not reloaded'), 5000, 'refused reload');
    assert.equal(await head('new'), 200);
    reader.close();
  });
});
