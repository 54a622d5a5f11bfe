import { randomBytes } from 'node:crypto';
import { SrtpSender } from '../gateway/src/format/srtp.js';
import { SrtpSession } from 'werift';
const s = new SrtpSender(randomBytes(16), randomBytes(14));
const h = Buffer.alloc(20); h[0]=0x90; h[1]=96; h.writeUInt32BE(1234,8);
const p = randomBytes(1200);
for (const [name, fn] of [['livegate', (i: number) => { h.writeUInt16BE(i & 0xffff, 2); s.protect(h, p); }]] as const) {
  for (let i = 0; i < 20000; i++) fn(i);
  const t = performance.now(); const N = 200000;
  for (let i = 0; i < N; i++) fn(i);
  console.log(name, ((performance.now() - t) * 1000 / N).toFixed(2), 'µs/packet');
}
const w = new SrtpSession({ keys: { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(14), remoteMasterKey: randomBytes(16), remoteMasterSalt: randomBytes(14) }, profile: 1 });
const { RtpHeader } = await import('werift');
const t = performance.now(); const N = 100000;
for (let i = 0; i < N; i++) w.encrypt(p, new RtpHeader({ sequenceNumber: i & 0xffff, ssrc: 1234, payloadType: 96 }));
console.log('werift CM', ((performance.now() - t) * 1000 / N).toFixed(2), 'µs/packet');
