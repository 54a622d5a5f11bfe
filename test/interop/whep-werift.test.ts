/**
 * Acceptance (issue 3): a werift viewer rebuilds the H264 access units that were published (count,
 * bytes and keyframe positions) and decodes the Opus to PCM with the published 1 kHz tone; 20
 * viewers at once; one that vanishes without DELETE is reaped; after DELETE every UDP socket is
 * closed. Runs inside a loopback-only network namespace.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import OpusScript from 'opusscript';
import { depacketizeH264 } from '../../gateway/src/format/rtp/h264.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { publish, run } from '../helpers/ffmpeg.js';
import { publishKnown } from '../helpers/h264-source.js';
import { IN_LOOPBACK_NETNS, runInLoopbackNamespace } from '../helpers/netns.js';
import { requireTools } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { whepView, type WhepViewer } from '../helpers/whep-client.js';

/** UDP sockets open in this network namespace (this process and its children only). */
function udpSockets(): number {
  return readFileSync('/proc/net/udp', 'utf8').trim().split('\n').length - 1;
}

function groupByTimestamp(packets: { header: { timestamp: number; sequenceNumber: number; marker: boolean }; payload: Buffer }[]) {
  const aus: Buffer[][] = [];
  let current: Buffer[] = [];
  for (const p of packets) {
    current.push(p.payload);
    if (p.header.marker) {
      aus.push(current);
      current = [];
    }
  }
  return aus;
}

