/**
 * Acceptance (issue 5) with a werift publisher: an OBS-like offer (no candidates, never trickles)
 * connects and the stream carries exactly the published H264 access units and every Opus packet,
 * with audio and video on one clock; PATCH / DELETE; a publisher that vanishes is reaped; every
 * refusal gets its status code while a live stream on another path is undisturbed.
 * Runs inside a loopback-only network namespace.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { joinLengthPrefixed } from '../../gateway/src/codec/nal-units.js';
import type { MediaUnit } from '../../gateway/src/core/media-unit.js';
import type { ReaderSink } from '../../gateway/src/core/reader.js';
import { readHttpFlv } from '../helpers/flv-client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { publish } from '../helpers/ffmpeg.js';
import { publishKnown } from '../helpers/h264-source.js';
import { IN_LOOPBACK_NETNS, runInLoopbackNamespace } from '../helpers/netns.js';
import { requireTools } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { whipOffer, whipPublish } from '../helpers/whip-client.js';

/** UDP sockets open in this network namespace (this process only). */
function udpSockets(): number {
  return readFileSync('/proc/net/udp', 'utf8').trim().split('\n').length - 1;
}

function collect(units: MediaUnit[]): ReaderSink {
  return {
    start: () => {},
    unit: (u) => void units.push(u),
    trackUpdate: () => {},
    metadata: () => {},
    end: () => {},
    backlog: () => 0,
    drop: () => {},
  };
}

