/**
 * N werift WHEP viewers in their own process (for bench/whep-fanout.ts). Every second prints
 * { connected, packets, failed } as JSON. Usage: tsx bench/whep-viewers.ts ENDPOINT N [udp|tcp]
 *
 * werift's SRTP makes a cipher object per packet: 200 viewers decrypting everything need more than
 * the one core this process has, and a saturated viewer process loses packets and answers with NACKs
 * that the gateway then serves, which is not what is measured. So each viewer authenticates and
 * decrypts one RTP packet in BENCH_WHEP_DECRYPT_EVERY (16; 1 = every one), and every one near the
 * sequence-number wrap (werift needs them to follow the rollover), and passes the others on
 * as they came (the header is in the clear: werift counts them and still sends NACKs for gaps).
 * `failed` counts packets that did not authenticate; it must stay 0.
 */
import { RTCPeerConnection, useH264, useOPUS } from 'werift';

const [endpoint, nArg, transport] = process.argv.slice(2);
const n = Number(nArg);
let packets = 0;
let connected = 0;
let failed = 0;
const DECRYPT_EVERY = Math.max(1, Number(process.env.BENCH_WHEP_DECRYPT_EVERY ?? 16));

/** Lets `pc` decrypt one RTP packet in DECRYPT_EVERY (see above); werift's internals, bench only. */
function decryptSome(pc: RTCPeerConnection): void {
  const srtp = (pc as unknown as { dtlsTransports: { srtp?: { decrypt(packet: Buffer): Buffer } }[] }).dtlsTransports[0]?.srtp;
  if (!srtp || DECRYPT_EVERY === 1) return;
  const decrypt = srtp.decrypt.bind(srtp);
  let i = 0;
  srtp.decrypt = (packet) => {
    // Every packet near the sequence wrap is decrypted too: werift notices a rollover only from two
    // packets within 100 of it (a larger gap would leave it a rollover behind, failing the rest).
    const seq = packet.readUInt16BE(2);
    if (i++ % DECRYPT_EVERY !== 0 && seq < 65_436 && seq >= 100) return packet.subarray(0, packet.length - 10);
    try {
      return decrypt(packet);
    } catch (err) {
      failed++;
      throw err;
    }
  };
}

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
    if (s === 'connected') {
      connected++;
      decryptSome(pc);
    }
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
setInterval(() => process.stdout.write(JSON.stringify({ connected, packets, failed }) + '\n'), 1000);
