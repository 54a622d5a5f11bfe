/**
 * N werift WHEP viewers in their own process (for bench/whep-fanout.ts). Every second prints
 * { connected, packets } as JSON. Usage: tsx bench/whep-viewers.ts ENDPOINT N [udp|tcp]
 */
import { RTCPeerConnection, useH264, useOPUS } from 'werift';

const [endpoint, nArg, transport] = process.argv.slice(2);
const n = Number(nArg);
let packets = 0;
let connected = 0;

const sessions: string[] = [];
const pcs: RTCPeerConnection[] = [];

async function view(): Promise<void> {
  const pc = new RTCPeerConnection({
    iceServers: [],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    // ICE-TCP (active) when the bench drops UDP to the gateway's media port.
    ...(transport === 'tcp' ? { iceUseTcp: true } : {}),
    bundlePolicy: 'max-bundle',
    codecs: { video: [useH264()], audio: [useOPUS()] },
  });
  for (const kind of ['video', 'audio'] as const) {
    pc.addTransceiver(kind, { direction: 'recvonly' }).onTrack.subscribe((t) => t.onReceiveRtp.subscribe(() => packets++));
  }
  pc.connectionStateChange.subscribe((s) => {
    if (s === 'connected') connected++;
  });
  pcs.push(pc);
  await pc.setLocalDescription(await pc.createOffer());
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(endpoint!, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
      if (res.status !== 201) throw new Error(`WHEP ${res.status}`);
      sessions.push(new URL(res.headers.get('location')!, endpoint).href);
      await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
      return;
    } catch (err) {
      // A kept-alive connection the server just closed: try again on a new one.
      if (attempt >= 3) throw err;
    }
  }
}

// SIGTERM: leave properly (DELETE every session) so the next run starts from a clean server.
process.on('SIGTERM', () => {
  void Promise.allSettled(sessions.map((s) => fetch(s, { method: 'DELETE' })))
    .then(() => Promise.allSettled(pcs.map((pc) => pc.close())))
    .then(() => process.exit(0));
});

for (let i = 0; i < n; i++) await view();
setInterval(() => process.stdout.write(JSON.stringify({ connected, packets }) + '\n'), 1000);
