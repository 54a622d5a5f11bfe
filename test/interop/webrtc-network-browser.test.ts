/**
 * Acceptance (issue 14): WebRTC on real networks, with Chromium.
 * - UDP blocked (an nftables rule in the test's namespace drops UDP to the media port): Chromium
 *   connects over ICE-TCP, plays frames and the 1 kHz tone over WHEP, and publishes over WHIP.
 * - NAT: three namespaces — the gateway (10.0.0.1), a router doing DNAT from 203.0.113.1:40000 to the
 *   gateway's private address and (different) port, and a client (203.0.113.2) where Chromium runs.
 *   With `webrtc.publicAddresses: ['203.0.113.1:40000']` Chromium publishes over WHIP and plays over
 *   WHEP; without the mapping the same session never completes ICE.
 * Signalling goes from the test process (page.exposeFunction), media from the browser. Everything runs
 * inside network namespaces the test creates (loopback and veth pairs between them, nothing else).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, FAKE_MEDIA_FLAGS, launchChromium, WEBRTC_FLAGS } from '../helpers/browser.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { IN_LOOPBACK_NETNS, runInLoopbackNamespace } from '../helpers/netns.js';
import { requireTools } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';
import { nativeSendUnavailable } from '../../gateway/src/protocols/webrtc/transport/native-send.js';

/** A page (served by Playwright itself at http://localhost/, a secure context) that publishes and plays; SDP goes through `window.signal`. */
const PAGE = `<!doctype html><meta charset="utf-8"><video id="v" muted autoplay playsinline></video>
<script>
  window.publish = async (url) => {
    const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
    const pc = new RTCPeerConnection();
    for (const track of media.getTracks()) pc.addTransceiver(track, { direction: 'sendonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); else pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); });
    const answer = await window.signal(url, pc.localDescription.sdp);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    window.publisher = pc;
  };
  window.play = async (url) => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const stream = new MediaStream();
    pc.ontrack = (e) => {
      stream.addTrack(e.track);
      document.getElementById('v').srcObject = stream;
      if (e.track.kind === 'audio') {
        const ctx = new AudioContext();
        const analyser = ctx.createAnalyser();
        analyser.fftSize = 8192;
        ctx.createMediaStreamSource(new MediaStream([e.track])).connect(analyser);
        window.analyser = analyser;
        window.audioCtx = ctx;
      }
    };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); else pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); });
    const answer = await window.signal(url, pc.localDescription.sdp);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    window.viewer = pc;
  };
  window.state = () => ({ publisher: window.publisher?.connectionState ?? null, viewer: window.viewer?.connectionState ?? null });
  window.viewerStats = async () => {
    const out = { framesDecoded: 0, width: 0, height: 0, audioPackets: 0, candidate: null };
    if (!window.viewer) return out;
    const stats = await window.viewer.getStats();
    const pairs = [];
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') Object.assign(out, { framesDecoded: r.framesDecoded || 0, width: r.frameWidth || 0, height: r.frameHeight || 0 });
      if (r.type === 'inbound-rtp' && r.kind === 'audio') out.audioPackets = r.packetsReceived || 0;
      if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pairs.push(r.remoteCandidateId);
    });
    stats.forEach((r) => { if (pairs.includes(r.id)) out.candidate = r.protocol + ' ' + r.address + ':' + r.port; });
    return out;
  };
  window.dominantHz = () => {
    const a = window.analyser;
    if (!a) return 0;
    const bins = new Float32Array(a.frequencyBinCount);
    a.getFloatFrequencyData(bins);
    let best = 0;
    for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    return bins[best] > -90 ? (best * window.audioCtx.sampleRate) / a.fftSize : 0;
  };
</script>`;

type ViewerStats = { framesDecoded: number; width: number; height: number; audioPackets: number; candidate: string | null };
type W = { publish(u: string): Promise<void>; play(u: string): Promise<void>; viewerStats(): Promise<ViewerStats>; dominantHz(): number; state(): { publisher: string | null; viewer: string | null } };

