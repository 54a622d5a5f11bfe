/**
 * Acceptance (issue 14): every WebRTC session on one UDP port. 20 werift viewers and 2 werift WHIP
 * publishers at once on a gateway in its own process: that process has exactly one UDP socket (read
 * from /proc), and every viewer gets the published access units and Opus packets byte for byte.
 * Hostile input on the shared UDP and ICE-TCP ports (garbage, unknown ufrags, forged checks, a flood
 * of binding requests, oversized RFC 6544 frames, half-open connections) is dropped and counted;
 * a live viewer keeps receiving without a stall. Runs inside a loopback-only network namespace.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { depacketizeH264 } from '../../gateway/src/format/rtp/h264.js';
import { spawnGateway, startGateway, type ChildGateway, type TestGateway } from '../helpers/gateway.js';
import { IN_LOOPBACK_NETNS, runInLoopbackNamespace } from '../helpers/netns.js';
import { requireTools } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { whepView, type WhepViewer } from '../helpers/whep-client.js';
import { whipPublish, type WhipPublisher } from '../helpers/whip-client.js';
import { nativeSendUnavailable } from '../../gateway/src/protocols/webrtc/transport/native-send.js';

/** Local ports of the UDP sockets process `pid` holds (its fds matched with /proc/net/udp inodes). */
function udpPortsOf(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  return readFileSync('/proc/net/udp', 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => inodes.has(f[9]!))
    .map((f) => parseInt(f[1]!.split(':')[1]!, 16));
}

/** The slices (NAL types 1 and 5) of an access unit, as one hex key. */
const slicesKey = (nals: Buffer[]): string =>
  nals
    .filter((n) => [1, 5].includes(n[0]! & 0x1f))
    .map((n) => n.toString('hex'))
    .join('|');

function accessUnits(viewer: WhepViewer): string[] {
  const aus: string[] = [];
  let current: Buffer[] = [];
  for (const p of viewer.video) {
    current.push(p.payload);
    if (p.header.marker) {
      aus.push(slicesKey(depacketizeH264(current)));
      current = [];
    }
  }
  return aus;
}

/** A STUN Binding request for `username`, with a MESSAGE-INTEGRITY made with the wrong key. */
function forgedCheck(username: string): Buffer {
  const user = Buffer.from(username);
  const padded = Buffer.alloc((user.length + 3) & ~3);
  user.copy(padded);
  const attrs = Buffer.concat([Buffer.from([0, 6, 0, user.length]), padded, Buffer.from([0, 8, 0, 20]), Buffer.alloc(20, 0xab)]);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(1, 0);
  header.writeUInt16BE(attrs.length, 2);
  header.writeUInt32BE(0x2112a442, 4);
  for (let i = 8; i < 20; i++) header[i] = Math.floor(Math.random() * 256);
  return Buffer.concat([header, attrs]);
}

const ufragOf = (sdp: string): string => /a=ice-ufrag:(\S+)/.exec(sdp)![1]!;

