/**
 * N werift WHEP viewers in their own process (for bench/whep-fanout.ts). Every second prints
 * { connected, packets } as JSON. Usage: tsx bench/whep-viewers.ts ENDPOINT N
 */
import { RTCPeerConnection, useH264, useOPUS } from 'werift';

const [endpoint, nArg] = process.argv.slice(2);
const n = Number(nArg);
let packets = 0;
let connected = 0;

async function view(): Promise<void> {
  const pc = new RTCPeerConnection({
    iceServers: [],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    bundlePolicy: 'max-bundle',
    codecs: { video: [useH264()], audio: [useOPUS()] },
  });
  for (const kind of ['video', 'audio'] as const) {
    pc.addTransceiver(kind, { direction: 'recvonly' }).onTrack.subscribe((t) => t.onReceiveRtp.subscribe(() => packets++));
  }
  pc.connectionStateChange.subscribe((s) => {
    if (s === 'connected') connected++;
  });
  await pc.setLocalDescription(await pc.createOffer());
  const res = await fetch(endpoint!, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
  if (res.status !== 201) throw new Error(`WHEP ${res.status}`);
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
}

for (let i = 0; i < n; i++) await view();
setInterval(() => process.stdout.write(JSON.stringify({ connected, packets }) + '\n'), 1000);
