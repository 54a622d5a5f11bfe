/**
 * A werift WHIP publisher for tests (run inside a loopback-only namespace: see netns.ts). With
 * `likeObs`, it behaves as OBS's WHIP output does: the offer carries no candidates and nothing is
 * ever trickled, so the server learns the publisher's address from its ICE checks.
 */
import OpusScript from 'opusscript';
// livegate's werift (its RTCP sender reports carry a correct NTP time: the publisher's SRs matter here).
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket, useH264, useOPUS } from '../../gateway/src/protocols/webrtc/werift.js';
import { packetizeH264 } from '../../gateway/src/format/rtp/h264.js';
import { knownVideo, type KnownAu } from './h264-source.js';
import { sleep } from './wait.js';

export interface WhipPublisher {
  pc: RTCPeerConnection;
  status: number;
  location: string;
  etag: string | null;
  /** The server's SDP answer (or the error body). */
  answer: string;
  /** Access units sent so far, in order (parameter sets included on keyframes). */
  sent: KnownAu[];
  /** Opus packets sent so far, in order: packet k was made for time k × 20 ms (each is unique). */
  audioSent: Buffer[];
  /** Resolves when the timed sending loop ends (after `seconds`, or at stop/kill). */
  done: Promise<void>;
  /** DELETE the session, then close the peer connection; resolves with the DELETE status. */
  stop(): Promise<number>;
  /** Vanish without DELETE. */
  kill(): Promise<void>;
  /** Stop sending media, the connection left open (an encoder that hung, its network still up). */
  pause(): void;
}

/** An offer as werift makes it for a sendonly H264 + Opus publisher (for error tests: no media is sent). */
export async function whipOffer(options: { video?: boolean; audio?: boolean } = {}): Promise<{ pc: RTCPeerConnection; sdp: string }> {
  const pc = new RTCPeerConnection({ iceServers: [], iceUseIpv6: false, bundlePolicy: 'max-bundle', iceAdditionalHostAddresses: ['127.0.0.1'], codecs: { video: [useH264()], audio: [useOPUS()] } });
  if (options.video ?? true) pc.addTransceiver(new MediaStreamTrack({ kind: 'video', codec: useH264() }), { direction: 'sendonly' });
  if (options.audio ?? true) pc.addTransceiver(new MediaStreamTrack({ kind: 'audio', codec: useOPUS() }), { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  return { pc, sdp: pc.localDescription!.sdp };
}

/** Strips every candidate: what OBS sends (it gathers only after the answer and never trickles). */
export function withoutCandidates(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
    .join('\r\n');
}

/**
 * Publishes the known H264 clip (25 fps, looped) and an Opus tone (20 ms packets) in real time for
 * `seconds`: video frame i and audio packet 2i are made for the same instant.
 */
export async function whipPublish(
  endpoint: string,
  options: {
    seconds: number;
    likeObs?: boolean;
    token?: string;
    /** Audio starts this late, its backlog then sent at once: the receiver's arrival-based first guess is that far off, and only the sender reports can put it right. */
    audioStartLagMs?: number;
  },
): Promise<WhipPublisher> {
  const pc = new RTCPeerConnection({
    iceServers: [],
    iceUseIpv6: false,
    bundlePolicy: 'max-bundle',
    iceAdditionalHostAddresses: ['127.0.0.1'],
    codecs: { video: [useH264()], audio: [useOPUS()] },
  });
  const video = new MediaStreamTrack({ kind: 'video', codec: useH264() });
  const audio = new MediaStreamTrack({ kind: 'audio', codec: useOPUS() });
  pc.addTransceiver(video, { direction: 'sendonly' });
  pc.addTransceiver(audio, { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  const offer = options.likeObs ? withoutCandidates(pc.localDescription!.sdp) : pc.localDescription!.sdp;
  const headers: { [k: string]: string } = { 'Content-Type': 'application/sdp' };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  const res = await fetch(endpoint, { method: 'POST', headers, body: offer });
  const body = await res.text();
  const location = res.headers.get('location') ? new URL(res.headers.get('location')!, endpoint).href : '';
  const sent: KnownAu[] = [];
  let stopped = false;
  const publisher: WhipPublisher = {
    pc,
    status: res.status,
    location,
    etag: res.headers.get('etag'),
    answer: body,
    sent,
    audioSent: [],
    done: Promise.resolve(),
    stop: async () => {
      stopped = true;
      const r = await fetch(location, { method: 'DELETE' });
      await pc.close();
      return r.status;
    },
    kill: async () => {
      stopped = true;
      await pc.close();
    },
    pause: () => {
      stopped = true;
    },
  };
  if (res.status !== 201) {
    await pc.close();
    return publisher;
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('WHIP publisher did not connect in 10 s')), 10000);
    if (pc.connectionState === 'connected') return resolve();
    pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const { aus, sps, pps } = knownVideo();
  const encoder = new OpusScript(48000, 1, OpusScript.Application.AUDIO);
  publisher.done = (async () => {
    const t0 = performance.now();
    let vSeq = 1000;
    let aSeq = 2000;
    let audioIndex = 0;
    let phase = 0;
    const pcm = Buffer.alloc(960 * 2);
    // A tone whose pitch changes every packet, so that every Opus packet is different and a reader's
    // packet can be matched to the instant it was made for.
    for (let i = 0; !stopped && i * 40 < options.seconds * 1000; i++) {
      const ms = i * 40;
      while (audioIndex * 20 <= ms && ms >= (options.audioStartLagMs ?? 0)) {
        const hz = 500 + ((audioIndex * 7) % 1000);
        for (let s = 0; s < 960; s++) {
          phase += (2 * Math.PI * hz) / 48000;
          pcm.writeInt16LE(Math.round(Math.sin(phase) * 8000), s * 2);
        }
        const opus = Buffer.from(encoder.encode(pcm, 960));
        audio.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 111, sequenceNumber: aSeq++ & 0xffff, timestamp: (audioIndex * 960) >>> 0 }), opus));
        audioIndex++;
        publisher.audioSent.push(opus);
      }
      const au = aus[i % aus.length]!;
      // Like OBS (repeat_headers): SPS and PPS in front of every keyframe.
      const nals = au.keyframe ? [sps, pps, ...au.nals.filter((n) => ![7, 8].includes(n[0]! & 0x1f))] : au.nals;
      for (const p of packetizeH264(nals)) {
        video.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: vSeq++ & 0xffff, timestamp: (i * 3600) >>> 0, marker: p.marker }), p.payload));
      }
      sent.push({ nals, keyframe: au.keyframe });
      const wait = t0 + ms + 40 - performance.now();
      if (wait > 0) await sleep(wait);
    }
    encoder.delete();
  })();
  return publisher;
}