if (!IN_LOOPBACK_NETNS) {
  test('WebRTC on one shared port (run in a loopback-only network namespace)', { timeout: 240_000 }, async (t) => {
    if (!requireTools(t, 'unshare', 'ip')) return;
    const { code, output } = await runInLoopbackNamespace(import.meta.url);
    t.diagnostic(output.split('\n').filter((l) => /✔|✖|ℹ|Error|expected|actual/.test(l)).slice(0, 40).join('\n'));
    assert.equal(code, 0, output.slice(-4000));
  });
} else {
  describe('20 viewers and 2 WHIP publishers on one UDP port (gateway in its own process)', { concurrency: false }, () => {
    let gw: ChildGateway;
    const publishers: WhipPublisher[] = [];
    const viewers: WhepViewer[] = [];

    before(async () => {
      // SRT and RTSP's UDP pair off: the process's UDP sockets are then WebRTC's alone.
      gw = await spawnGateway({ srt: { enabled: false }, rtsp: { udp: false }, webrtc: { additionalHosts: ['127.0.0.1'] } });
    });
    after(async () => {
      await Promise.all(viewers.map((v) => v.kill()));
      await Promise.all(publishers.map((p) => p.kill()));
      await gw?.close();
    });

    test('one UDP socket carries every session; every viewer gets the published media byte for byte', async () => {
      const listening = gw.logs.find((l) => l.msg === 'listening')!;
      const mediaPort = listening.webrtcUdp as number;
      assert.ok(mediaPort > 0, 'the shared media port is logged');
      assert.deepEqual(udpPortsOf(gw.child.pid!), [mediaPort], 'before any session: the media port only');
      for (const path of ['live/a', 'live/b']) {
        const p = await whipPublish(gw.httpUrl(`${path}/whip`), { seconds: 20 });
        assert.equal(p.status, 201, p.answer);
        publishers.push(p);
      }
      for (let i = 0; i < 20; i++) viewers.push(await whepView(gw.httpUrl(`live/${i % 2 === 0 ? 'a' : 'b'}/whep`)));
      await waitFor(() => viewers.every((v) => v.video.length > 100 && v.audio.length > 50), 20000, 'every viewer receiving video and audio');
      const ports = udpPortsOf(gw.child.pid!);
      assert.deepEqual(ports, [mediaPort], `the gateway's UDP sockets with 22 sessions live: ${ports.join(', ')}`);

      for (const [i, v] of viewers.entries()) {
        const p = publishers[i % 2]!;
        const sentVideo = new Set(p.sent.map((au) => slicesKey(au.nals)));
        const aus = accessUnits(v).slice(1); // the first may have begun before the viewer joined
        assert.ok(aus.length > 20, `viewer ${i}: ${aus.length} access units`);
        const unknown = aus.filter((au) => !sentVideo.has(au));
        assert.equal(unknown.length, 0, `viewer ${i}: every access unit is one that was published`);
        const sentAudio = new Set(p.audioSent.map((b) => b.toString('hex')));
        const strange = v.audio.filter((a) => !sentAudio.has(a.payload.toString('hex')));
        assert.equal(strange.length, 0, `viewer ${i}: every Opus packet is one that was published (the tone)`);
      }
      const whep = (await (await fetch(gw.httpUrl('api/v1/webrtc/sessions'))).json()) as { sessions: { sendPath: string }[] };
      assert.deepEqual(new Set(whep.sessions.map((s) => s.sendPath)), new Set([nativeSendUnavailable ? 'livegate' : 'native']), 'every viewer on livegate\'s send path (native where the addon is built, as in CI: SRTP in C++, sendmmsg)');
      const api = (await (await fetch(gw.httpUrl('api/v1/webrtc/ports'))).json()) as { udpPort: number; sessions: number };
      assert.equal(api.udpPort, mediaPort);
      assert.equal(api.sessions, 22);
    });
  });

  describe('hostile input on the shared UDP and ICE-TCP ports', { concurrency: false }, () => {
    let gw: TestGateway;
    let publisher: WhipPublisher;
    let viewer: WhepViewer;

    before(async () => {
      gw = await startGateway({ webrtc: { additionalHosts: ['127.0.0.1'] } });
      publisher = await whipPublish(gw.httpUrl('live/h/whip'), { seconds: 40 });
      viewer = await whepView(gw.httpUrl('live/h/whep'));
      await waitFor(() => viewer.video.length > 50, 10000, 'viewer receiving');
    });
    after(async () => {
      await viewer?.kill();
      await publisher?.kill();
      await gw?.close();
    });

    test('garbage, unknown ufrags, forged checks, a binding flood, oversized frames and half-open connections are dropped; the viewer never stalls', async (t) => {
      const ports = gw.gateway.ports;
      const stats = gw.gateway.webrtcPorts!.mux.stats;
      const liveUfrag = ufragOf(publisher.answer);
      const from = viewer.videoAt.length;
      const udp = createSocket('udp4');
      const send = (b: Buffer): Promise<void> => new Promise((r) => udp.send(b, ports.webrtcUdp!, '127.0.0.1', () => r()));
      // For 3 s: garbage of every size (DTLS-, RTP- and STUN-looking) from an unknown address, and a
      // flood of binding requests (unknown ufrags, and the live session's ufrag with a forged integrity).
      const t0 = performance.now();
      for (let i = 0; performance.now() - t0 < 3000; i++) {
        if (i % 6 === 0) {
          const b = Buffer.alloc(1 + (i % 1400), i & 0xff);
          b[0] = [0x00, 0x16, 0x80, 0xff][i % 4]!;
          await send(b);
        } else {
          await send(forgedCheck(i % 2 === 0 ? `nobody${i}:x` : `${liveUfrag}:attacker`));
        }
      }
      udp.close();

      const sockets: Socket[] = [];
      const open = (): Promise<Socket> =>
        new Promise((resolve) => {
          const s = connect(ports.webrtcTcp!, '127.0.0.1', () => resolve(s));
          s.on('error', () => {});
          sockets.push(s);
        });
      // An oversized RFC 6544 frame, a frame of 65535 bytes that never comes, and garbage before any check.
      (await open()).write(Buffer.from([0xff, 0xff, 1, 2, 3]));
      (await open()).write(Buffer.concat([Buffer.from([0x0f, 0xa0]), Buffer.alloc(100)]));
      (await open()).write(Buffer.concat([Buffer.from([0x00, 0x20]), Buffer.alloc(32, 0x80)]));
      // Half-open connections beyond the limit of those waiting for a check.
      for (let i = 0; i < 300; i++) await open();
      await waitFor(() => stats.dropped.tcpFraming >= 1 && stats.dropped.tcpOverflow >= 40, 5000, `drops counted ${JSON.stringify(stats.dropped)}`);
      for (const s of sockets) s.destroy();

      await sleep(1000);
      const arrivals = viewer.videoAt.slice(from);
      let worst = 0;
      for (let i = 1; i < arrivals.length; i++) worst = Math.max(worst, arrivals[i]! - arrivals[i - 1]!);
      assert.ok(arrivals.length > 80, `the viewer kept receiving (${arrivals.length} packets)`);
      assert.ok(worst < 500, `the viewer's worst gap between packets: ${worst.toFixed(0)} ms`);
      assert.ok(stats.dropped.unknownAddress >= 500, `garbage dropped: ${stats.dropped.unknownAddress}`);
      assert.ok(stats.dropped.unknownUfrag >= 1000, `unknown ufrags dropped: ${stats.dropped.unknownUfrag}`);
      assert.ok(stats.dropped.badIntegrity >= 1000, `forged checks dropped: ${stats.dropped.badIntegrity}`);
      assert.ok(stats.dropped.notACheck >= 1, `data before a check dropped: ${stats.dropped.notACheck}`);
      t.diagnostic(`dropped: ${JSON.stringify(stats.dropped)}; worst gap ${worst.toFixed(0)} ms over ${arrivals.length} packets`);
      assert.equal(gw.gateway.whep!.sessions.size, 1, 'the live viewer session is still there');
      assert.equal(gw.gateway.whip!.sessions.size, 1, 'the live publisher session is still there');
      const metrics = await (await fetch(gw.httpUrl('metrics'))).text();
      const forged = /^livegate_webrtc_dropped_packets_total\{reason="badIntegrity"\} (\d+)$/m.exec(metrics);
      assert.equal(Number(forged?.[1]), stats.dropped.badIntegrity, 'the drops are in /metrics');
      const logged = gw.logs.filter((l) => l.msg === 'WebRTC packet dropped');
      assert.ok(logged.length >= 3 && logged.length < 50, `drops are logged once per address and reason (${logged.length} lines)`);
    });
  });
}
