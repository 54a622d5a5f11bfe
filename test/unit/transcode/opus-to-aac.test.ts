/**
 * Opus → AAC through the real worker (tsx loads it here, as in development): libopus-encoded tones
 * go in as 90 kHz-stamped packets, the AAC that comes out is decoded again (FAAD2) and checked for
 * the tone, the 1024-sample clock, the alignment with the decoded Opus (encoder priming accounted
 * for), gap handling, corrupt input, and the worker's life cycle.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { decoder as aacDecoder } from '@audio/decode-aac';
import { parseAudioSpecificConfig } from '../../../gateway/src/codec/aac.js';
import { OpusToAac, type AacUnit } from '../../../gateway/src/transcode/opus-to-aac.js';
import { AacWorkerHost } from '../../../gateway/src/transcode/opus-to-aac-host.js';
import { decodeOpus, encodeOpus, OpusEncoder, onsetIndex, packOpusFrames, pcm16, rmsDb, tone, toneShare, zeroCrossingHz, type OpusPacket } from '../../helpers/audio.js';
import { sleep, waitFor } from '../../helpers/wait.js';

/** The stream's clock does not start at 0. */
const BASE = 90_000 * 10;
const FRAME_TICKS = 1920;

interface Result {
  asc: Buffer;
  units: AacUnit[];
  transcoder: OpusToAac;
  errors: Error[];
}

/** Runs packets through a fresh transcoder and collects everything it makes. */
async function transcode(packets: readonly OpusPacket[], channels: 1 | 2, bitrate = 128_000): Promise<Result> {
  const units: AacUnit[] = [];
  const errors: Error[] = [];
  let asc: Buffer | null = null;
  const transcoder = OpusToAac.create({ channels, bitrate, onConfig: (a) => (asc = a), onUnits: (u) => units.push(...u), onError: (e) => errors.push(e) });
  for (const p of packets) transcoder.push(p.data, p.pts);
  await waitFor(() => transcoder.stats?.consumed === packets.length || errors.length > 0, 30_000, 'every packet through the worker');
  // The encoder answers asynchronously: wait until its output settles.
  let seen = -1;
  while (seen !== units.length) {
    seen = units.length;
    await sleep(150);
  }
  transcoder.close();
  assert.deepEqual(errors, []);
  assert.ok(asc, 'AudioSpecificConfig received');
  return { asc, units, transcoder, errors };
}

interface Placed {
  /** Channel 0, decoded. */
  pcm: Float32Array;
  /** pts (90 kHz) of pcm[0]. */
  startPts: number;
}

/** Decodes AAC units (FAAD2 gives each packet's own samples, from the second packet on) in one run. */
async function decodeAac(asc: Buffer, units: readonly AacUnit[]): Promise<{ parts: { pts: number; pcm: Float32Array }[]; rate: number; channels: number }> {
  const faad = (await aacDecoder({ asc: new Uint8Array(asc) })) as { decode(d: Uint8Array): { channelData: Float32Array[] }; free(): void };
  const parts = units.map((u) => ({ pts: u.pts, pcm: faad.decode(new Uint8Array(u.data)).channelData[0] ?? new Float32Array(0) }));
  faad.free();
  const info = parseAudioSpecificConfig(asc);
  return { parts: parts.filter((p) => p.pcm.length > 0), rate: info.sampleRate, channels: info.channels };
}

/** Joins decoded parts that are contiguous (checked) into one run. */
function join(parts: { pts: number; pcm: Float32Array }[]): Placed {
  for (let i = 1; i < parts.length; i++) assert.equal(parts[i]!.pts - parts[i - 1]!.pts, FRAME_TICKS, `AAC frame ${i} follows on`);
  const pcm = new Float32Array(parts.reduce((n, p) => n + p.pcm.length, 0));
  let at = 0;
  for (const p of parts) {
    pcm.set(p.pcm, at);
    at += p.pcm.length;
  }
  return { pcm, startPts: parts[0]!.pts };
}