/** A page at http://localhost/ whose `window.signal(url, offer)` POSTs the offer from this process. */
async function openPage(browser: Browser): Promise<Page> {
  const page = await browser.newPage();
  await page.route('http://localhost/', (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
  await page.exposeFunction('signal', async (url: string, sdp: string) => {
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: sdp });
    const body = await res.text();
    if (res.status !== 201) throw new Error(`POST ${url}: ${res.status} ${body}`);
    return body;
  });
  await page.goto('http://localhost/');
  return page;
}

const viewerStats = (page: Page): Promise<ViewerStats> => page.evaluate(() => (window as unknown as W).viewerStats());

async function expectPlaying(page: Page, size: { width: number; height: number } | null): Promise<ViewerStats> {
  const first = await waitFor(async () => {
    const s = await viewerStats(page);
    return s.framesDecoded > 10 ? s : null;
  }, 20000, 'decoded frames');
  const later = await waitFor(async () => {
    const s = await viewerStats(page);
    return s.framesDecoded > first.framesDecoded + 30 && s.audioPackets > first.audioPackets + 25 ? s : null;
  }, 15000, 'frames and sound keep coming');
  if (size) assert.deepEqual({ width: later.width, height: later.height }, size);
  return later;
}

interface SessionsBody {
  sessions: { path: string; ice: { transport: string; address: string; port: number } | null; sendPath?: string; tracks?: { kind: string; packets: number }[] }[];
}
async function sessions(gw: TestGateway, which: 'webrtc' | 'whip'): Promise<SessionsBody['sessions']> {
  return ((await (await fetch(gw.httpUrl(`api/v1/${which}/sessions`))).json()) as SessionsBody).sessions;
}

const sh = (cmd: string, ...args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });

