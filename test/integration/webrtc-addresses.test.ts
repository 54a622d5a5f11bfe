/**
 * What WebRTC candidates announce (issue 14): publicAddresses as IP:port and as a host name, STUN
 * detection of the public address from the shared media socket (against a STUN responder made here),
 * and configuration errors. Loopback only.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { parseConfig } from '../../gateway/src/config/load.js';
import { parsePublicAddress, parseStunUrl } from '../../gateway/src/nat/public-addresses.js';
import { startGateway } from '../helpers/gateway.js';

/** A STUN server answering every Binding request with XOR-MAPPED-ADDRESS `mapped` (RFC 8489 §14.2). */
async function stunResponder(mapped: { address: string; port: number }): Promise<{ port: number; requests: { address: string; port: number }[]; close(): void }> {
  const socket = createSocket('udp4');
  const requests: { address: string; port: number }[] = [];
  socket.on('message', (msg, rinfo) => {
    if (msg.length < 20 || msg.readUInt16BE(0) !== 0x0001) return;
    requests.push({ address: rinfo.address, port: rinfo.port });
    const res = Buffer.alloc(32);
    res.writeUInt16BE(0x0101, 0);
    res.writeUInt16BE(12, 2);
    msg.copy(res, 4, 4, 20); // magic cookie and transaction id
    res.writeUInt16BE(0x0020, 20);
    res.writeUInt16BE(8, 22);
    res.writeUInt16BE(0x0001, 24);
    res.writeUInt16BE(mapped.port ^ 0x2112, 26);
    const ip = mapped.address.split('.').reduce((a, b) => (a << 8) | Number(b), 0) >>> 0;
    res.writeUInt32BE((ip ^ 0x2112a442) >>> 0, 28);
    socket.send(res, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return { port: socket.address().port, requests, close: () => socket.close() };
}

test('publicAddresses: IP:port and a host name (resolved) are announced after the local address', async () => {
  const gw = await startGateway({ webrtc: { interface: '127.0.0.1', publicAddresses: ['192.0.2.10:40000', 'localhost'] } });
  try {
    const { webrtcUdp, webrtcTcp } = gw.gateway.ports;
    assert.deepEqual(gw.gateway.webrtcAddresses(), [
      { address: '127.0.0.1', udpPort: webrtcUdp, tcpPort: webrtcTcp, source: 'interface' },
      { address: '192.0.2.10', udpPort: 40000, tcpPort: 40000, source: 'public' },
    ]);
    const api = (await (await fetch(gw.httpUrl('api/v1/webrtc/ports'))).json()) as { announced: unknown[] };
    assert.equal(api.announced.length, 2, 'localhost resolves to the interface address already announced');
  } finally {
    await gw.close();
  }
});

test('stunDetect asks the STUN server from the shared media socket and announces the mapped address', async () => {
  const stun = await stunResponder({ address: '198.51.100.7', port: 50000 });
  const gw = await startGateway({ webrtc: { interface: '127.0.0.1', stunDetect: `stun:127.0.0.1:${stun.port}` } });
  try {
    assert.deepEqual(stun.requests, [{ address: '127.0.0.1', port: gw.gateway.ports.webrtcUdp }], 'one request, from the media port');
    const announced = gw.gateway.webrtcAddresses();
    assert.deepEqual(announced[1], { address: '198.51.100.7', udpPort: 50000, tcpPort: gw.gateway.ports.webrtcTcp, source: 'stun' });
  } finally {
    await gw.close();
    stun.close();
  }
});

test('a STUN server that never answers leaves the local addresses announced, with a warning', async () => {
  const silent = createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
  const gw = await startGateway({ webrtc: { interface: '127.0.0.1', stunDetect: `stun:127.0.0.1:${silent.address().port}` } });
  try {
    assert.equal(gw.gateway.webrtcAddresses().length, 1);
    assert.ok(gw.logs.some((l) => l.msg === 'WebRTC public address detection failed'));
  } finally {
    await gw.close();
    silent.close();
  }
});

test('address forms and configuration errors', () => {
  assert.deepEqual(parsePublicAddress('203.0.113.1'), { host: '203.0.113.1' });
  assert.deepEqual(parsePublicAddress('203.0.113.1:40000'), { host: '203.0.113.1', port: 40000 });
  assert.deepEqual(parsePublicAddress('media.example.com:8189'), { host: 'media.example.com', port: 8189 });
  for (const bad of ['a b', '1.2.3.4:0', '1.2.3.4:70000', '-x.com', 'x..com', '']) assert.throws(() => parsePublicAddress(bad), Error, bad);
  assert.deepEqual(parseStunUrl('stun:stun.example.net'), { host: 'stun.example.net', port: 3478 });
  assert.throws(() => parseConfig({ webrtc: { publicAddresses: ['not an address'] } }), /publicAddresses|not IP/);
  assert.throws(() => parseConfig({ webrtc: { stunDetect: 'turn:x' } }), /stun:host/);
  const c = parseConfig({});
  assert.equal(c.webrtc.udpPort, 8189);
  assert.equal(c.webrtc.tcpPort, 8189);
  assert.equal(c.webrtc.stunDetect, undefined, 'no STUN server is contacted unless configured');
});