/** Time (ms, on the 90 kHz clock) of the first sample at or above `threshold`. */
function onsetMs(p: Placed, threshold: number, fromPts = -Infinity): number {
  const from = Math.max(0, Math.ceil(((fromPts - p.startPts) * 48) / 90));
  const i = onsetIndex(p.pcm.subarray(from), threshold);
  assert.ok(i >= 0, 'onset found');
  return (p.startPts + ((from + i) * 90) / 48) / 90;
}

function steps(units: readonly AacUnit[]): number[] {
  return units.slice(1).map((u, i) => u.pts - units[i]!.pts);
}

describe('OpusToAac', { concurrency: false }, () => {
  test('a 1 kHz sine comes out as a 1 kHz sine, level kept, in contiguous 1024-sample AAC frames', async (t) => {
    const seconds = 2;
    const pcm = pcm16(48000 * seconds, 2, tone(1000, 0.4));
    const packets = encodeOpus(pcm, 2, BASE);
    const { asc, units, transcoder } = await transcode(packets, 2);
    const info = parseAudioSpecificConfig(asc);
    assert.equal(info.objectType, 2, 'AAC-LC');
    assert.equal(info.sampleRate, 48000);
    assert.equal(info.channels, 2);
    assert.ok(units.length >= (48000 * seconds) / 1024 - 3, `${units.length} AAC frames for ${seconds} s`);
    assert.deepEqual([...new Set(steps(units))], [FRAME_TICKS], 'every frame 1024 samples after the previous');
    assert.equal(units[0]!.pts, BASE - FRAME_TICKS, 'the priming frame sits one frame before the first input');
    assert.equal(transcoder.framesIn, packets.length);
    assert.equal(transcoder.framesOut, units.length);
    assert.equal(transcoder.framesDropped, 0);
    const { parts } = await decodeAac(asc, units);
    const out = join(parts).pcm.subarray(4800, -2048);
    const ref = decodeOpus(packets, 2).subarray(4800);
    const share = toneShare(out, 48000, 1000);
    const hz = zeroCrossingHz(out, 48000);
    const diff = rmsDb(out) - rmsDb(ref);
    assert.ok(share > 0.99, `1 kHz holds ${(share * 100).toFixed(2)} % of the power`);
    assert.ok(Math.abs(hz - 1000) < 1, `zero crossings say ${hz.toFixed(2)} Hz`);
    assert.ok(Math.abs(diff) < 0.5, `level differs from the decoded Opus by ${diff.toFixed(2)} dB`);
    const s = transcoder.stats!;
    assert.equal(s.corruptPackets, 0);
    assert.equal(s.concealedSamples, 0);
    t.diagnostic(`${units.length} frames, 1 kHz share ${(share * 100).toFixed(2)} %, ${hz.toFixed(2)} Hz, level ${diff.toFixed(2)} dB, decode ${s.decodeMs.toFixed(1)} ms, encoder CPU ${transcoder.encoderCpuMs?.toFixed(1)} ms`);
  });

  test('a silence → tone onset lines up with the decoded Opus within ±2 ms (encoder priming accounted for)', async (t) => {
    // Onsets at several offsets within an AAC frame and an Opus frame.
    for (const onset of [48000 * 0.5 + 123, 48000 * 0.75 + 700]) {
      const pcm = pcm16(48000 * 1.5, 1, tone(1000, 0.5, onset));
      const packets = encodeOpus(pcm, 1, BASE, 960, 64_000);
      const { asc, units } = await transcode(packets, 1, 64_000);
      const aac = join((await decodeAac(asc, units)).parts);
      const opus = { pcm: decodeOpus(packets, 1), startPts: BASE };
      const a = onsetMs(aac, 0.25);
      const o = onsetMs(opus, 0.25);
      assert.ok(Math.abs(a - o) <= 2, `AAC onset at ${(a - BASE / 90).toFixed(2)} ms, Opus at ${(o - BASE / 90).toFixed(2)} ms`);
      t.diagnostic(`onset at input ${(onset / 48).toFixed(2)} ms: Opus ${(o - BASE / 90).toFixed(2)} ms, AAC ${(a - BASE / 90).toFixed(2)} ms (Δ ${(a - o).toFixed(2)} ms)`);
    }
  });

  test('a 200 ms gap is concealed: the AAC clock runs on and the audio after it stays in place', async () => {
    const onset = 48000 * 1.0 + 300;
    const all = encodeOpus(pcm16(48000 * 1.6, 1, tone(1000, 0.5, onset)), 1, BASE);
    // 10 packets (0.4 s … 0.6 s) lost.
    const packets = all.filter((_, i) => i < 20 || i >= 30);
    const { asc, units, transcoder } = await transcode(packets, 1);
    assert.deepEqual([...new Set(steps(units))], [FRAME_TICKS], 'no jump in the AAC clock');
    assert.equal(transcoder.stats!.concealedSamples, 9600, '200 ms concealed');
    assert.equal(transcoder.stats!.restarts, 0);
    assert.ok(units.length >= (48000 * 1.6) / 1024 - 3, 'the gap is filled with frames');
    const aac = join((await decodeAac(asc, units)).parts);
    const o = onsetMs({ pcm: decodeOpus(all, 1), startPts: BASE }, 0.25);
    const a = onsetMs(aac, 0.25);
    assert.ok(Math.abs(a - o) <= 2, `after the gap: AAC onset ${(a - o).toFixed(2)} ms from the Opus onset`);
  });

  test('a 3 s gap and a step back restart the AAC clock at the new input time', async () => {
    const onset = 48000 * 1.3 + 50;
    const all = encodeOpus(pcm16(48000 * 2, 1, tone(1000, 0.5, onset)), 1, BASE);
    const JUMP = 3 * 90_000;
    // From 1 s on, the publisher's clock is 3 s ahead; from 1.8 s on, 10 s behind that.
    const packets = all.map((p, i) => ({ ...p, pts: p.pts + (i >= 50 ? JUMP : 0) + (i >= 90 ? -10 * 90_000 : 0) }));
    const { asc, units, transcoder } = await transcode(packets, 1);
    assert.equal(transcoder.stats!.restarts, 2);
    const s = steps(units);
    const jumps = s.map((d, i) => [i, d] as const).filter(([, d]) => d !== FRAME_TICKS);
    assert.equal(jumps.length, 2, `two jumps in the AAC clock: ${JSON.stringify(jumps)}`);
    const [forward, back] = jumps;
    // The old segment is padded to a whole frame first: the jump is the input's, plus under one frame.
    assert.ok(forward![1] >= JUMP && forward![1] < JUMP + 2 * FRAME_TICKS, `forward jump ${forward![1] / 90} ms`);
    assert.ok(back![1] < -9 * 90_000, `backward jump ${back![1] / 90} ms`);
    // The tone after the forward jump sits where the input put it (its time + 3 s).
    const { parts } = await decodeAac(asc, units);
    const middle = join(parts.filter((p) => p.pts >= BASE + JUMP + 50 * 1800 && p.pts < BASE + JUMP + 88 * 1800));
    const o = onsetMs({ pcm: decodeOpus(all, 1), startPts: BASE }, 0.25) + JUMP / 90;
    const a = onsetMs(middle, 0.25);
    assert.ok(Math.abs(a - o) <= 2, `after the jump: AAC onset ${(a - o).toFixed(2)} ms from the Opus onset`);
    // After the step back, the AAC clock follows the input's new time.
    const last = units[units.length - 1]!.pts;
    const lastIn = packets[packets.length - 1]!.pts;
    assert.ok(Math.abs(last - lastIn) < 4 * FRAME_TICKS, `last AAC frame at ${(last - lastIn) / 90} ms from the last input`);
  });

  test('corrupt packets cost only their own time, never an exception', async () => {
    const all = encodeOpus(pcm16(48000 * 2, 2, tone(1000, 0.4)), 2, BASE);
    const bad: Record<number, Buffer> = {
      20: Buffer.from([0x03]), // code 3 without its frame count byte
      35: Buffer.alloc(0),
      50: Buffer.concat([Buffer.from([all[50]!.data[0]! & 0xfc]), Buffer.alloc(5000, 0x55)]), // a 5000-byte frame (limit 1275)
      65: Buffer.from([0x02, 0xff, 0xff]), // code 2 whose first length runs past the end
      80: Buffer.from([0xfb, 0x3f]),
    };
    const packets = all.map((p, i) => (bad[i] ? { ...p, data: bad[i]! } : p));
    const { asc, units, transcoder } = await transcode(packets, 2);
    assert.equal(transcoder.stats!.corruptPackets, Object.keys(bad).length);
    assert.deepEqual([...new Set(steps(units))], [FRAME_TICKS], 'the clock runs on through them');
    assert.ok(units.length >= (48000 * 2) / 1024 - 3, `${units.length} frames: nothing lost beyond the bad packets`);
    const placed = join((await decodeAac(asc, units)).parts);
    // Away from the bad packets (± 60 ms), the tone is intact.
    const badTimes = Object.keys(bad).map((i) => BASE + Number(i) * 1800);
    const good: number[] = [];
    for (let i = 4800; i < placed.pcm.length - 2048; i++) {
      const pts = placed.startPts + (i * 90) / 48;
      if (badTimes.every((b) => Math.abs(pts - b) > 90 * 60)) good.push(placed.pcm[i]!);
    }
    const share = toneShare(Float32Array.from(good.slice(0, 48000)), 48000, 1000);
    assert.ok(share > 0.95, `1 kHz holds ${(share * 100).toFixed(1)} % away from the bad packets`);
  });

  test('packets of 10, 40, 60 and 120 ms keep their durations', async () => {
    const pcm = pcm16(48000 * 2, 1, tone(1000, 0.4));
    // One encoder throughout, so that the decoded Opus is one continuous tone.
    const enc = new OpusEncoder(1);
    let at = 0;
    const next = (frame: number, count: number): OpusPacket[] => {
      const p = enc.encode(pcm.subarray(at, at + frame * count), BASE + (at * 90) / 48, frame);
      at += frame * count;
      return p;
    };
    const ten = next(480, 40);
    const forty = next(1920, 10);
    const sixty = next(2880, 6);
    // The next 120 ms as one packet of six 20 ms frames (RFC 6716 §3.2.5): as long as Opus packets get.
    const codePts = BASE + (at * 90) / 48;
    const six = next(960, 6);
    const code3 = packOpusFrames(six.map((p) => p.data));
    const after = next(960, 20);
    enc.close();
    const packets = [...ten, ...forty, ...sixty, { data: code3, pts: codePts, samples: 5760 }, ...after];
    const { asc, units, transcoder } = await transcode(packets, 1);
    assert.equal(transcoder.stats!.corruptPackets, 0);
    assert.equal(transcoder.stats!.concealedSamples, 0, 'no gap seen: every packet lasted what its TOC said');
    assert.equal(transcoder.stats!.restarts, 0);
    assert.deepEqual([...new Set(steps(units))], [FRAME_TICKS]);
    const out = join((await decodeAac(asc, units)).parts).pcm.subarray(4800, -2048);
    assert.ok(toneShare(out, 48000, 1000) > 0.99, `1 kHz share ${toneShare(out, 48000, 1000)}`);
  });

  test('input the worker is too far behind on is dropped, logged once, and the clock starts afresh after it', async (tc) => {
    const packets = encodeOpus(pcm16(48000 * 10, 1, tone(1000, 0.4)), 1, BASE);
    const units: AacUnit[] = [];
    const warnings: string[] = [];
    const errors: Error[] = [];
    // A 30 ms bound instead of 2 s: a burst of 7.5 s of audio at once is more than the worker does in that.
    const t = OpusToAac.create({ channels: 1, bitrate: 64_000, maxLagMs: 30, onConfig: () => {}, onUnits: (u) => units.push(...u), onError: (e) => errors.push(e), onWarning: (m) => warnings.push(m) });
    for (const p of packets.slice(0, 25)) t.push(p.data, p.pts);
    await waitFor(() => t.stats?.consumed === 25, 20_000, 'the encoder runs');
    for (const p of packets.slice(25, 400)) t.push(p.data, p.pts);
    // While the worker works through that, more arrives every 5 ms: dropped once it waited 30 ms.
    let next = 400;
    while (t.framesDropped === 0 && next < 450) {
      await sleep(5);
      t.push(packets[next]!.data, packets[next++]!.pts);
    }
    // Once it has caught up, input is taken again.
    await waitFor(() => t.backlog.packets === 0, 20_000, 'the worker caught up');
    for (const p of packets.slice(next)) t.push(p.data, p.pts);
    await waitFor(() => t.stats!.consumed === packets.length - t.framesDropped, 20_000, 'what was kept is through');
    await sleep(300);
    t.close();
    assert.deepEqual(errors, []);
    assert.ok(t.framesDropped > 0, 'some input dropped');
    assert.ok(t.framesDropped < 50, `${t.framesDropped} dropped: only what came while it was behind`);
    assert.deepEqual(warnings, ['Opus → AAC worker behind, input dropped'], 'one warning per episode');
    assert.equal(t.stats!.concealedSamples, 0, 'the dropped time is not concealed (that would only add work)');
    assert.ok(t.stats!.restarts >= 1, 'the clock starts afresh after the drop');
    assert.ok(units.every((u, i) => i === 0 || u.pts > units[i - 1]!.pts), 'AAC pts still increase');
    tc.diagnostic(`${t.framesDropped} of ${packets.length} packets dropped, ${t.stats!.restarts} clock restarts`);
  });

  test('one worker serves every transcoder; a crash fails them all and the next one starts a fresh worker', async () => {
    const packets = encodeOpus(pcm16(48000, 1, tone(1000, 0.4)), 1, BASE);
    const made: number[] = [0, 0];
    const errors: Error[][] = [[], []];
    const ts = [0, 1].map((k) =>
      OpusToAac.create({ channels: 1, bitrate: 64_000, onConfig: () => {}, onUnits: (u) => (made[k]! += u.length), onError: (e) => errors[k]!.push(e) }),
    );
    const host = AacWorkerHost.current!;
    assert.equal(host.transcoderCount, 2, 'both on one worker');
    for (const p of packets) for (const t of ts) t.push(p.data, p.pts);
    await waitFor(() => made[0]! > 40 && made[1]! > 40, 30_000, 'both transcoders produce');
    host.crashForTests();
    assert.equal(errors[0]!.length, 1);
    assert.equal(errors[1]!.length, 1);
    assert.equal(OpusToAac.workerRunning, false);
    ts[0]!.push(packets[0]!.data, packets[0]!.pts); // a push after the failure is ignored
    const { units } = await transcode(packets.slice(0, 20), 1);
    assert.ok(units.length > 10, 'a new transcoder works on a new worker');
    assert.equal(OpusToAac.workerRunning, false, 'and its close ended that worker');
  });

  test('close() frees the worker: a process that used it exits on its own', async () => {
    const module = new URL('../../../gateway/src/transcode/opus-to-aac.ts', import.meta.url).href;
    const native = new URL('../../../gateway/src/transcode/opus-native.ts', import.meta.url).href;
    const script = `
      import { OpusToAac } from ${JSON.stringify(module)};
      import { OpusEncoder } from ${JSON.stringify(native)};
      const enc = new OpusEncoder(1);
      let n = 0;
      const t = OpusToAac.create({ channels: 1, bitrate: 64000, onConfig: () => {}, onUnits: (u) => { n += u.length; if (n >= 20) { t.close(); console.log('closed after', n); } }, onError: (e) => { console.error(e); process.exit(2); } });
      for (let i = 0; i < 50; i++) t.push(enc.encode(new Int16Array(960)), i * 1800);
      enc.close();
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('../../../', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    clearTimeout(timer);
    assert.equal(code, 0, `the child exited by itself: ${out}`);
    assert.match(out, /closed after/);
  });
});