if (!IN_LOOPBACK_NETNS) {
  test('WebRTC over ICE-TCP and through a NAT, in Chromium (run in network namespaces)', { timeout: 300_000 }, async (t) => {
    if (!requireTools(t, 'ffmpeg', 'chromium', 'unshare', 'ip', 'nft', 'nsenter')) return;
    const { code, output } = await runInLoopbackNamespace(import.meta.url);
    t.diagnostic(output.split('\n').filter((l) => /✔|✖|ℹ|Error|error|expected|actual/.test(l)).slice(0, 40).join('\n'));
    assert.equal(code, 0, output.slice(-4000));
  });
} else {
  describe('UDP blocked: Chromium over ICE-TCP', { concurrency: false }, () => {
    let gw: TestGateway;
    let pub: Publisher;
    let browser: Browser;

    before(async () => {
      gw = await startGateway({ webrtc: { additionalHosts: ['127.0.0.1'] } });
      const { webrtcUdp } = gw.gateway.ports;
      sh('nft', 'add', 'table', 'inet', 'lgtest');
      sh('nft', 'add chain inet lgtest input { type filter hook input priority 0; policy accept; }');
      sh('nft', 'add', 'rule', 'inet', 'lgtest', 'input', 'udp', 'dport', String(webrtcUdp), 'counter', 'drop');
      pub = publish(gw.rtmpUrl('live/tcp'), { size: '640x360', gop: 30 });
      await waitFor(() => gw.gateway.registry.get('live/tcp')?.tracks.length === 2, 10000, 'stream live');
      browser = await launchChromium([...WEBRTC_FLAGS, ...FAKE_MEDIA_FLAGS]);
    });
    after(async () => {
      await browser?.close();
      await pub?.stop();
      await gw?.close();
      try {
        sh('nft', 'delete', 'table', 'inet', 'lgtest');
      } catch {
        /* not made */
      }
    });

    test('WHEP: frames at the published size and the 1 kHz tone, over TCP; UDP packets were dropped', async () => {
      const page = await openPage(browser);
      await page.evaluate((url) => (window as unknown as W).play(url), gw.httpUrl('live/tcp/whep'));
      const s = await expectPlaying(page, { width: 640, height: 360 });
      assert.match(s.candidate ?? '', /^tcp 127\.0\.0\.1:/, `Chromium's selected remote candidate: ${s.candidate}`);
      await waitFor(async () => {
        const hz = await page.evaluate(() => (window as unknown as W).dominantHz());
        return Math.abs(hz - 1000) < 30;
      }, 10000, 'the 1 kHz tone');
      const [viewer] = await sessions(gw, 'webrtc');
      assert.equal(viewer?.ice?.transport, 'tcp', 'the gateway sees the viewer on ICE-TCP');
      assert.equal(viewer?.sendPath, nativeSendUnavailable ? 'livegate' : 'native', "Chromium decodes livegate's SRTP (AES_CM_128_HMAC_SHA1_80; the native addon's where it is built, as in CI)");
      const dropped = /counter packets (\d+)/.exec(sh('nft', 'list', 'table', 'inet', 'lgtest'));
      assert.ok(Number(dropped?.[1]) > 0, 'Chromium did try UDP first (the rule dropped its packets)');
    });

    test('WHIP: Chromium publishes its camera and microphone over TCP', async () => {
      const page = await openPage(browser);
      await page.evaluate((url) => (window as unknown as W).publish(url), gw.httpUrl('live/tcp-cam/whip'));
      await waitFor(async () => {
        const [s] = await sessions(gw, 'whip');
        return s?.ice?.transport === 'tcp' && s.tracks!.every((t) => t.packets > 50) && s.tracks!.length === 2;
      }, 20000, 'the publisher on ICE-TCP sending video and audio');
      await waitFor(() => gw.gateway.registry.get('live/tcp-cam')?.tracks.length === 2, 10000, 'the stream is live with two tracks');
      await page.close();
    });
  });

  describe('NAT: client → router (DNAT 203.0.113.1:40000 → 10.0.0.1:port) → gateway', { concurrency: false }, () => {
    const sleepers: ChildProcess[] = [];
    let client = 0;
    let router = 0;
    let wrapper = '';

    const namespace = async (): Promise<number> => {
      const p = spawn('unshare', ['-n', 'sleep', 'infinity'], { stdio: 'ignore' });
      sleepers.push(p);
      // The child is in its own namespace once unshare has exec'd sleep.
      await waitFor(() => {
        try {
          return sh('readlink', `/proc/${p.pid}/exe`).trim().endsWith('/sleep');
        } catch {
          return false;
        }
      }, 5000, 'namespace made');
      return p.pid!;
    };
    const inNs = (pid: number, ...args: string[]): string => sh('nsenter', '-t', String(pid), '-n', ...args);

    before(async () => {
      router = await namespace();
      client = await namespace();
      sh('ip', 'link', 'add', 'lg-gw', 'type', 'veth', 'peer', 'name', 'lg-r0', 'netns', String(router));
      sh('ip', 'addr', 'add', '10.0.0.1/24', 'dev', 'lg-gw');
      sh('ip', 'link', 'set', 'lg-gw', 'up');
      sh('ip', 'route', 'add', 'default', 'via', '10.0.0.254');
      inNs(router, 'ip', 'link', 'set', 'lo', 'up');
      inNs(router, 'ip', 'addr', 'add', '10.0.0.254/24', 'dev', 'lg-r0');
      inNs(router, 'ip', 'link', 'set', 'lg-r0', 'up');
      inNs(router, 'ip', 'link', 'add', 'lg-r1', 'type', 'veth', 'peer', 'name', 'lg-c0', 'netns', String(client));
      inNs(router, 'ip', 'addr', 'add', '203.0.113.1/24', 'dev', 'lg-r1');
      inNs(router, 'ip', 'link', 'set', 'lg-r1', 'up');
      inNs(router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
      inNs(client, 'ip', 'link', 'set', 'lo', 'up');
      inNs(client, 'ip', 'addr', 'add', '203.0.113.2/24', 'dev', 'lg-c0');
      inNs(client, 'ip', 'link', 'set', 'lg-c0', 'up');
      const dir = mkdtempSync(join(tmpdir(), 'livegate-nat-'));
      wrapper = join(dir, 'chromium-in-client-ns');
      writeFileSync(wrapper, `#!/bin/sh\nexec nsenter -t ${client} -n ${CHROMIUM} "$@"\n`);
      chmodSync(wrapper, 0o755);
    });
    after(() => {
      for (const p of sleepers) p.kill('SIGKILL');
      try {
        sh('ip', 'link', 'del', 'lg-gw');
      } catch {
        /* gone with the router */
      }
    });

    /** The router forwards 203.0.113.1:40000 (UDP and TCP) to the gateway's media ports. */
    const forward = (udpPort: number, tcpPort: number): void => {
      inNs(router, 'nft', 'flush', 'ruleset');
      inNs(router, 'nft', 'add', 'table', 'ip', 'nat');
      inNs(router, 'nft', 'add chain ip nat prerouting { type nat hook prerouting priority -100; }');
      inNs(router, 'nft', 'add', 'rule', 'ip', 'nat', 'prerouting', 'ip', 'daddr', '203.0.113.1', 'udp', 'dport', '40000', 'dnat', 'to', `10.0.0.1:${udpPort}`);
      inNs(router, 'nft', 'add', 'rule', 'ip', 'nat', 'prerouting', 'ip', 'daddr', '203.0.113.1', 'tcp', 'dport', '40000', 'dnat', 'to', `10.0.0.1:${tcpPort}`);
    };

    test('with webrtc.publicAddresses: Chromium publishes over WHIP and plays over WHEP through the NAT', async () => {
      const gw = await startGateway({ webrtc: { interface: '10.0.0.1', publicAddresses: ['203.0.113.1:40000'] } });
      const browser = await launchChromium([...WEBRTC_FLAGS, ...FAKE_MEDIA_FLAGS], wrapper);
      try {
        const { webrtcUdp, webrtcTcp } = gw.gateway.ports;
        assert.notEqual(webrtcUdp, 40000, 'the public port differs from the local one');
        forward(webrtcUdp!, webrtcTcp!);
        assert.deepEqual(
          gw.gateway.webrtcAddresses().map((a) => `${a.address}:${a.udpPort}`),
          ['10.0.0.1:' + webrtcUdp, '203.0.113.1:40000'],
        );
        const publisher = await openPage(browser);
        await publisher.evaluate((url) => (window as unknown as W).publish(url), gw.httpUrl('live/nat/whip'));
        await waitFor(() => gw.gateway.registry.get('live/nat')?.tracks.length === 2, 20000, 'the camera is live through the NAT');
        const [pubSession] = await sessions(gw, 'whip');
        assert.equal(pubSession?.ice?.address, '203.0.113.2', 'the gateway sees the client at its own address (DNAT keeps the source)');
        const viewer = await openPage(browser);
        await viewer.evaluate((url) => (window as unknown as W).play(url), gw.httpUrl('live/nat/whep'));
        const s = await expectPlaying(viewer, { width: 640, height: 360 });
        assert.equal(s.candidate, 'udp 203.0.113.1:40000', `Chromium's selected remote candidate: ${s.candidate}`);
        // The fake microphone beeps: sound is heard, not only packets counted.
        await waitFor(async () => (await viewer.evaluate(() => (window as unknown as W).dominantHz())) > 0, 10000, 'sound from the fake microphone');
      } finally {
        await browser.close();
        await gw.close();
      }
    });

    test('without the mapping the same session never completes ICE (so the test above can fail)', async () => {
      const gw = await startGateway({ webrtc: { interface: '10.0.0.1', iceTimeoutMs: 4000 } });
      const browser = await launchChromium([...WEBRTC_FLAGS, ...FAKE_MEDIA_FLAGS], wrapper);
      try {
        forward(gw.gateway.ports.webrtcUdp!, gw.gateway.ports.webrtcTcp!);
        const pub = publish(gw.rtmpUrl('live/nomap'), { size: '320x240', gop: 30 });
        try {
          await waitFor(() => gw.gateway.registry.get('live/nomap')?.tracks.length === 2, 10000, 'stream live');
          const viewer = await openPage(browser);
          await viewer.evaluate((url) => (window as unknown as W).play(url), gw.httpUrl('live/nomap/whep'));
          await waitFor(() => gw.logs.some((l) => /ICE did not complete/.test(String(l.reason))), 10000, 'the gateway gives up the session');
          const state = await viewer.evaluate(() => (window as unknown as W).state());
          assert.notEqual(state.viewer, 'connected');
          assert.equal((await viewerStats(viewer)).framesDecoded, 0);
        } finally {
          await pub.stop();
        }
      } finally {
        await browser.close();
        await gw.close();
      }
    });
  });
}