if (!IN_LOOPBACK_NETNS) {
  test('WHIP with werift publishers (run in a loopback-only network namespace)', { timeout: 180_000 }, async (t) => {
    if (!requireTools(t, 'unshare', 'ip', 'ffmpeg')) return;
    const { code, output } = await runInLoopbackNamespace(import.meta.url);
    t.diagnostic(output.split('\n').filter((l) => /✔|✖|ℹ|Error|expected|actual/.test(l)).slice(0, 40).join('\n'));
    assert.equal(code, 0, output.slice(-4000));
  });
} else {
  describe('WHIP ← werift publishers', { concurrency: false }, () => {
    let gw: TestGateway;
    const MEDIA_TIMEOUT = 1500;

    const publishers: { kill(): Promise<void> }[] = [];
    before(async () => {
      gw = await startGateway({
        webrtc: { additionalHosts: ['127.0.0.1'], publisherMediaTimeoutMs: MEDIA_TIMEOUT, iceServers: [{ urls: 'stun:stun.example.net' }] },
      });
    });
    after(async () => {
      for (const p of publishers) await p.kill();
      await gw?.close();
    });

    test('an OBS-like offer (no candidates, no trickle) connects; the stream carries exactly what was sent, audio and video on one clock, through garbage at its UDP port', async (t) => {
      const startedAt = performance.now();
      // Audio starts 40 ms late: only the sender reports can line it up with the video.
      const pub = await whipPublish(`http://127.0.0.1:${gw.httpPort}/live/obs/whip`, { seconds: 9, likeObs: true, token: 'obs-key', audioStartLagMs: 40 });
      publishers.push(pub);
      assert.equal(pub.status, 201);
      assert.ok(performance.now() - startedAt < 8000, 'answered and connected well within OBS’s 8 s');
      const stream = await waitFor(() => gw.gateway.registry.get('live/obs'), 5000, 'stream live');
      assert.equal(stream.publisher.bearer, 'obs-key');
      const units: MediaUnit[] = [];
      // Attach once the video track is known, so the reader starts on a keyframe from the cache.
      await waitFor(() => stream.tracks.some((t) => t.kind === 'video'), 5000, 'video track');
      const handle = stream.addReader({ id: 'test-reader', protocol: 'test', remoteAddress: '' }, collect(units));
      // Garbage at the session's own UDP port meanwhile (random bytes, and bytes that look like STUN,
      // DTLS, RTP and RTCP): it must cost nothing of the real media.
      const port = Number(/^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host/m.exec(pub.answer)?.[1]);
      assert.ok(port > 0, 'the answer has a loopback host candidate');
      const sock = createSocket('udp4');
      const firsts = [0x00, 0x01, 0x16, 0x17, 0x80, 0x81, 0x90, 0xc8];
      for (let i = 0; i < 2000; i++) {
        const junk = randomBytes(1 + (i % 1200));
        junk[0] = firsts[i % firsts.length]!;
        sock.send(junk, port, '127.0.0.1');
        if (i % 20 === 0) await sleep(5);
      }
      sock.close();
      await pub.done;
      await sleep(300);
      handle.close();
      const video = units.filter((u) => u.track.kind === 'video');
      const audio = units.filter((u) => u.track.kind === 'audio');
      const track = stream.tracks.find((t) => t.kind === 'video');
      assert.equal(track?.kind === 'video' && `${track.width}x${track.height}`, '320x240');
      // Video: the units are byte for byte the published access units, in order, from a keyframe on.
      assert.ok(video.length > 80, `${video.length} video units`);
      assert.ok(video[0]!.keyframe, 'starts on a keyframe');
      const sent = pub.sent.map((au) => joinLengthPrefixed(au.nals));
      const first = sent.findIndex((b, i) => b.equals(video[0]!.data) && pub.sent[i]!.keyframe);
      assert.ok(first >= 0, 'the first unit is one of the published keyframes');
      for (const [k, u] of video.entries()) assert.ok(u.data.equals(sent[first + k]!), `unit ${k} equals published AU ${first + k}`);
      // Time steps as the RTP clock says, give or take the clock's slew (≤ 2 %) while sender reports
      // pull audio and video together.
      for (let k = 1; k < video.length; k++) {
        const step = video[k]!.pts - video[k - 1]!.pts;
        assert.ok(Math.abs(step - 3600) <= 72, `video steps 40 ms (${k}: ${step})`);
      }
      // Audio: every Opus packet (each one is unique), in order, 20 ms apart.
      assert.ok(audio.length > 200, `${audio.length} audio units`);
      const audioIndex = new Map(pub.audioSent.map((b, k) => [b.toString('base64'), k]));
      const indices = audio.map((a) => audioIndex.get(a.data.toString('base64')));
      assert.ok(indices.every((k) => k !== undefined), 'every audio unit is a published packet');
      for (let k = 1; k < indices.length; k++) assert.equal(indices[k], indices[k - 1]! + 1, `audio packet ${k} follows the previous one`);
      for (let k = 1; k < audio.length; k++) {
        const step = audio[k]!.pts - audio[k - 1]!.pts;
        assert.ok(Math.abs(step - 1800) <= 36, `audio steps 20 ms (${k}: ${step})`);
      }
      // One clock: over the last second, a unit's pts minus the instant it was made for is the same
      // for audio and video (the sender reports tie the two RTP clocks together; the clock slews at
      // most 2 %, so ~90 ms takes ~4.5 s once the reports have come).
      const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
      const lastPts = video[video.length - 1]!.pts;
      const videoOffset = median(video.flatMap((u, k) => (u.pts > lastPts - 90_000 ? [u.pts - (first + k) * 3600] : [])));
      const audioOffset = median(audio.flatMap((u, k) => (u.pts > lastPts - 90_000 ? [u.pts - indices[k]! * 1800] : [])));
      const skewMs = (videoOffset - audioOffset) / 90;
      // And at the start they were the lag apart (the test would prove nothing otherwise).
      const early = (xs: MediaUnit[], idx: (k: number) => number, step: number) => median(xs.slice(0, 10).map((u, k) => u.pts - idx(k) * step));
      const startSkewMs = (early(video, (k) => first + k, 3600) - early(audio, (k) => indices[k]!, 1800)) / 90;
      t.diagnostic(`A/V skew at the start ${startSkewMs.toFixed(1)} ms, over the last second ${skewMs.toFixed(1)} ms`);
      assert.ok(Math.abs(startSkewMs) > 20, `the late audio start put them ${startSkewMs.toFixed(1)} ms apart at first`);
      assert.ok(Math.abs(skewMs) < 15, `audio and video ${skewMs.toFixed(1)} ms apart`);
      await pub.stop();
    });

    test('PATCH trickle → 204, wrong type → 415; DELETE → 200 ends the stream, frees its sockets; then 404', async () => {
      const baseline = udpSockets();
      const pub = await whipPublish(`http://127.0.0.1:${gw.httpPort}/live/patch/whip`, { seconds: 3 });
      publishers.push(pub);
      assert.equal(pub.status, 201);
      const frag = 'a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef012345\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n';
      const ufrag = /^a=ice-ufrag:(.*)$/m.exec(pub.pc.localDescription!.sdp)![1]!.trim();
      let r = await fetch(pub.location, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: frag.replace('abcd', ufrag) });
      assert.equal(r.status, 204);
      r = await fetch(pub.location, { method: 'PATCH', headers: { 'Content-Type': 'text/plain' }, body: 'x' });
      assert.equal(r.status, 415);
      r = await fetch(pub.location, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': '"stale"' }, body: frag });
      assert.equal(r.status, 412, 'a stale ETag');
      r = await fetch(pub.location, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: 'a'.repeat(100_000) });
      assert.equal(r.status, 413);
      r = await fetch(pub.location.replace('/live/patch/', '/live/other/'), { method: 'DELETE' });
      assert.equal(r.status, 404, 'the session URL with another path is not the session');
      r = await fetch(pub.location, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': '*' }, body: frag });
      assert.equal(r.status, 422, 'ICE restart is refused');
      await waitFor(() => gw.gateway.registry.get('live/patch')?.tracks.length === 2, 5000, 'stream live');
      const reader = readHttpFlv(gw.httpUrl('live/patch.flv'));
      await waitFor(() => reader.tags.length > 5, 5000, 'FLV reader receiving');
      assert.equal(await pub.stop(), 200);
      assert.equal(await reader.ended, 'end');
      assert.equal(gw.gateway.registry.get('live/patch'), undefined);
      r = await fetch(pub.location, { method: 'DELETE' });
      assert.equal(r.status, 404);
      await pub.done;
      // The session's socket (and the test publisher's) are closed again.
      await waitFor(() => udpSockets() === baseline, 5000, `UDP sockets back to ${baseline}`);
    });

    test('a publisher that vanishes without DELETE is reaped after the media timeout', async () => {
      const pub = await whipPublish(`http://127.0.0.1:${gw.httpPort}/live/vanish/whip`, { seconds: 10 });
      publishers.push(pub);
      assert.equal(pub.status, 201);
      await waitFor(() => gw.gateway.registry.get('live/vanish')?.tracks.length === 2, 5000, 'stream live');
      const goneAt = performance.now();
      await pub.kill();
      await waitFor(() => gw.gateway.registry.get('live/vanish') === undefined, MEDIA_TIMEOUT + 3000, 'stream ended');
      const took = performance.now() - goneAt;
      assert.ok(took < MEDIA_TIMEOUT + 1500, `reaped after ${Math.round(took)} ms`);
      await pub.done;
    });

    test('a WHIP publisher that hangs (connection up, no media) is taken over by a new one after 1 s; its reader carries on', async () => {
      const first = await whipPublish(`http://127.0.0.1:${gw.httpPort}/live/hang/whip`, { seconds: 30 });
      publishers.push(first);
      assert.equal(first.status, 201);
      await waitFor(() => gw.gateway.registry.get('live/hang')?.tracks.length === 2, 5000, 'stream live');
      const stream = gw.gateway.registry.get('live/hang')!;
      const reader = readHttpFlv(gw.httpUrl('live/hang.flv'));
      await waitFor(() => reader.tags.filter((t) => t.type === 9).length > 10, 5000, 'reader flowing');
      first.pause();
      const hungAt = performance.now();
      // Half a second later (an encoder restarting): the hung publisher is not silent long enough to
      // be taken over yet, but silent enough that the new one waits for it instead of being refused.
      await sleep(400);
      const second = await whipPublish(`http://127.0.0.1:${gw.httpPort}/live/hang/whip`, { seconds: 4 });
      publishers.push(second);
      assert.equal(second.status, 201, second.answer);
      await waitFor(() => reader.tags.some((t) => t.type === 9 && t.at > hungAt + 1000 && t.body[0]! >> 4 === 1), 8000, 'the new publisher\'s keyframe at the reader');
      assert.equal(gw.gateway.registry.get('live/hang'), stream, 'the same stream goes on');
      const takeover = gw.logs.find((l) => l.msg === 'publisher taken over' && l.path === 'live/hang');
      assert.ok(takeover && (takeover.silentMs as number) >= 1000, `taken over after ${takeover?.silentMs} ms`);
      assert.ok(gw.logs.some((l) => l.msg === 'publish closed' && l.level === 'warn' && /taken over/.test(String(l.reason))), 'the hung session is closed, with its reason');
      const video = reader.tags.filter((t) => t.type === 9 && t.body[1] === 1).map((t) => t.timestamp);
      for (let i = 1; i < video.length; i++) assert.ok(video[i]! >= video[i - 1]!, `video time runs on (${video[i - 1]} then ${video[i]})`);
      await second.done;
      await waitFor(() => reader.tags.length > 0 && gw.gateway.registry.get('live/hang') === undefined, 8000, 'the stream ends with the second publisher').catch(() => {});
      reader.close();
      await second.stop().catch(() => 0);
    });

    test('an RTMP publisher (AAC) that hangs is taken over by a WHIP one (Opus): the FLV reader’s sound goes on, as the AAC rendition', async () => {
      const rtmp = publish(gw.rtmpUrl('live/codec-change'));
      await waitFor(() => gw.gateway.registry.get('live/codec-change')?.tracks.length === 2, 10_000, 'RTMP stream live');
      const reader = readHttpFlv(gw.httpUrl('live/codec-change.flv'));
      const aacTags = (after: number) => reader.tags.filter((t) => t.type === 8 && t.body[0]! >> 4 === 10 && t.body[1] === 1 && t.at > after).length;
      await waitFor(() => aacTags(0) > 20, 8000, 'the reader gets the RTMP publisher’s AAC');
      rtmp.child.kill('SIGSTOP');
      await sleep(400);
      const whip = await whipPublish(`http://127.0.0.1:${gw.httpPort}/live/codec-change/whip`, { seconds: 6 });
      publishers.push(whip);
      const whipAt = performance.now();
      try {
        assert.equal(whip.status, 201, whip.answer);
        await waitFor(() => gw.gateway.registry.get('live/codec-change')?.tracks.some((t) => t.codec === 'opus') === true, 8000, 'the WHIP publisher took the path over');
        // The Opus audio reaches the FLV reader as AAC (FLV cannot carry Opus): about 47 frames a second.
        await waitFor(() => aacTags(whipAt) > 40, 10_000, 'AAC frames of the new publisher at the reader');
        assert.ok(!reader.tags.some((t) => t.type === 8 && t.body[0]! >> 4 !== 10), 'only AAC audio tags');
        assert.ok(gw.gateway.registry.get('live/codec-change')!.renditionViews().some((r) => r.from === 'opus' && r.to === 'aac'), 'the Opus → AAC rendition runs');
      } finally {
        reader.close();
        rtmp.child.kill('SIGKILL');
        await rtmp.exited;
        await whip.stop().catch(() => 0);
      }
    });

    test('every refusal has its code, and a live stream on another path is undisturbed', async () => {
      const other = await publishKnown(gw.rtmpUrl('live/other'), 3);
      const reader = readHttpFlv(gw.httpUrl('live/other.flv'));
      await waitFor(() => reader.tags.length > 10, 5000, 'other stream flowing');
      const busy = await whipPublish(`http://127.0.0.1:${gw.httpPort}/live/busy/whip`, { seconds: 6 });
      publishers.push(busy);
      assert.equal(busy.status, 201);
      const url = (p: string) => `http://127.0.0.1:${gw.httpPort}/${p}/whip`;
      const post = (p: string, body: string, type = 'application/sdp') => fetch(url(p), { method: 'POST', headers: { 'Content-Type': type }, body });
      const { pc, sdp } = await whipOffer();
      const codes: [string, number, number][] = [];
      const expect = async (what: string, want: number, res: Promise<Response>) => {
        const r = await res;
        codes.push([what, want, r.status]);
        if (r.status >= 400 && r.status !== 405) assert.match(r.headers.get('content-type') ?? '', /problem\+json/, what);
      };
      await expect('wrong content type', 400, post('live/x', sdp, 'text/plain'));
      await expect('garbage SDP', 400, post('live/x', 'hello\r\nworld'));
      await expect('bad path', 400, post('live/bad%20path', sdp));
      await expect('huge body', 413, post('live/x', 'v=0\r\n' + 'a'.repeat(200_000)));
      await expect('no ICE credentials', 400, post('live/x', sdp.replace(/^a=ice-(ufrag|pwd):.*\r\n/gm, '')));
      await expect('no DTLS fingerprint', 400, post('live/x', sdp.replace(/^a=fingerprint:.*\r\n/gm, '')));
      await expect('setup:active', 422, post('live/x', sdp.replace(/a=setup:actpass/g, 'a=setup:active')));
      await expect('simulcast', 422, post('live/x', sdp.replace('a=mid:1', 'a=mid:1\r\na=rid:h send\r\na=rid:l send\r\na=simulcast:send h;l')));
      await expect('H264 pm=0 only', 422, post('live/x', sdp.replace(/packetization-mode=1/g, 'packetization-mode=0')));
      await expect('VP9 video', 422, post('live/x', sdp.replace(/H264\/90000/g, 'VP9/90000')));
      await expect('PCMU audio', 422, post('live/x', sdp.replace(/opus\/48000\/2/gi, 'PCMU/8000')));
      await expect('recvonly', 422, post('live/x', sdp.replace(/a=sendonly/g, 'a=recvonly')));
      const m = sdp.indexOf('m=video');
      await expect('two video sections', 422, post('live/x', sdp + sdp.slice(m).replace('a=mid:1', 'a=mid:2')));
      await expect('the path is being published (WHIP)', 409, post('live/busy', sdp));
      await expect('the path is being published (RTMP)', 409, post('live/other', sdp));
      await expect('PATCH unknown session', 404, fetch(url('live/x') + '/00000000-0000-0000-0000-000000000000', { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: '' }));
      await expect('DELETE unknown session', 404, fetch(url('live/x') + '/00000000-0000-0000-0000-000000000000', { method: 'DELETE' }));
      await expect('GET the endpoint', 405, fetch(url('live/x')));
      const opt = await fetch(url('live/x'), { method: 'OPTIONS', headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'POST' } });
      codes.push(['OPTIONS', 204, opt.status]);
      assert.equal(opt.headers.get('accept-post'), 'application/sdp');
      assert.match(opt.headers.get('access-control-allow-methods') ?? '', /POST/);
      assert.match(opt.headers.get('access-control-allow-headers') ?? '', /Authorization/);
      assert.deepEqual(codes.map(([w, , got]) => [w, got]), codes.map(([w, want]) => [w, want]));
      await pc.close();
      // Nothing was left behind, and the other stream never stalled.
      assert.equal(gw.gateway.registry.get('live/x'), undefined);
      assert.equal(gw.gateway.whip?.sessions.size, 1, 'only the busy publisher has a session');
      const video = reader.tags.filter((t) => t.type === 9);
      let worst = 0;
      for (let i = 1; i < video.length; i++) worst = Math.max(worst, video[i]!.at - video[i - 1]!.at);
      assert.ok(worst < 500, `the other stream's reader waited at most ${Math.round(worst)} ms between frames`);
      reader.close();
      await busy.stop();
      other.client.close();
      await other.done.catch(() => {});
    });
  });
}
