/**
 * RTP → stream timeline: a simulated sender (video 90 kHz, audio 48 kHz with its own clock skew,
 * random RTP bases, random NTP epoch), a network with per-track delay and jitter, and RTCP sender
 * reports that come late. The truth is known: a unit captured at sender time t should land on
 * the same tick in both tracks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RtpTimeline, type RtpTrackClock } from '../../../../gateway/src/format/rtp/rtp-clock.js';
import { rng } from '../../../helpers/random.js';


const NTP_EPOCH_S = 3_945_000_000; // 2025, seconds since 1900
const ntpAt = (t: number): bigint => BigInt(NTP_EPOCH_S) * 2n ** 32n + BigInt(Math.round(t * 2 ** 32));

interface TrackSpec {
  clockRate: number;
  /** Sender time between units (s). */
  period: number;
  /** RTP clock error against the sender's NTP clock (ppm). */
  skewPpm: number;
  rtpBase: number;
  /** Sender time of the first unit (s); 0 to a period by default. */
  start?: number;
  delayMs: number;
  jitterMs: number;
  /** First SR at this sender time (s), then one per srEvery. */
  firstSr: number;
  srEvery: number;
  srDelayMs: number;
}

interface Event {
  at: number;
  track: number;
  kind: 'packet' | 'sr';
  /** Sender time (s). */
  t: number;
  rtp: number;
  ntp?: bigint;
}

interface Out {
  t: number;
  ticks: number;
  at: number;
}

/** Runs a publisher for `seconds` of sender time; `tamper` may add, drop or change events. */
function simulate(
  specs: TrackSpec[],
  seconds: number,
  seed: number,
  options: { tamper?: (events: Event[], rand: () => number) => Event[]; maxSlewPpm?: number } = {},
): { outs: Out[][]; clocks: RtpTrackClock[] } {
  const rand = rng(seed);
  const localStart = 1000 + rand() * 1000; // performance.now() when the sender started
  const rtpOf = (s: TrackSpec, t: number) => (s.rtpBase + Math.round(t * s.clockRate * (1 + s.skewPpm / 1e6))) >>> 0;
  let events: Event[] = [];
  specs.forEach((s, track) => {
    let last = 0;
    for (let t = s.start ?? rand() * s.period; t < seconds; t += s.period) {
      // After the jitter buffer a track's units come in order, so arrivals never go back.
      last = Math.max(last, localStart + t * 1000 + s.delayMs + rand() * s.jitterMs);
      events.push({ at: last, track, kind: 'packet', t, rtp: rtpOf(s, t) });
    }
    for (let t = s.firstSr; t < seconds; t += s.srEvery) {
      events.push({ at: localStart + t * 1000 + s.srDelayMs + rand() * s.jitterMs, track, kind: 'sr', t, rtp: rtpOf(s, t), ntp: ntpAt(t) });
    }
  });
  if (options.tamper) events = options.tamper(events, rand);
  events.sort((a, b) => a.at - b.at);
  const timeline = new RtpTimeline(options.maxSlewPpm === undefined ? {} : { maxSlewPpm: options.maxSlewPpm });
  const clocks = specs.map((s) => timeline.track(s.clockRate));
  const outs: Out[][] = specs.map(() => []);
  for (const e of events) {
    if (e.kind === 'sr') clocks[e.track]!.senderReport(e.ntp!, e.rtp, e.at);
    else outs[e.track]!.push({ t: e.t, ticks: clocks[e.track]!.toTicks(e.rtp, e.at), at: e.at });
  }
  return { outs, clocks };
}

const VIDEO: TrackSpec = { clockRate: 90_000, period: 1 / 30, skewPpm: 0, rtpBase: 0, delayMs: 40, jitterMs: 60, firstSr: 2, srEvery: 1, srDelayMs: 40 };
const AUDIO: TrackSpec = { clockRate: 48_000, period: 0.02, skewPpm: 0, rtpBase: 0, delayMs: 15, jitterMs: 30, firstSr: 5, srEvery: 1, srDelayMs: 90 };

/** Stream ticks minus sender time: equal across tracks when they are in sync. */
const errorAt = (outs: Out[], t: number): number => {
  let best = outs[0]!;
  for (const o of outs) if (Math.abs(o.t - t) < Math.abs(best.t - t)) best = o;
  return best.ticks - best.t * 90_000;
};
const avOffsetMs = (outs: Out[][], t: number) => (errorAt(outs[0]!, t) - errorAt(outs[1]!, t)) / 90;

