/**
 * Two SrtConnections back to back in memory: what one transmits is copied, parsed and handed to
 * the other after a one-way delay, on a controllable clock, with chosen datagrams lost. TSBPD
 * delivery, NAK and retransmission under 10 % loss, ACK/ACKACK RTT, encryption and in-band key
 * refresh, idle timeout, shutdown, and malformed control packets.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SrtConnection, type SrtConnectionOptions, type SrtCryptoOptions } from '../../../../gateway/src/protocols/srt/connection.js';
import { cryptPayload, decodeKeyMaterial, generateKeyMaterial, type KeyMaterial } from '../../../../gateway/src/protocols/srt/crypto.js';
import {
  ControlType,
  UserSubtype,
  controlPacket,
  dataHeader,
  encodeDropRequest,
  parsePacket,
  seqDiff,
  seqNext,
  type ControlPacket,
  type DataPacket,
  type Packet,
} from '../../../../gateway/src/protocols/srt/packet.js';

const ISN = 0x7fffff00; // the sequence numbers wrap during the longer runs
const A_ID = 0x0a0a0a0a;
const B_ID = 0x0b0b0b0b;
const LATENCY = 200_000;
const TICK = 1000;
const PASSPHRASE = 'correct horse battery';

type Side = 'A' | 'B';

interface WireRecord {
  from: Side;
  at: number;
  p: Packet;
  bytes: Buffer;
  lost: boolean;
}

interface PairOptions {
  delayUs?: number;
  /** Return true to lose this datagram. */
  lose?: (from: Side, p: Packet, bytes: Buffer) => boolean;
  crypto?: { km: KeyMaterial; refreshPackets?: number; preAnnouncePackets?: number };
  peerIdleTimeoutUs?: number;
  conn?: Partial<SrtConnectionOptions>;
}

const copyKm = (km: KeyMaterial): KeyMaterial => ({
  keyLength: km.keyLength,
  salt: Buffer.from(km.salt),
  even: km.even && Buffer.from(km.even),
  odd: km.odd && Buffer.from(km.odd),
});

/** A and B wired back to back; `run(until)` advances the clock 1 ms at a time. */
function pair(o: PairOptions = {}) {
  const delay = o.delayUs ?? 5000;
  let now = 0;
  const queue: { at: number; to: Side; bytes: Buffer }[] = [];
  const wire: WireRecord[] = [];
  const received: Record<Side, { at: number; payload: Buffer }[]> = { A: [], B: [] };
  const closed: Record<Side, string | null> = { A: null, B: null };
  const closeCalls: Record<Side, number> = { A: 0, B: 0 };
  const schedule = new Map<number, (() => void)[]>();

  function make(side: Side): SrtConnection {
    const crypto: SrtCryptoOptions | null = o.crypto
      ? { passphrase: PASSPHRASE, km: copyKm(o.crypto.km), refreshPackets: o.crypto.refreshPackets ?? 2 ** 24, preAnnouncePackets: o.crypto.preAnnouncePackets ?? 2 ** 16 }
      : null;
    return new SrtConnection({
      localSocketId: side === 'A' ? A_ID : B_ID,
      peerSocketId: side === 'A' ? B_ID : A_ID,
      isn: ISN,
      recvLatencyUs: LATENCY,
      peerLatencyUs: LATENCY,
      peerFlowWindow: 8192,
      windowPackets: 8192,
      startUs: 0,
      // The peer's handshake was stamped 0 at its time 0 and arrived one delay later.
      peerHandshakeAtUs: delay,
      peerHandshakeTs: 0,
      tooLateDrop: true,
      peerIdleTimeoutUs: o.peerIdleTimeoutUs ?? 5_000_000,
      crypto,
      transmit: (parts) => {
        const bytes = Buffer.isBuffer(parts) ? Buffer.from(parts) : Buffer.concat(parts); // a copy, as UDP makes
        const p = parsePacket(bytes);
        const lost = o.lose?.(side, p, bytes) ?? false;
        wire.push({ from: side, at: now, p, bytes, lost });
        if (!lost) queue.push({ at: now + delay, to: side === 'A' ? 'B' : 'A', bytes });
      },
      onData: (payload) => received[side === 'A' ? 'A' : 'B'].push({ at: now, payload }),
      onClose: (reason) => {
        closed[side] = reason;
        closeCalls[side]++;
      },
      ...o.conn,
    });
  }
  const conns: Record<Side, SrtConnection> = { A: make('A'), B: make('B') };

  function step(t: number): void {
    now = t;
    for (const f of schedule.get(t) ?? []) f();
    schedule.delete(t);
    const due = queue.filter((q) => q.at <= t);
    for (const q of due) queue.splice(queue.indexOf(q), 1);
    for (const q of due) conns[q.to].receive(parsePacket(q.bytes), t);
    conns.A.tick(t);
    conns.B.tick(t);
  }

  return {
    ...conns,
    wire,
    received,
    closed,
    closeCalls,
    get now() {
      return now;
    },
    /** Runs f at time t (before the datagrams due then and the ticks). */
    at(t: number, f: () => void) {
      schedule.set(t, [...(schedule.get(t) ?? []), f]);
    },
    run(until: number) {
      for (let t = now === 0 && wire.length === 0 ? 0 : now + TICK; t <= until; t += TICK) step(t);
    },
    dataFrom: (side: Side) => wire.filter((w) => w.from === side && !w.p.control).map((w) => ({ ...w, p: w.p as DataPacket })),
    controlFrom: (side: Side, type: number) => wire.filter((w) => w.from === side && w.p.control && w.p.type === type).map((w) => ({ ...w, p: w.p as ControlPacket })),
  };
}

