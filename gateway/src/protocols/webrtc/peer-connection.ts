/**
 * The werift peer connection every livegate WebRTC session (WHIP publisher, WHEP viewer) uses:
 * ICE-lite, IPv4, one bundled transport, and nothing that reaches out to the internet. With a
 * WebrtcNetwork its ICE runs on the gateway's shared UDP/TCP ports; without one (`portRange`) werift
 * opens a socket per session.
 */
import type { IceServerConfig } from '../../nat/ice-servers.js';
import type { IceMux } from './transport/ice-mux.js';
import { useIceMux, type AnnouncedAddress } from './transport/werift-ice.js';
import { RTCPeerConnection, useSdesMid, useTransportWideCC, type RTCRtpCodecParameters } from './werift.js';

/** The shared media ports and what candidates announce on them. */
export interface WebrtcNetwork {
  mux: IceMux;
  announce(): AnnouncedAddress[];
}

export interface WebrtcOptions {
  portRange?: [number, number];
  interface?: string;
  additionalHosts: string[];
  iceServers: IceServerConfig[];
  sessionTimeoutMs: number;
  /** A session whose ICE has not completed this long after its answer is closed (ms). */
  iceTimeoutMs: number;
  /** How long a viewer waits for a new publisher when its stream ends (0: end at once). */
  republishGraceMs: number;
  /** A WHIP publisher that sends no RTP for this long is gone (ms). */
  publisherMediaTimeoutMs: number;
  /** After a gap in a WHIP publisher's packets, later packets wait this long for the missing one (ms). */
  jitterBufferMs: number;
  /** WHEP packets by livegate's SRTP send path on the shared ports (false: werift's, for comparison). */
  fastRtp?: boolean;
}

export function createPeerConnection(
  webrtc: WebrtcOptions,
  codecs: { video: RTCRtpCodecParameters[]; audio: RTCRtpCodecParameters[] },
  options: { transportCc?: boolean; dtlsServer?: boolean } = {},
  network: WebrtcNetwork | null = null,
): RTCPeerConnection {
  const pc = new RTCPeerConnection({
    // ICE-lite: livegate answers and never gathers server-reflexive candidates, so it never sends
    // a STUN request anywhere (werift would otherwise ask a public STUN server).
    iceLite: true,
    iceServers: [],
    iceUseIpv6: false,
    icePortRange: webrtc.portRange,
    iceAdditionalHostAddresses: webrtc.additionalHosts.length > 0 ? webrtc.additionalHosts : undefined,
    iceInterfaceAddresses: webrtc.interface ? { udp4: webrtc.interface } : undefined,
    bundlePolicy: 'max-bundle',
    codecs,
    // Transport-wide congestion control feedback (for a publisher): without it a browser's bandwidth
    // estimate only grows by probing for loss, and its picture stays small and soft for a long time.
    headerExtensions: options.transportCc
      ? { video: [useSdesMid(), useTransportWideCC()], audio: [useSdesMid(), useTransportWideCC()] }
      : { video: [useSdesMid()], audio: [useSdesMid()] },
  });
  if (network) useIceMux(pc, network.mux, () => network.announce(), { dtlsServer: options.dtlsServer ?? false });
  return pc;
}
