/** A werift WHEP viewer for tests (run inside a loopback-only namespace: see netns.ts). */
import { RTCPeerConnection, RTCRtpCodecParameters, useH264, useOPUS, type RtpPacket } from 'werift';

export interface WhepViewer {
  pc: RTCPeerConnection;
  location: string;
  /** The 201's Link headers (ICE servers). */
  links: string[];
  etag: string | null;
  video: RtpPacket[];
  /** performance.now() at the arrival of each packet in `video`. */
  videoAt: number[];
  audio: RtpPacket[];
  /** DELETE the session (graceful), then close the peer connection. */
  stop(): Promise<number>;
  /** Vanish without DELETE (as a killed browser tab would). */
  kill(): Promise<void>;
}

/**
 * `withG711`: the offer has PCMU and PCMA after Opus, as a browser's does (a G.711 stream's audio then
 * comes as PCMU/PCMA).
 */
export async function whepView(endpoint: string, options: { keepPackets?: boolean; inboundLossPercent?: number; withG711?: boolean } = {}): Promise<WhepViewer> {
  const keep = options.keepPackets ?? true;
  const pc = new RTCPeerConnection({
    iceServers: [],
    iceUseIpv6: false,
    // One transport for both m-lines (with werift's default max-compat, the offerer opens a socket per
    // m-line and never closes the unused one).
    bundlePolicy: 'max-bundle',
    // The namespace has only loopback, which werift leaves out of its host candidates.
    iceAdditionalHostAddresses: ['127.0.0.1'],
    codecs: {
      video: [useH264()],
      audio: [
        useOPUS(),
        ...(options.withG711
          ? [new RTCRtpCodecParameters({ mimeType: 'audio/PCMU', clockRate: 8000, channels: 1, payloadType: 0 }), new RTCRtpCodecParameters({ mimeType: 'audio/PCMA', clockRate: 8000, channels: 1, payloadType: 8 })]
          : []),
      ],
    },
    // werift 0.25 drops an inbound packet when loss/100 < random(), i.e. it keeps `loss` percent:
    // to lose 5 %, pass 95.
    ...(options.inboundLossPercent ? { debug: { inboundPacketLoss: 100 - options.inboundLossPercent } } : {}),
  });
  const video: RtpPacket[] = [];
  const videoAt: number[] = [];
  const audio: RtpPacket[] = [];
  pc.addTransceiver('video', { direction: 'recvonly' }).onTrack.subscribe((track) => {
    track.onReceiveRtp.subscribe((rtp) => {
      if (keep || video.length < 1) {
        video.push(rtp);
        videoAt.push(performance.now());
      } else video[0] = rtp;
    });
  });
  pc.addTransceiver('audio', { direction: 'recvonly' }).onTrack.subscribe((track) => {
    track.onReceiveRtp.subscribe((rtp) => {
      if (keep || audio.length < 1) audio.push(rtp);
      else audio[0] = rtp;
    });
  });
  await pc.setLocalDescription(await pc.createOffer());
  const res = await fetch(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
  if (res.status !== 201) throw new Error(`WHEP POST ${res.status}: ${await res.text()}`);
  const location = new URL(res.headers.get('location')!, endpoint).href;
  const links = (res.headers.get('link') ?? '').split(/,\s*(?=<)/).filter(Boolean);
  const etag = res.headers.get('etag');
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  return {
    pc,
    location,
    links,
    etag,
    video,
    videoAt,
    audio,
    stop: async () => {
      const r = await fetch(location, { method: 'DELETE' });
      await closeWithin(pc);
      return r.status;
    },
    kill: () => closeWithin(pc),
  };
}

/**
 * werift's close, bounded: the viewer's own teardown (DTLS, its sockets) is not what the tests
 * check, and a close that never settles must not hold a test past its limit.
 */
async function closeWithin(pc: RTCPeerConnection, ms = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([pc.close(), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
