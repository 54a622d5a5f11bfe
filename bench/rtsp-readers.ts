/**
 * A separate process holding N players of one stream: RTSP over TCP (raw client: DESCRIBE, SETUP
 * of every track interleaved, PLAY) or RTMP (livegate's RTMP client). It reads and discards; every
 * second it reports (stdout, JSON) how many play and the bytes they received.
 * Usage: tsx bench/rtsp-readers.ts rtsp|rtmp URL N
 */
import { connect } from 'node:net';
import { RtmpClient } from '../gateway/src/protocols/rtmp/client.js';

const [kind, url, nArg] = process.argv.slice(2);
const n = Number(nArg);
if ((kind !== 'rtsp' && kind !== 'rtmp') || !url || !Number.isInteger(n)) throw new Error('usage: rtsp-readers.ts rtsp|rtmp URL N');
let bytes = 0;
let playing = 0;
let failed = 0;

function rtspPlayer(): void {
  const u = new URL(url!);
  const socket = connect(Number(u.port), u.hostname);
  let cseq = 0;
  let text = '';
  let session = '';
  let controls: string[] = [];
  let step = 0;
  let streaming = false;
  const send = (line: string, extra: string[] = []) => socket.write([line, `CSeq: ${++cseq}`, ...(session ? [`Session: ${session}`] : []), ...extra, '', ''].join('\r\n'));
  socket.on('data', (d: Buffer) => {
    if (streaming) {
      bytes += d.length;
      return;
    }
    text += d.toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) return;
    const len = Number(/Content-Length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
    if (text.length < end + 4 + len) return;
    const head = text.slice(0, end);
    const body = text.slice(end + 4, end + 4 + len);
    text = text.slice(end + 4 + len);
    if (!/^RTSP\/1\.0 200/.test(head)) {
      failed++;
      socket.destroy();
      return;
    }
    if (step === 0) controls = [...body.matchAll(/a=control:(trackID=\d+)/g)].map((m) => m[1]!);
    const s = /Session: ([^;\r\n]+)/.exec(head)?.[1];
    if (s) session = s;
    if (step < controls.length) {
      send(`SETUP ${url}/${controls[step]} RTSP/1.0`, [`Transport: RTP/AVP/TCP;unicast;interleaved=${step * 2}-${step * 2 + 1}`]);
      step++;
    } else if (step === controls.length) {
      send(`PLAY ${url} RTSP/1.0`);
      step++;
    } else {
      streaming = true;
      playing++;
      bytes += Buffer.byteLength(text, 'latin1');
    }
  });
  socket.on('error', () => {});
  socket.on('close', () => streaming && playing--);
  send(`DESCRIBE ${url} RTSP/1.0`);
}

async function rtmpPlayer(): Promise<void> {
  const client = new RtmpClient();
  client.on('media', (m) => (bytes += m.payload.length));
  client.on('close', () => playing--);
  try {
    await client.connect(url!);
    await client.play();
    playing++;
  } catch {
    failed++;
  }
}

for (let i = 0; i < n; i++) {
  if (kind === 'rtsp') rtspPlayer();
  else void rtmpPlayer();
  if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20));
}
setInterval(() => process.stdout.write(JSON.stringify({ connected: playing, failed, bytes }) + '\n'), 1000);
