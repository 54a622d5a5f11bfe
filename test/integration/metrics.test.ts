/**
 * Acceptance (issue 13): `GET /metrics` behind the `metrics` action, scraped and parsed by a
 * Prometheus text-format parser (parse-prometheus-text-format): streams, readers and publishers per
 * protocol, ingest bytes that move between scrapes, refusals by reason, the HLS muxer as an output,
 * event-loop lag and process metrics. And the sessions API: every protocol's sessions listed in one
 * place, one kicked (a reader, then the publisher), both behind the `api` action.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import parse, { type PrometheusFamily } from 'parse-prometheus-text-format';
import { readHttpFlv, type FlvReaderClient } from '../helpers/flv-client.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { publishKnown } from '../helpers/h264-source.js';
import { waitFor } from '../helpers/wait.js';

describe('Prometheus metrics and the sessions API', { concurrency: false }, () => {
  let gw: TestGateway;
  let stop: () => void;
  let reader: FlvReaderClient;
  const basic = (user: string, pass: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });

  before(async () => {
    gw = await startGateway({
      auth: {
        methods: ['users'],
        users: [
          { user: 'any', permissions: [{ action: 'read' }] },
          { user: 'cam', pass: 'c', permissions: [{ action: 'publish' }] },
          { user: 'prom', pass: 'p', permissions: [{ action: 'metrics' }] },
          { user: 'ops', pass: 'o', permissions: [{ action: 'api' }] },
        ],
      },
    });
    const pub = await publishKnown(`${gw.rtmpUrl('live/m')}?user=cam&pass=c`, 40);
    stop = () => pub.client.close();
    await waitFor(() => gw.gateway.registry.get('live/m')?.tracks.length === 2, 5000, 'live');
    reader = readHttpFlv(gw.httpUrl('live/m.flv'));
    await waitFor(() => reader.tags.length > 10, 5000, 'reader flowing');
  });
  after(async () => {
    reader?.close();
    stop?.();
    await gw?.close();
  });

  async function scrape(): Promise<Map<string, PrometheusFamily>> {
    const r = await fetch(gw.httpUrl('metrics'), { headers: basic('prom', 'p') });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return new Map(parse(await r.text()).map((f) => [f.name, f]));
  }
  const value = (m: Map<string, PrometheusFamily>, name: string, labels: { [k: string]: string } = {}): number => {
    const f = m.get(name);
    assert.ok(f, `${name} is exported`);
    const sample = f.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
    assert.ok(sample, `${name}${JSON.stringify(labels)} has a sample`);
    return Number(sample.value);
  };

  test('refused without the metrics permission; parsed, and the counters move', async () => {
    assert.equal((await fetch(gw.httpUrl('metrics'))).status, 401, 'anonymous may read streams, not metrics');
    assert.equal((await fetch(gw.httpUrl('metrics'), { headers: basic('cam', 'c') })).status, 403);
    // An HLS client makes the stream's HLS muxer (an output); a wrong password counts as a refusal.
    assert.equal((await fetch(gw.httpUrl('live/m/index.m3u8'))).status, 200);
    assert.equal((await fetch(gw.httpUrl('live/m.flv?user=cam&pass=wrong'))).status, 401);
    const first = await scrape();
    assert.equal(value(first, 'livegate_streams'), 1);
    assert.equal(value(first, 'livegate_publishers', { protocol: 'rtmp' }), 1);
    assert.equal(value(first, 'livegate_readers', { protocol: 'http-flv' }), 1);
    assert.equal(value(first, 'livegate_outputs', { kind: 'hls' }), 1);
    assert.ok(value(first, 'livegate_access_refused_total', { reason: 'unauthorized', protocol: 'http-flv' }) >= 1);
    assert.ok(value(first, 'livegate_access_refused_total', { reason: 'forbidden', protocol: 'metrics' }) >= 1);
    assert.ok(value(first, 'livegate_output_bytes') > 0);
    assert.ok(value(first, 'livegate_nodejs_eventloop_lag_seconds') >= 0);
    assert.ok(value(first, 'livegate_process_cpu_seconds_total') > 0);
    assert.equal(first.get('livegate_ingest_bytes_total')?.type, 'COUNTER');
    const bytes = value(first, 'livegate_ingest_bytes_total', { protocol: 'rtmp' });
    await new Promise((r) => setTimeout(r, 500));
    const second = await scrape();
    assert.ok(value(second, 'livegate_ingest_bytes_total', { protocol: 'rtmp' }) > bytes, 'ingest bytes move');
    // The bitrate is measured over each second of the stream.
    await waitFor(async () => value(await scrape(), 'livegate_ingest_bitrate_bits') > 0, 3000, 'an ingest bitrate');
  });

  test('sessions of every protocol in one list; kick a reader, then the publisher', async () => {
    assert.equal((await fetch(gw.httpUrl('api/v1/sessions'))).status, 401);
    const list = (await (await fetch(gw.httpUrl('api/v1/sessions'), { headers: basic('ops', 'o') })).json()) as { sessions: { id: string; role: string; protocol: string; path: string; user?: string }[] };
    const publisher = list.sessions.find((x) => x.role === 'publish')!;
    const flv = list.sessions.find((x) => x.role === 'read' && x.protocol === 'http-flv')!;
    assert.deepEqual([publisher.protocol, publisher.path, publisher.user], ['rtmp', 'live/m', 'cam']);
    assert.equal(flv.path, 'live/m');
    assert.ok(!list.sessions.some((x) => x.protocol === 'hls'), 'the HLS muxer is no viewer session');
    const kick = (id: string) => fetch(gw.httpUrl(`api/v1/sessions/${encodeURIComponent(id)}/kick`), { method: 'POST', headers: basic('ops', 'o') });
    assert.equal((await kick(flv.id)).status, 200);
    assert.notEqual(await reader.ended, undefined, 'the kicked reader’s connection ends');
    assert.equal(gw.gateway.registry.get('live/m')?.readerCount, 1, 'only the HLS muxer is left');
    assert.equal((await kick(publisher.id)).status, 200);
    await waitFor(() => gw.gateway.registry.get('live/m') === undefined, 3000, 'the stream ends with its kicked publisher');
    assert.equal((await kick('nobody')).status, 404);
  });
});