/** Distinct 1316-byte payloads. */
const payload = (i: number) => {
  const b = Buffer.alloc(1316);
  for (let k = 0; k < b.length; k += 4) b.writeUInt32BE((i * 2654435761 + k) >>> 0, k);
  return b;
};

/** A writes `n` payloads, one every `everyUs`, starting at `fromUs`. Returns them with their write time. */
function feed(p: ReturnType<typeof pair>, n: number, everyUs: number, fromUs: number) {
  const sent: { at: number; payload: Buffer }[] = [];
  for (let i = 0; i < n; i++) {
    const at = fromUs + i * everyUs;
    const data = payload(i);
    sent.push({ at, payload: data });
    p.at(at, () => p.A.write(data, at));
  }
  return sent;
}

describe('SrtConnection back to back', () => {
  test('payloads arrive in order on the other side, each at write time + delay + latency', () => {
    const p = pair({ delayUs: 5000 });
    const sent = feed(p, 100, 10_000, 10_000);
    p.run(10_000 + 100 * 10_000 + LATENCY + 20_000);
    assert.equal(p.received.B.length, 100);
    for (let i = 0; i < 100; i++) {
      assert.ok(p.received.B[i]!.payload.equals(sent[i]!.payload), `payload ${i}`);
      assert.equal(p.received.B[i]!.at, sent[i]!.at + 5000 + LATENCY, `payload ${i} at its TSBPD time`);
    }
    const data = p.dataFrom('A');
    assert.equal(data.length, 100, 'no retransmissions on a clean link');
    assert.deepEqual(
      data.map((d) => d.p.seq),
      Array.from({ length: 100 }, (_, i) => seqNext(ISN, i)),
    );
    assert.ok(data.every((d) => d.p.destId === B_ID && d.p.key === 0 && d.p.position === 3));
    assert.equal(data[3]!.p.timestamp, sent[3]!.at, 'stamped with the source time');
    assert.equal(p.received.A.length, 0);
    const a = p.A.stats();
    const b = p.B.stats();
    assert.equal(a.packetsSent, 100);
    assert.equal(a.sendInFlight, 0, 'everything acknowledged');
    assert.equal(b.packetsReceived, 100);
    assert.equal(b.packetsLost, 0);
    assert.equal(p.closed.A, null);
    assert.equal(p.closed.B, null);
  });

  test('10 % of data packets lost: NAK and retransmission deliver every payload, in order, in time', () => {
    let lostRexmit = false;
    const p = pair({
      delayUs: 5000,
      lose: (from, pk) => {
        if (from !== 'A' || pk.control) return false;
        const i = seqDiff(ISN, pk.seq);
        if (!pk.retransmitted) return i % 10 === 7;
        // Lose the first retransmission of one packet too: the periodic NAK has to recover it.
        if (i === 407 && !lostRexmit) return (lostRexmit = true);
        return false;
      },
    });
    const N = 500;
    const sent = feed(p, N, 2000, 10_000);
    p.run(10_000 + N * 2000 + LATENCY + 50_000);
    assert.equal(p.received.B.length, N, 'zero missing');
    for (let i = 0; i < N; i++) {
      assert.ok(p.received.B[i]!.payload.equals(sent[i]!.payload), `payload ${i}`);
      assert.equal(p.received.B[i]!.at, sent[i]!.at + 5000 + LATENCY, `payload ${i} on time`);
    }
    assert.ok(lostRexmit);
    const b = p.B.stats();
    const a = p.A.stats();
    assert.equal(b.packetsLost, N / 10);
    assert.equal(b.packetsRecovered, N / 10);
    assert.equal(b.packetsDropped, 0);
    assert.equal(a.packetsRetransmitted, N / 10 + 1);
    assert.equal(a.packetsDropped, 0);
    assert.equal(a.sendInFlight, 0);
    const rexmits = p.dataFrom('A').filter((d) => d.p.retransmitted);
    assert.equal(rexmits.length, N / 10 + 1);
    assert.ok(p.controlFrom('B', ControlType.Nak).length >= N / 10, 'an immediate NAK for each loss');
  });

  test('the 32-bit timestamp wrap is crossed without a glitch (clocks started 2^32 − 2 s before, 10 % loss)', () => {
    const X = 2 ** 32 - 2_000_000; // both sides' timestamps start 2 s before the wrap
    const p = pair({
      conn: { startUs: -X, peerHandshakeTs: X },
      lose: (from, pk) => from === 'A' && !pk.control && !pk.retransmitted && seqDiff(ISN, pk.seq) % 10 === 5,
    });
    const N = 200;
    const sent = feed(p, N, 20_000, 10_000); // 4 s: the wrap is at 2 s
    p.run(10_000 + N * 20_000 + LATENCY + 50_000);
    const ts = p.dataFrom('A').map((d) => d.p.timestamp);
    assert.ok(ts[0]! >= X && ts.some((t) => t < 2_000_000), 'the wire timestamps wrap');
    assert.equal(p.received.B.length, N);
    for (let i = 0; i < N; i++) {
      assert.ok(p.received.B[i]!.payload.equals(sent[i]!.payload), `payload ${i}`);
      assert.equal(p.received.B[i]!.at, sent[i]!.at + 5000 + LATENCY, `payload ${i} at its TSBPD time`);
    }
    assert.equal(p.B.stats().packetsDropped, 0);
  });

  test('ACK / ACKACK give both sides an RTT estimate of the 2 × 5 ms round trip', () => {
    const p = pair({ delayUs: 5000 });
    feed(p, 300, 5000, 10_000);
    p.run(2_000_000);
    const b = p.B.stats();
    const a = p.A.stats();
    assert.ok(Math.abs(b.rttMs - 10) < 0.5, `receiver RTT ${b.rttMs} ms (from ACKACK)`);
    assert.ok(b.rttVarMs < 1, `receiver RTT variance ${b.rttVarMs} ms`);
    assert.ok(Math.abs(a.rttMs - 10) < 0.5, `sender RTT ${a.rttMs} ms (from the receiver's ACKs)`);
    const acks = p.controlFrom('B', ControlType.Ack);
    const ackacks = p.controlFrom('A', ControlType.AckAck);
    assert.ok(acks.length > 100);
    assert.equal(ackacks.length, acks.length, 'every full ACK answered');
    assert.deepEqual(
      ackacks.slice(0, 5).map((x) => x.p.info),
      acks.slice(0, 5).map((x) => x.p.info),
      'ACKACK carries the ACK number',
    );
  });

  test('encryption: payloads are AES-CTR on the wire (KK=1) and decrypted on the other side', () => {
    const km = generateKeyMaterial(32, 1);
    const p = pair({ crypto: { km } });
    const sent = feed(p, 50, 10_000, 10_000);
    p.run(10_000 + 50 * 10_000 + LATENCY + 20_000);
    const data = p.dataFrom('A');
    assert.equal(data.length, 50);
    for (let i = 0; i < 50; i++) {
      const w = data[i]!.p;
      assert.equal(w.key, 1, 'KK=1: the even key');
      assert.equal(w.payload.length, 1316);
      assert.ok(!w.payload.equals(sent[i]!.payload), `payload ${i} is not clear text on the wire`);
      assert.ok(cryptPayload(km.even!, km.salt, w.seq, w.payload).equals(sent[i]!.payload), `payload ${i} is AES-CTR with the agreed SEK and its sequence number`);
    }
    assert.equal(p.received.B.length, 50);
    for (let i = 0; i < 50; i++) assert.ok(p.received.B[i]!.payload.equals(sent[i]!.payload), `payload ${i} decrypted`);
    assert.equal(p.B.stats().packetsUndecryptable, 0);
  });

  test('encryption: clear packets and packets with an unknown key are refused and counted', () => {
    const km = generateKeyMaterial(16, 1);
    const p = pair({ crypto: { km } });
    p.run(1000);
    const clear = Buffer.concat([dataHeader(ISN, 1, 0, false, 0, B_ID), Buffer.alloc(100)]);
    const odd = Buffer.concat([dataHeader(ISN, 1, 2, false, 0, B_ID), Buffer.alloc(100)]); // KK=2: no odd key was agreed
    p.B.receive(parsePacket(clear), 2000);
    p.B.receive(parsePacket(odd), 2000);
    assert.equal(p.B.stats().packetsUndecryptable, 2);
    assert.equal(p.B.stats().packetsReceived, 0);
  });

  test('key refresh (200 / 50 packets): KK switches 1 → 2 → 1 on the wire, every payload decodes, with 10 % loss', () => {
    const km = generateKeyMaterial(16, 1);
    const p = pair({
      crypto: { km, refreshPackets: 200, preAnnouncePackets: 50 },
      lose: (from, pk) => from === 'A' && !pk.control && !pk.retransmitted && seqDiff(ISN, pk.seq) % 10 === 3,
    });
    const N = 600;
    const sent = feed(p, N, 2000, 10_000);
    p.run(10_000 + N * 2000 + LATENCY + 50_000);
    const firstTx = p.dataFrom('A').filter((d) => !d.p.retransmitted);
    assert.equal(firstTx.length, N);
    const kk = firstTx.map((d) => d.p.key);
    assert.deepEqual(kk.slice(0, 200), Array<number>(200).fill(1), 'packets 0..199 with the even key');
    assert.deepEqual(kk.slice(200, 400), Array<number>(200).fill(2), 'packets 200..399 with the odd key');
    assert.deepEqual(kk.slice(400), Array<number>(200).fill(1), 'packets 400..599 with a fresh even key');
    // In-band KM: announce (both keys), retire (the new key only), announce, retire, announce.
    const kmreqs = p.controlFrom('A', ControlType.UserDefined).filter((c) => c.p.subtype === UserSubtype.KmReq);
    const decoded = kmreqs.map((c) => decodeKeyMaterial(c.p.cif, PASSPHRASE));
    assert.deepEqual(
      decoded.map((d) => (d.ok ? (d.km.even ? 1 : 0) | (d.km.odd ? 2 : 0) : -1)),
      [3, 2, 3, 1, 3],
    );
    const kmrsps = p.controlFrom('B', ControlType.UserDefined).filter((c) => c.p.subtype === UserSubtype.KmRsp);
    assert.equal(kmrsps.length, 5, 'each KMREQ answered');
    const firstOdd = firstTx.find((d) => d.p.key === 2)!;
    assert.ok(kmreqs[0]!.at < firstOdd.at, 'the odd key is announced before it is used');
    assert.equal(p.received.B.length, N, 'every payload delivered');
    for (let i = 0; i < N; i++) assert.ok(p.received.B[i]!.payload.equals(sent[i]!.payload), `payload ${i} decoded`);
    assert.equal(p.B.stats().packetsUndecryptable, 0);
    assert.equal(p.B.stats().packetsRecovered, N / 10);
  });

  test('peer idle timeout closes with a reason that says "idle"', () => {
    const p = pair({ delayUs: 5000, lose: () => true });
    p.run(5_005_000);
    assert.equal(p.closed.A, null, 'not before the timeout (5 s after the handshake)');
    p.run(5_006_000);
    assert.match(p.closed.A ?? '', /idle/);
    assert.match(p.closed.B ?? '', /idle/);
    assert.equal(p.A.isClosed, true);
  });

  test('an idle but live link (no data) stays up: ACKs and keepalives flow', () => {
    const p = pair({ delayUs: 5000 });
    p.run(12_000_000);
    assert.equal(p.closed.A, null);
    assert.equal(p.closed.B, null);
    const fromA = p.wire.filter((w) => w.from === 'A');
    for (let s = 1; s < 12; s++) assert.ok(fromA.some((w) => w.at > (s - 1) * 1e6 && w.at <= s * 1e6 + 1000), `A sent something in second ${s}`);
  });

  test('close() sends SHUTDOWN and the peer closes with "peer sent shutdown"', () => {
    const p = pair();
    feed(p, 10, 10_000, 10_000);
    p.run(500_000);
    assert.equal(p.received.B.length, 10);
    p.A.close('bye');
    assert.equal(p.closed.A, 'bye');
    assert.equal(p.controlFrom('A', ControlType.Shutdown).length, 1);
    p.A.close('again');
    assert.equal(p.closeCalls.A, 1, 'close is idempotent');
    const before = p.wire.length;
    p.A.write(payload(99), 500_000);
    p.run(600_000);
    assert.equal(p.closed.B, 'peer sent shutdown');
    assert.equal(p.controlFrom('B', ControlType.Shutdown).length, 0, 'no SHUTDOWN sent back');
    assert.equal(p.wire.filter((w, i) => i >= before && w.from === 'A').length, 0, 'a closed connection sends nothing');
    assert.equal(p.closeCalls.B, 1);
  });

  test('malformed control packets do not close the connection', () => {
    const p = pair();
    feed(p, 20, 10_000, 10_000);
    p.run(50_000);
    const bad = (type: number, cif: Buffer, subtype = 0) => parsePacket(controlPacket(type, subtype, 1, 0, B_ID, cif));
    p.B.receive(bad(ControlType.Nak, Buffer.from([1, 2, 3])), 50_500);
    p.B.receive(bad(ControlType.Ack, Buffer.from([1, 2])), 50_500);
    assert.match(p.B.lastError ?? '', /ACK of 2 bytes/);
    p.B.receive(bad(ControlType.Nak, Buffer.from('800000140000000a', 'hex')), 50_500);
    assert.match(p.B.lastError ?? '', /backwards/);
    p.B.receive(bad(ControlType.DropReq, Buffer.from([0, 0, 0, 1])), 50_500);
    assert.match(p.B.lastError ?? '', /drop request of 4 bytes/);
    p.B.receive(bad(ControlType.UserDefined, Buffer.from('garbage!'), UserSubtype.KmReq), 50_500);
    p.B.receive(bad(ControlType.CongestionWarning, Buffer.alloc(0)), 50_500);
    p.B.receive(bad(0x1234, Buffer.alloc(7)), 50_500);
    p.B.receive(bad(ControlType.DropReq, encodeDropRequest(ISN + 1000, ISN)), 50_500); // backwards: ignored
    assert.equal(p.B.isClosed, false);
    assert.equal(p.closed.B, null);
    p.run(10_000 + 20 * 10_000 + LATENCY + 20_000);
    assert.equal(p.received.B.length, 20, 'the stream goes on');
  });

  test('a malformed in-band KMREQ on an encrypted connection is refused, not fatal', () => {
    const p = pair({ crypto: { km: generateKeyMaterial(16, 1) } });
    p.run(1000);
    p.B.receive(parsePacket(controlPacket(ControlType.UserDefined, UserSubtype.KmReq, 0, 0, B_ID, Buffer.from('12202901', 'hex'))), 2000);
    assert.match(p.B.lastError ?? '', /in-band KMREQ refused/);
    assert.equal(p.B.isClosed, false);
    assert.equal(p.controlFrom('B', ControlType.UserDefined).length, 0, 'no KMRSP for it');
  });

  // BUG (gateway/src/protocols/srt/connection.ts, write()): when the current send key slot is
  // empty, `if (sek)` falls through and the payload goes out in CLEAR TEXT with KK=0 on an
  // encrypted connection. The slot is emptied by the peer's in-band KMREQ: userDefined() keeps only
  // the key(s) the peer announces, and the retire message of a peer refresh (odd key only) removes
  // the even key this side is still sending with. Both sides use one key set, so on a
  // bidirectional connection B's data leaks in clear (and A discards it as undecryptable) as soon
  // as A retires its old key; a peer that knows the passphrase can trigger it at will with a
  // KMREQ carrying only the other key. An encrypted connection should never fall back to clear.
  test('an encrypted connection never sends a clear payload, even after the peer retires the key it uses', () => {
    const km = generateKeyMaterial(16, 1);
    const p = pair({ crypto: { km, refreshPackets: 200, preAnnouncePackets: 50 } });
    feed(p, 400, 2000, 10_000); // A refreshes: announce at 150, switch at 200, retire the even key at 250
    const fromB: Buffer[] = [];
    for (let i = 0; i < 50; i++) {
      const at = 10_000 + i * 16_000;
      const data = payload(1000 + i);
      fromB.push(data);
      p.at(at, () => p.B.write(data, at));
    }
    p.run(10_000 + 400 * 2000 + LATENCY + 50_000);
    const bData = p.dataFrom('B').filter((d) => !d.p.retransmitted);
    assert.equal(bData.length, 50);
    const clear = bData.filter((d) => d.p.key === 0);
    const plain = clear.filter((d) => d.p.payload.equals(fromB[seqDiff(ISN, d.p.seq)]!)).length;
    assert.equal(clear.length, 0, `BUG connection.ts write(): ${clear.length} of B's 50 payloads went out with KK=0 (${plain} of them byte-identical to the clear text) after A retired the even key`);
    assert.equal(p.A.stats().packetsUndecryptable, 0);
    assert.equal(p.received.A.length, 50);
  });
});
