/**
 * Acceptance (issue 13): HTTPS and WSS on their own port. HTTP/2 is negotiated by ALPN for HLS and
 * the API (node's HTTP/2 client), HTTP/1.1 serves FLV over TLS (and FLV also works over HTTP/2),
 * WS-FLV runs over wss://, and a renewed certificate is taken on reload without a restart.
 */
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { connect, type ClientHttp2Session } from 'node:http2';
import { get } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { parseConfig } from '../../gateway/src/config/load.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { publishKnown } from '../helpers/h264-source.js';
import { makeCert } from '../helpers/tls.js';
import { hasTool } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

function h2get(session: ClientHttp2Session, path: string, maxBytes = 1 << 20): Promise<{ status: number; headers: { [k: string]: unknown }; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path });
    let status = 0;
    let headers: { [k: string]: unknown } = {};
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('response', (h) => ((status = Number(h[':status'])), (headers = h)));
    req.on('data', (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      if (size >= maxBytes) {
        req.close();
        resolve({ status, headers, body: Buffer.concat(chunks) });
      }
    });
    req.on('end', () => resolve({ status, headers, body: Buffer.concat(chunks) }));
    req.on('error', reject);
  });
}

function fingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.end();
    });
    s.on('error', reject);
  });
}

describe('HTTPS, HTTP/2 and WSS', { concurrency: false }, () => {
  let gw: TestGateway;
  let stop: () => void;
  let files: { cert: string; key: string };
  let port: number;

  before(async () => {
    // openssl makes the test certificates (CI installs it; `npm run certs` needs it too).
    if (!hasTool('openssl')) throw new Error('missing tool: openssl');
    files = makeCert();
    gw = await startGateway({ http: { tls: { port: 0, ...files } } });
    port = gw.gateway.ports.https!;
    const pub = await publishKnown(gw.rtmpUrl('live/tls'), 40);
    stop = () => pub.client.close();
    await waitFor(() => gw.gateway.registry.get('live/tls')?.tracks.length === 2, 5000, 'live');
  });
  after(async () => {
    stop?.();
    await gw?.close();
  });

  test('HTTP/2 by ALPN for the API and HLS; FLV over HTTP/2 too', async () => {
    const session = connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    await new Promise<void>((r) => session.once('connect', () => r()));
    assert.equal(session.alpnProtocol, 'h2');
    const info = await h2get(session, '/api/v1/info');
    assert.equal(info.status, 200);
    assert.equal((JSON.parse(info.body.toString()) as { name: string }).name, 'livegate');
    const index = await h2get(session, '/live/tls/index.m3u8');
    assert.equal(index.status, 200);
    assert.match(index.body.toString(), /#EXT-X-STREAM-INF/);
    const media = await h2get(session, '/live/tls/stream.m3u8');
    const part = /URI="([0-9a-f]{8}-p\d+\.m4s)"/.exec(media.body.toString())![1]!;
    const bytes = await h2get(session, `/live/tls/${part}`);
    assert.equal(bytes.status, 200);
    assert.equal(bytes.body.subarray(4, 8).toString(), 'moof');
    const flv = await h2get(session, '/live/tls.flv', 4096);
    assert.equal(flv.status, 200);
    assert.equal(flv.body.subarray(0, 3).toString(), 'FLV', 'FLV framed by HTTP/2, no chunk sizes');
    const missing = await h2get(session, '/live/none.flv');
    assert.equal(missing.status, 404);
    assert.equal(missing.headers['content-type'], 'application/problem+json');
    session.close();
  });

  test('HTTP/1.1 over TLS for FLV (chunked), WSS for WS-FLV', async () => {
    const head = await new Promise<Buffer>((resolve, reject) => {
      get(`https://127.0.0.1:${port}/live/tls.flv`, { rejectUnauthorized: false }, (res) => {
        assert.equal(res.httpVersion, '1.1');
        assert.equal(res.headers['transfer-encoding'], 'chunked');
        res.once('data', (d: Buffer) => {
          resolve(d);
          res.destroy();
        });
      }).on('error', reject);
    });
    assert.equal(head.subarray(0, 3).toString(), 'FLV');
    const message = await new Promise<Buffer>((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/live/tls.flv`, { rejectUnauthorized: false });
      ws.once('message', (m: Buffer) => {
        resolve(m);
        ws.close();
      });
      ws.once('error', reject);
    });
    assert.equal(message.subarray(0, 3).toString(), 'FLV');
  });

  test('a renewed certificate is served after a reload, without a restart; the stream goes on', async () => {
    const before = await fingerprint(port);
    const renewed = makeCert(undefined, 'renewed');
    copyFileSync(renewed.cert, files.cert);
    copyFileSync(renewed.key, files.key);
    assert.equal(await fingerprint(port), before, 'not before the reload');
    gw.gateway.reload(parseConfig({ http: { tls: { port: 0, ...files } } }));
    const after = await fingerprint(port);
    assert.notEqual(after, before);
    assert.ok(gw.gateway.registry.get('live/tls'), 'the stream is still live');
  });

  test('garbage on the TLS port (random bytes, a plain-HTTP request, a handshake cut short) costs that connection only', async () => {
    const { createConnection } = await import('node:net');
    const { randomBytes } = await import('node:crypto');
    const junk = [randomBytes(4096), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.from('160301', 'hex')];
    await Promise.all(
      junk.map(
        (bytes) =>
          new Promise<void>((resolve) => {
            const c = createConnection({ host: '127.0.0.1', port }, () => c.end(bytes));
            c.on('error', () => resolve());
            c.on('close', () => resolve());
            c.resume();
          }),
      ),
    );
    const session = connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    assert.equal((await h2get(session, '/api/v1/info')).status, 200, 'still serving');
    session.close();
    assert.ok(gw.gateway.registry.get('live/tls'), 'the stream is still live');
  });
});