function assertMonotonic(outs: Out[], label: string): void {
  for (let i = 1; i < outs.length; i++) assert.ok(outs[i]!.ticks >= outs[i - 1]!.ticks, `${label}: ${outs[i - 1]!.ticks} → ${outs[i]!.ticks} at ${i}`);
  assert.ok(outs.every((o) => o.ticks >= 0), `${label}: negative ticks`);
}

describe('RtpTimeline', () => {
  test('A/V converge to the truth within 1 ms after late, skewed sender reports (several seeds)', () => {
    for (let seed = 1; seed <= 8; seed++) {
      const rand = rng(seed * 101);
      const video = { ...VIDEO, rtpBase: Math.floor(rand() * 2 ** 32) };
      const audio = { ...AUDIO, rtpBase: Math.floor(rand() * 2 ** 32), skewPpm: 80 * (rand() - 0.5) };
      const { outs, clocks } = simulate([video, audio], 30, seed);
      const [v, a] = outs as [Out[], Out[]];
      assertMonotonic(v, `video seed ${seed}`);
      assertMonotonic(a, `audio seed ${seed}`);
      // Origin: the first packet of any track is at (or just after) tick 0.
      assert.ok(Math.min(v[0]!.ticks, a[0]!.ticks) <= 90, `origin ${v[0]!.ticks} ${a[0]!.ticks}`);
      // Before any SR the tracks are only as good as their arrival times (delay difference + jitter).
      assert.ok(Math.abs(avOffsetMs(outs, 1)) < 120, `seed ${seed}: early offset ${avOffsetMs(outs, 1)}`);
      for (let t = 12; t < 29.5; t += 0.25) {
        const off = avOffsetMs(outs, t);
        assert.ok(Math.abs(off) < 1, `seed ${seed}: A/V offset ${off.toFixed(3)} ms at ${t} s`);
      }
      // Audio units are 20 ms apart in sender time: in the output never less than 98 % of that.
      for (let i = 1; i < a.length; i++) assert.ok(a[i]!.ticks - a[i - 1]!.ticks >= 0.98 * 1800 - 1, `audio spacing at ${i}`);
      for (const c of clocks) assert.deepEqual([c.stats.steps, c.stats.rebases, c.stats.reanchors, c.stats.ignoredReports], [0, 0, 0, 0]);
    }
  });

  test('without sender reports each track is anchored at its first arrival and advanced by RTP deltas', () => {
    const { outs } = simulate([{ ...VIDEO, firstSr: 1e9, jitterMs: 0 }, { ...AUDIO, firstSr: 1e9, jitterMs: 0 }], 5, 2);
    const [v, a] = outs as [Out[], Out[]];
    for (let i = 1; i < v.length; i++) assert.equal(v[i]!.ticks - v[0]!.ticks, Math.round((v[i]!.t - v[0]!.t) * 90_000));
    // With no jitter the offset is exactly the difference in network delay (40 − 15 ms), up to rounding.
    assert.ok(Math.abs(avOffsetMs(outs, 3) - 25) < 0.05, `${avOffsetMs(outs, 3)}`);
    assert.ok(a.length > 200);
  });

  test('an SR that comes before the track’s first packet is applied once the track starts', () => {
    // Audio's RTCP starts at once, its media 0.7 s later (and after the video's first SR).
    const early = { ...AUDIO, firstSr: 0, start: 0.7 };
    const { outs, clocks } = simulate([{ ...VIDEO, firstSr: 0.5 }, early], 20, 4);
    assert.equal(clocks[1]!.stats.ignoredReports, 0);
    for (let t = 8; t < 19; t += 0.5) assert.ok(Math.abs(avOffsetMs(outs, t)) < 1, `${avOffsetMs(outs, t)} at ${t}`);
    // An SR before any packet at all fixes the relation once its track starts.
    const first = simulate([{ ...VIDEO, firstSr: 0, srDelayMs: 0, start: 0.3 }, { ...AUDIO, start: 0.2 }], 20, 5);
    for (let t = 10; t < 19; t += 0.5) assert.ok(Math.abs(avOffsetMs(first.outs, t)) < 1, `${avOffsetMs(first.outs, t)} at ${t}`);
  });

  test('32-bit RTP timestamp wrap is unwrapped per track', () => {
    const timeline = new RtpTimeline();
    const video = timeline.track(90_000);
    const base = 2 ** 32 - 3 * 3000;
    const out = [];
    for (let i = 0; i < 8; i++) out.push(video.toTicks((base + i * 3000) >>> 0, 1000 + i * 33.3));
    assert.deepEqual(out, [0, 3000, 6000, 9000, 12000, 15000, 18000, 21000]);
    // Across the wrap, a sender report still lines up.
    const audio = timeline.track(48_000);
    assert.equal(audio.toTicks(4_294_967_000, 1000), 0);
    assert.equal(audio.toTicks(664, 1020), 1800); // 960 samples later, past 2^32
  });

  test('reset(): a new RTP base re-anchors, and time keeps running forward', () => {
    const timeline = new RtpTimeline();
    const audio = timeline.track(48_000);
    let last = 0;
    for (let i = 0; i < 50; i++) last = audio.toTicks(1_000_000 + i * 960, 1000 + i * 20);
    assert.equal(last, 49 * 1800);
    audio.reset();
    // The new SSRC's first packet arrives "early" on the wall clock (the old one ran slow): still forward.
    const first = audio.toTicks(77, 1000 + 40 * 20);
    assert.equal(first, last + 1800, 'one unit after the last one');
    assert.equal(audio.toTicks(77 + 960, 1000 + 41 * 20), first + 1800);
    // Later than the previous stream: placed at its arrival.
    audio.reset();
    assert.equal(audio.toTicks(5, 1000 + 200 * 20), 200 * 1800);
  });

  test('a restart without reset() (RTP timestamp jump) is taken as one', () => {
    const timeline = new RtpTimeline();
    const video = timeline.track(90_000);
    let last = 0;
    for (let i = 0; i < 30; i++) last = video.toTicks(5_000_000 + i * 3000, 1000 + i * 33);
    const back = video.toTicks(100, 1000 + 30 * 33);
    assert.ok(back > last);
    const ahead = video.toTicks(3_000_000_000, 1000 + 31 * 33);
    assert.ok(ahead > back && ahead - back < 90_000, `${ahead - back}`);
    assert.equal(video.stats.reanchors, 2);
    // A pause (RTP clock running while nothing was sent) is not a restart.
    const paused = video.toTicks(3_000_000_000 + 90_000 * 60, 1000 + 31 * 33 + 60_000);
    assert.equal(paused - ahead, 90_000 * 60);
    assert.equal(video.stats.reanchors, 2);
  });

  test('garbage sender reports move the clock by no more than the slew, and output stays monotonic', () => {
    const specs = [{ ...VIDEO, rtpBase: 123_456_789 }, { ...AUDIO, rtpBase: 3_987_654_321 }];
    const clean = simulate(specs, 20, 7);
    const hostile = simulate(specs, 20, 7, {
      tamper: (events, rand) => {
        const extra: Event[] = [];
        for (let i = 0; i < 400; i++) {
          const track = i % 2;
          const at = events[0]!.at + rand() * 20_000;
          const ntp = BigInt(Math.floor(rand() * 2 ** 32)) * 2n ** 32n + BigInt(Math.floor(rand() * 2 ** 32));
          extra.push({ at, track, kind: 'sr', t: 0, rtp: Math.floor(rand() * 2 ** 32), ntp: i % 3 === 0 ? -ntp : ntp });
        }
        return events.concat(extra);
      },
    });
    for (let k = 0; k < 2; k++) {
      assertMonotonic(hostile.outs[k]!, `track ${k}`);
      assert.equal(hostile.outs[k]!.length, clean.outs[k]!.length);
      for (let i = 0; i < clean.outs[k]!.length; i++) {
        // Random garbage is ignored (up to a tick of rounding: a garbage report may be the first one,
        // and the relation is then fixed again from a later report on the same line).
        const d = Math.abs(hostile.outs[k]![i]!.ticks - clean.outs[k]![i]!.ticks);
        assert.ok(d <= 1, `track ${k}, unit ${i}: ${d} ticks`);
      }
      assert.ok(hostile.clocks[k]!.stats.ignoredReports >= 190);
    }
  });

  test('plausible but wrong reports (off by up to 1 s) are slewed: at most 2 % of the media time until a good one', () => {
    const specs = [{ ...VIDEO, rtpBase: 42 }, { ...AUDIO, rtpBase: 4242 }];
    const clean = simulate(specs, 20, 8);
    const hostile = simulate(specs, 20, 8, {
      tamper: (events) =>
        events.map((e) => (e.kind === 'sr' && e.track === 1 && e.t > 8 && Math.round(e.t) % 3 === 0 ? { ...e, ntp: e.ntp! + BigInt(Math.round(0.9 * 2 ** 32)) } : e)),
    });
    const a = hostile.outs[1]!;
    assertMonotonic(a, 'audio');
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]!.ticks - clean.outs[1]![i]!.ticks));
    // A bad report is followed by a good one 1 s later: 2 % of ~1.1 s of media is 22 ms at most.
    assert.ok(worst > 0 && worst <= 0.02 * 1.2 * 90_000, `worst deviation ${worst / 90} ms`);
  });

  test('a confirmed large forward correction is stepped (never backwards)', () => {
    const specs = [VIDEO, AUDIO];
    const late = simulate(specs, 20, 9, {
      // The sender says audio was captured 3 s later than its packets suggest (e.g. a huge send buffer).
      tamper: (events) => events.map((e) => (e.kind === 'sr' && e.track === 1 ? { ...e, ntp: e.ntp! + 3n * 2n ** 32n } : e)),
    });
    const [v, a] = late.outs as [Out[], Out[]];
    assertMonotonic(v, 'video');
    assertMonotonic(a, 'audio');
    assert.equal(late.clocks[1]!.stats.ignoredReports, 1, 'the first report alone is not trusted');
    assert.equal(late.clocks[1]!.stats.steps, 1);
    for (let t = 12; t < 19; t += 0.5) assert.ok(Math.abs(avOffsetMs(late.outs, t) + 3000) < 1, `${avOffsetMs(late.outs, t)} at ${t}`);
  });

  test('a confirmed large backward correction moves the whole timeline forward instead', () => {
    const early = simulate([VIDEO, AUDIO], 20, 10, {
      tamper: (events) => events.map((e) => (e.kind === 'sr' && e.track === 1 ? { ...e, ntp: e.ntp! - 3n * 2n ** 32n } : e)),
    });
    const [v, a] = early.outs as [Out[], Out[]];
    assertMonotonic(v, 'video');
    assertMonotonic(a, 'audio');
    assert.equal(early.clocks[1]!.stats.rebases, 1);
    assert.equal(early.clocks[0]!.stats.steps, 1, 'video jumped forward by 3 s to stay in sync');
    for (let t = 12; t < 19; t += 0.5) assert.ok(Math.abs(avOffsetMs(early.outs, t) - 3000) < 1, `${avOffsetMs(early.outs, t)} at ${t}`);
  });

  test('a garbage first report does not poison the timeline: the next agreeing reports start it over', () => {
    const specs = [{ ...VIDEO, rtpBase: 999 }, { ...AUDIO, rtpBase: 77_777 }];
    const { outs, clocks } = simulate(specs, 25, 11, {
      tamper: (events) => {
        const firstVideoSr = events.find((e) => e.kind === 'sr' && e.track === 0)!;
        return events.map((e) => (e === firstVideoSr ? { ...e, ntp: 12_345_678_901_234n, rtp: 5 } : e));
      },
    });
    const [v] = outs as [Out[], Out[]];
    assertMonotonic(v, 'video');
    for (let i = 1; i < v.length; i++) assert.ok(v[i]!.ticks - v[i - 1]!.ticks < 6000, `video jumped at ${i}`);
    assert.equal(clocks[0]!.stats.steps + clocks[1]!.stats.steps, 0);
    for (let t = 15; t < 24; t += 0.5) assert.ok(Math.abs(avOffsetMs(outs, t)) < 1, `${avOffsetMs(outs, t)} at ${t}`);
  });

  test('options are checked', () => {
    assert.throws(() => new RtpTimeline({ maxSlewPpm: -1 }), RangeError);
    assert.throws(() => new RtpTimeline().track(0), RangeError);
  });
});