if (!IN_LOOPBACK_NETNS) {
  test('WHEP with werift viewers (run in a loopback-only network namespace)', { timeout: 180_000 }, async (t) => {
    if (!requireTools(t, 'unshare', 'ip')) return;
    const { code, output } = await runInLoopbackNamespace(import.meta.url);
    t.diagnostic(output.split('\n').filter((l) => /✔|✖|ℹ|Error|expected|actual/.test(l)).slice(0, 40).join('\n'));
    assert.equal(code, 0, output.slice(-4000));
  });
} else {
  describe('WHEP → werift viewers', { concurrency: false }, () => {
    let gw: TestGateway;
    let baseline: number;

    before(async () => {
      gw = await startGateway({
        webrtc: {
          additionalHosts: ['127.0.0.1'],
          sessionTimeoutMs: 3000,
          // Only announced to clients in Link headers: livegate itself never contacts them.
          iceServers: [{ urls: 'stun:stun.example.net' }, { urls: 'turn:turn.example.net', secret: 's3cret', ttlSeconds: 60 }],
        },
      });
      baseline = udpSockets(); // the gateway's own (the SRT listener), before any viewer

    });
    after(async () => {
      await gw?.close();
    });

    test('the viewer gets exactly the published access units, and Opus with the 1 kHz tone', async () => {
      const pub = await publishKnown(gw.rtmpUrl('live/known'), 2);
      await waitFor(() => gw.gateway.registry.get('live/known')?.tracks.length === 2, 5000, 'stream live');
      // Join right away: the GOP cache gives the first keyframe at once.
      const viewer = await whepView(`http://127.0.0.1:${gw.httpPort}/live/known/whep`);
      assert.match(viewer.location, /\/live\/known\/whep\/[0-9a-f-]{36}$/);
      assert.ok(viewer.etag);
      assert.equal(viewer.links[0], '<stun:stun.example.net>; rel="ice-server"');
      assert.match(viewer.links[1] ?? '', /^<turn:turn\.example\.net>; rel="ice-server"; username="\d+:[0-9a-f-]{36}"; credential="[A-Za-z0-9+/=]{28}"; credential-type="password"$/);
      await pub.done;
      await sleep(500);
      await viewer.stop();
      pub.client.close();

      const received = groupByTimestamp(viewer.video).map((payloads) => depacketizeH264(payloads));
      // The viewer starts at the keyframe the GOP cache held when it joined; from there on every
      // access unit must arrive, byte for byte.
      const sentSlices = pub.sent.map((au) => au.nals.filter((n) => [1, 5].includes(n[0]! & 0x1f)));
      const gotSlices = received.map((nals) => nals.filter((n) => [1, 5].includes(n[0]! & 0x1f)));
      const start = sentSlices.findIndex((s) => s[0]!.equals(gotSlices[0]![0]!));
      assert.ok(start >= 0 && start % 25 === 0, `the viewer starts on a published keyframe (index ${start})`);
      assert.equal(gotSlices.length, sentSlices.length - start, 'access unit count');
      for (let i = 0; i < gotSlices.length; i++) {
        assert.deepEqual(gotSlices[i]!.map((n) => n.toString('hex')), sentSlices[start + i]!.map((n) => n.toString('hex')), `access unit ${start + i}`);
        const key = received[i]!.some((n) => (n[0]! & 0x1f) === 5);
        assert.equal(key, pub.sent[start + i]!.keyframe, `keyframe at ${start + i}`);
        if (key) assert.deepEqual(received[i]!.slice(0, 2).map((n) => n[0]! & 0x1f), [7, 8], 'SPS and PPS lead every keyframe');
      }
      // Audio: decode every Opus packet and look for the tone.
      assert.ok(viewer.audio.length > 100, `${viewer.audio.length} Opus packets`);
      const dec = new OpusScript(48000, 2);
      const pcm = Buffer.concat(viewer.audio.map((p) => dec.decode(p.payload)));
      dec.delete();
      const samples = new Float32Array(pcm.length / 4);
      for (let i = 0; i < samples.length; i++) samples[i] = pcm.readInt16LE(i * 4) / 32768;
      const body = samples.subarray(9600, samples.length - 4800);
      let re = 0, im = 0, total = 0;
      for (let i = 0; i < body.length; i++) {
        re += body[i]! * Math.cos((2 * Math.PI * 1000 * i) / 48000);
        im += body[i]! * Math.sin((2 * Math.PI * 1000 * i) / 48000);
        total += body[i]! ** 2;
      }
      const share = ((re * re + im * im) * 2) / body.length / total;
      assert.ok(share > 0.9, `1 kHz holds ${(share * 100).toFixed(1)} % of the decoded audio's power`);
      const ts = viewer.audio.map((p) => p.header.timestamp);
      for (let i = 1; i < ts.length; i++) assert.equal((ts[i]! - ts[i - 1]! + 2 ** 32) % 2 ** 32, 960, `Opus timestamps step 20 ms (${i})`);
    });

    test('20 viewers at once; one killed without DELETE is reaped; after DELETE the sockets are closed', async () => {
      const pub = await publishKnown(gw.rtmpUrl('live/many'), 3);
      await waitFor(() => gw.gateway.registry.get('live/many')?.tracks.length === 2, 5000, 'stream live');
      const viewers: WhepViewer[] = [];
      for (let i = 0; i < 20; i++) viewers.push(await whepView(`http://127.0.0.1:${gw.httpPort}/live/many/whep`, { keepPackets: false }));
      await waitFor(() => viewers.every((v) => v.video.length > 0 && v.audio.length > 0), 10000, 'every viewer receiving video and audio');
      assert.equal(gw.gateway.whep!.sessions.size, 20);
      const api = (await (await fetch(`http://127.0.0.1:${gw.httpPort}/api/v1/webrtc/sessions`)).json()) as { sessions: { state: string; packetsSent: number }[] };
      assert.equal(api.sessions.length, 20);
      assert.ok(api.sessions.every((s) => s.state === 'connected' && s.packetsSent > 0), 'the API lists every viewer, connected and sending');
      const streamApi = (await (await fetch(`http://127.0.0.1:${gw.httpPort}/api/v1/streams/live/many`)).json()) as { readers: { byProtocol: Record<string, number> } };
      assert.equal(streamApi.readers.byProtocol.webrtc, 20);
      const victim = viewers.pop()!;
      await victim.kill();
      await waitFor(() => gw.gateway.whep!.sessions.size === 19, 8000, 'the vanished viewer to be reaped');
      assert.ok(gw.logs.some((l) => l.msg === 'play closed' && /no activity/.test(String(l.reason))), 'reaping is logged with its reason');
      const statuses = await Promise.all(viewers.map((v) => v.stop()));
      assert.deepEqual([...new Set(statuses)], [200]);
      assert.equal(gw.gateway.whep!.sessions.size, 0);
      await waitFor(() => udpSockets() === baseline, 5000, `UDP sockets back to ${baseline} (now ${udpSockets()})`);
      pub.client.close();
      await pub.done.catch(() => {});
    });

    test('the publisher reconnects: the viewer carries on, RTP time and sequence numbers without a jump', async () => {
      const first = await publishKnown(gw.rtmpUrl('live/again'), 1);
      await waitFor(() => gw.gateway.registry.get('live/again')?.tracks.length === 2, 5000, 'stream live');
      const viewer = await whepView(`http://127.0.0.1:${gw.httpPort}/live/again/whep`);
      await first.done;
      const beforeSwitch = viewer.video.length;
      first.client.close();
      await waitFor(() => gw.logs.some((l) => l.msg === 'play waiting for a new publisher'), 3000, 'the viewer to wait');
      await sleep(700);
      const second = await publishKnown(gw.rtmpUrl('live/again'), 1);
      await second.done;
      await sleep(300);
      await viewer.stop();
      second.client.close();
      assert.ok(gw.logs.some((l) => l.msg === 'play resumed on a new publisher'));
      assert.ok(viewer.video.length >= beforeSwitch + 50, `video from the second publisher (${viewer.video.length - beforeSwitch} packets)`);
      const video = viewer.video;
      for (let i = 1; i < video.length; i++) {
        const seqStep = (video[i]!.header.sequenceNumber - video[i - 1]!.header.sequenceNumber + 0x10000) & 0xffff;
        assert.equal(seqStep, 1, `video sequence numbers contiguous at ${i}`);
        const tsStep = (video[i]!.header.timestamp - video[i - 1]!.header.timestamp + 2 ** 32) % 2 ** 32;
        assert.ok(tsStep <= 3600, `video RTP time runs on without a jump at ${i} (+${tsStep})`);
      }
      const audio = viewer.audio.map((p) => p.header.timestamp);
      for (let i = 1; i < audio.length; i++) {
        const step = (audio[i]! - audio[i - 1]! + 2 ** 32) % 2 ** 32;
        // Audio may leave a short gap where the old publisher stopped and the new one started.
        assert.ok(step > 0 && step <= 12000, `audio RTP time runs on at ${i} (+${step})`);
      }
    });

    test('NACKs from a viewer on a lossy link are answered with retransmissions', async (t) => {
      const pub = await publishKnown(gw.rtmpUrl('live/lossy'), 2);
      await waitFor(() => gw.gateway.registry.get('live/lossy')?.tracks.length === 2, 5000, 'stream live');
      const viewer = await whepView(`http://127.0.0.1:${gw.httpPort}/live/lossy/whep`, { inboundLossPercent: 5 });
      await pub.done;
      const api = (await (await fetch(`http://127.0.0.1:${gw.httpPort}/api/v1/webrtc/sessions`)).json()) as {
        sessions: { path: string; packetsSent: number; packetsRetransmitted: number }[];
      };
      const s = api.sessions.find((x) => x.path === 'live/lossy')!;
      await viewer.stop();
      pub.client.close();
      assert.ok(s.packetsRetransmitted > 0, `retransmitted ${s.packetsRetransmitted} of ${s.packetsSent} packets`);
      // The retransmissions were decrypted and put back in place (RTX unwrapped by the viewer): far
      // fewer sequence numbers are missing than the 5 % the link drops.
      const seqs = new Set(viewer.video.map((p) => p.header.sequenceNumber));
      const first = viewer.video[0]!.header.sequenceNumber;
      const span = ((viewer.video.at(-1)!.header.sequenceNumber - first + 65536) % 65536) + 1;
      const missing = span - seqs.size;
      t.diagnostic(`video: ${missing} of ${span} sequence numbers missing after retransmissions (${s.packetsRetransmitted} retransmitted)`);
      assert.ok(missing / span < 0.02, `${missing} of ${span} missing`);
    });

    test('a PLI is answered from the GOP cache: a keyframe at once, RTP time running on', async (t) => {
      if (!requireTools(t, 'ffmpeg')) return;
      // A 5-second GOP: the source's next keyframe is far away when the viewer asks.
      const pub = publish(gw.rtmpUrl('live/pli'), { size: '320x240', gop: 150 });
      try {
        await waitFor(() => gw.gateway.registry.get('live/pli')?.tracks.length === 2, 8000, 'stream live');
        const viewer = await whepView(`http://127.0.0.1:${gw.httpPort}/live/pli/whep`);
        await waitFor(() => viewer.video.length > 30, 5000, 'video flowing');
        await sleep(1000);
        const idrs = () => viewer.video.filter((p) => (p.payload[0]! & 0x1f) === 24 || ((p.payload[0]! & 0x1f) === 28 && (p.payload[1]! & 0x9f) === 0x85)).length;
        const before = idrs();
        const video = viewer.pc.getTransceivers().find((tr) => tr.kind === 'video')!;
        const asked = performance.now();
        await video.receiver.sendRtcpPLI(viewer.video[0]!.header.ssrc);
        await waitFor(() => idrs() > before, 1500, 'a keyframe after the PLI');
        t.diagnostic(`keyframe ${(performance.now() - asked).toFixed(0)} ms after the PLI`);
        const api = (await (await fetch(`http://127.0.0.1:${gw.httpPort}/api/v1/webrtc/sessions`)).json()) as {
          sessions: { path: string; keyframeRequests: number; keyframeAnswers: number }[];
        };
        const s = api.sessions.find((x) => x.path === 'live/pli')!;
        assert.ok(s.keyframeRequests >= 1 && s.keyframeAnswers >= 1, JSON.stringify(s));
        await sleep(500);
        await viewer.stop();
        const ts = viewer.video.map((p) => p.header.timestamp);
        for (let i = 1; i < ts.length; i++) assert.ok(ts[i]! >= ts[i - 1]!, `RTP time never goes back (${i})`);
      } finally {
        await pub.stop();
      }
    });

    test('lip sync: a tone burst and the keyframe of the same instant map to the same wall-clock time by the sender reports (within 5 ms)', async (t) => {
      if (!requireTools(t, 'ffmpeg')) return;
      // A real encoder whose content marks the instants: a keyframe forced at every whole second, and
      // a 30 ms 1 kHz burst at every whole second in otherwise silent AAC (transcoded to Opus here).
      const pub = run('ffmpeg', [
        '-hide_banner', '-loglevel', 'error', '-re',
        '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25',
        '-f', 'lavfi', '-i', 'aevalsrc=0.5*sin(2*PI*1000*t)*lt(mod(t\\,1)\\,0.03):s=48000',
        '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-bf', '0', '-g', '1000', '-force_key_frames', 'expr:gte(t,n_forced)',
        '-c:a', 'aac', '-b:a', '128k', '-f', 'flv', gw.rtmpUrl('live/sync'),
      ]);
      try {
        await waitFor(() => gw.gateway.registry.get('live/sync')?.tracks.length === 2, 8000, 'stream live');
        const viewer = await whepView(`http://127.0.0.1:${gw.httpPort}/live/sync/whep`);
        // RTCP SR: NTP wall clock ↔ RTP time, per track; a player lines audio up with video by them.
        const last: { [kind: string]: { ntp: number; rtp: number } } = {};
        for (const tr of viewer.pc.getTransceivers()) {
          const kind = tr.kind;
          tr.receiver.onRtcp.subscribe((p) => {
            const sr = p as unknown as { type: number; ssrc: number; senderInfo: { ntpTimestamp: bigint; rtpTimestamp: number } };
            const own = (kind === 'video' ? viewer.video : viewer.audio)[0]?.header.ssrc;
            if (sr.type !== 200 || sr.ssrc !== own) return;
            const ntp = Number(sr.senderInfo.ntpTimestamp >> 32n) + Number(sr.senderInfo.ntpTimestamp & 0xffffffffn) / 2 ** 32;
            last[kind] = { ntp, rtp: sr.senderInfo.rtpTimestamp };
          });
        }
        await sleep(7000);
        await viewer.stop();
        assert.ok(last.video && last.audio, 'sender reports on both tracks');
        const wall = (kind: 'video' | 'audio', rtp: number): number => {
          const sr = last[kind]!;
          const rate = kind === 'video' ? 90000 : 48000;
          const diff = ((rtp - sr.rtp + 2 ** 31) % 2 ** 32 + 2 ** 32) % 2 ** 32 - 2 ** 31;
          return sr.ntp + diff / rate;
        };
        // Keyframes: RTP times of IDR slices (single NAL, STAP-A, or the first FU-A fragment).
        const keys = new Set<number>();
        for (const p of viewer.video) {
          const b = p.payload;
          const type = b[0]! & 0x1f;
          let idr = type === 5 || (type === 28 && (b[1]! & 0x80) !== 0 && (b[1]! & 0x1f) === 5);
          for (let o = 1; type === 24 && o + 2 < b.length; o += 2 + b.readUInt16BE(o)) if ((b[o + 2]! & 0x1f) === 5) idr = true;
          if (idr) keys.add(p.header.timestamp);
        }
        // Burst onsets: decode the Opus as a player would, and find each sound after silence.
        const dec = new OpusScript(48000, 1);
        const onsets: number[] = [];
        // A sound is a burst's onset when nothing was loud in the 0.5 s before it (heard from the start).
        let position = 0;
        let lastLoud = 0;
        for (const p of viewer.audio) {
          const pcm = dec.decode(p.payload);
          for (let i = 0; i < pcm.length / 2; i++, position++) {
            if (Math.abs(pcm.readInt16LE(i * 2)) / 32768 < 0.1) continue;
            if (position - lastLoud >= 24000) onsets.push((p.header.timestamp + i) >>> 0);
            lastLoud = position;
          }
        }
        dec.delete();
        const offsets: number[] = [];
        for (const o of onsets) {
          const a = wall('audio', o);
          const nearest = [...keys].map((k) => wall('video', k)).sort((x, y) => Math.abs(x - a) - Math.abs(y - a))[0];
          if (nearest !== undefined && Math.abs(a - nearest) < 0.5) offsets.push((a - nearest) * 1000);
        }
        t.diagnostic(`audio burst minus keyframe by the sender reports (ms): ${offsets.map((o) => o.toFixed(1)).join(' ')}`);
        assert.ok(offsets.length >= 4, `${offsets.length} bursts matched to keyframes (${onsets.length} bursts, ${keys.size} keyframes)`);
        for (const o of offsets) assert.ok(Math.abs(o) < 5, `audio and video of the same instant ${o.toFixed(1)} ms apart`);
      } finally {
        await pub.stop();
      }
    });

    test('webrtc.interface binds the media sockets to that address', async () => {
      const bound = await startGateway({ webrtc: { additionalHosts: ['127.0.0.1'], interface: '127.0.0.1' } });
      const pub = await publishKnown(bound.rtmpUrl('live/bound'), 1);
      try {
        await waitFor(() => bound.gateway.registry.get('live/bound')?.tracks.length === 2, 5000, 'stream live');
        const viewer = await whepView(`http://127.0.0.1:${bound.httpPort}/live/bound/whep`);
        await waitFor(() => viewer.video.length > 0, 5000, 'video over the bound socket');
        const session = [...bound.gateway.whep!.sessions.values()][0]!;
        const local = session.pc.iceTransports[0]?.localCandidates.map((c) => c.ip) ?? [];
        assert.ok(local.length > 0 && local.every((h) => h === '127.0.0.1'), `local candidates ${local.join(', ')}`);
        // /proc/net/udp: every socket of this namespace is bound to 127.0.0.1 (0100007F), none to 0.0.0.0.
        const addrs = readFileSync('/proc/net/udp', 'utf8').trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/)[1]!.split(':')[0]);
        assert.ok(addrs.includes('0100007F'), `bound sockets: ${addrs.join(', ')}`);
        await viewer.stop();
      } finally {
        pub.client.close();
        await pub.done.catch(() => {});
        await bound.close();
      }
    });
  });
}
