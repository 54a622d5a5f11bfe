/**
 * Acceptance (issue 4): through a lossy UDP relay (5 % of datagrams dropped each way, 10 ms each
 * way, SRT latency 200 ms), ffmpeg's publish and srt-live-transmit's read both arrive with zero TS
 * continuity errors: SRT's NAKs and retransmissions recover every loss, on both of livegate's halves.
 * @run-alone: a retransmission must arrive within the 200 ms latency; the timing must not share the 2 cores.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { checkTs, sltRead, startRelay, type Relay } from '../helpers/srt.js';
import { hasTool, requireTools } from '../helpers/tools.js';
import { sleep, waitFor } from '../helpers/wait.js';

describe('SRT over a lossy link (5 % loss each way)', { concurrency: false }, () => {
  let gw: TestGateway;
  let relayIn: Relay;
  let relayOut: Relay;
  let pub: Publisher;

  before(async () => {
    if (!hasTool('srt-live-transmit') && process.env.CI !== 'true') return;
    gw = await startGateway({ srt: { latencyMs: 200 } });
    relayIn = await startRelay({ targetPort: gw.srtPort, loss: 0.05, delayMs: 10 });
    relayOut = await startRelay({ targetPort: gw.srtPort, loss: 0.05, delayMs: 10 });
  });

  after(async () => {
    await pub?.stop();
    await relayIn?.close();
    await relayOut?.close();
    await gw?.close();
  });

  test('publish (ffmpeg → relay → livegate) and read (livegate → relay → srt-live-transmit) lose nothing', async (t) => {
    if (!requireTools(t, 'srt-live-transmit', 'ffmpeg')) return;
    pub = publish(`srt://127.0.0.1:${relayIn.port}?streamid=publish:live/lossy&pkt_size=1316&latency=200000`, {
      format: 'mpegts',
      size: '640x360',
      videoBitrate: '1500k',
    });
    await waitFor(() => gw.gateway.registry.get('live/lossy')?.tracks.length === 2, 15000, 'live/lossy live through the relay');
    const reader = sltRead(`srt://127.0.0.1:${relayOut.port}?streamid=read:live/lossy&latency=200`);
    await sleep(8000);
    await reader.stop();
    const sessions = gw.gateway.srt!.sessions();
    const ingest = sessions.find((s) => s.mode === 'publish' && s.path === 'live/lossy')!;
    const got = checkTs(reader.bytes());
    t.diagnostic(`relay in: ${JSON.stringify(relayIn.dropped)}, out: ${JSON.stringify(relayOut.dropped)}; ingest ${JSON.stringify(ingest.stats)}`);

    // Loss really happened, both ways, on both links.
    assert.ok(relayIn.dropped.toServer > 20 && relayIn.dropped.toClient > 5, `relay in dropped ${JSON.stringify(relayIn.dropped)}`);
    assert.ok(relayOut.dropped.toServer > 5 && relayOut.dropped.toClient > 20, `relay out dropped ${JSON.stringify(relayOut.dropped)}`);
    // Ingest: every lost packet came back in time.
    assert.ok(ingest.stats.packetsLost > 20, `ingest saw losses: ${ingest.stats.packetsLost}`);
    assert.ok(ingest.stats.packetsRecovered > 20, `ingest recovered: ${ingest.stats.packetsRecovered}`);
    assert.equal(ingest.stats.packetsDropped, 0, 'no packet given up on ingest');
    assert.equal(ingest.transportErrors, 0, 'no TS continuity error on ingest');
    // Read: livegate retransmitted, and srt-live-transmit got a clean TS.
    const readLog = await waitFor(() => gw.logs.find((l) => l.msg === 'connection closed' && l.mode === 'read' && l.path === 'live/lossy'), 3000, 'read session closed');
    t.diagnostic(JSON.stringify(readLog));
    assert.ok(readLog, 'read session closed with its stats logged');
    assert.ok((readLog.packetsRetransmitted as number) > 20, `livegate retransmitted ${readLog.packetsRetransmitted}`);
    assert.deepEqual(got.codecs, ['aac', 'h264']);
    assert.ok((got.units.h264 ?? 0) > 150, `video units read: ${got.units.h264}`);
    assert.equal(got.continuityErrors, 0, got.warnings.slice(0, 5).join('\n'));
    assert.deepEqual(got.warnings, []);
  });
});
