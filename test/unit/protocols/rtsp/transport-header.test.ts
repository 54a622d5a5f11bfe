import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTransport, parseTransports } from '../../../../gateway/src/protocols/rtsp/transport-header.js';

test('what ffmpeg, GStreamer and VLC send in SETUP', () => {
  // ffmpeg -rtsp_transport tcp (publishing)
  assert.deepEqual(parseTransports('RTP/AVP/TCP;unicast;interleaved=0-1;mode=record'), [
    { profile: 'RTP/AVP', lower: 'TCP', multicast: false, interleaved: [0, 1], mode: 'record' },
  ]);
  // ffmpeg over UDP (playing)
  assert.deepEqual(parseTransports('RTP/AVP/UDP;unicast;client_port=26930-26931'), [
    { profile: 'RTP/AVP', lower: 'UDP', multicast: false, clientPort: [26930, 26931], mode: 'play' },
  ]);
  // GStreamer rtspsrc offers several, in its order of preference; RFC 2326's quoted mode.
  const g = parseTransports('RTP/AVP;unicast;client_port=5000-5001,RTP/AVP/TCP;unicast;interleaved=2-3;mode="RECORD"');
  assert.deepEqual(
    g.map((t) => [t.lower, t.clientPort ?? t.interleaved, t.mode]),
    [
      ['UDP', [5000, 5001], 'play'],
      ['TCP', [2, 3], 'record'],
    ],
  );
  // A single port means the next one for RTCP.
  assert.deepEqual(parseTransports('RTP/AVP;unicast;client_port=7000')[0]!.clientPort, [7000, 7001]);
});

test('malformed entries are skipped, the rest kept', () => {
  assert.deepEqual(parseTransports('RAW/RAW/UDP;unicast'), []);
  assert.deepEqual(parseTransports('RTP/AVP/SCTP;unicast'), []);
  assert.deepEqual(parseTransports('RTP/AVP/TCP;interleaved=999-1000'), []);
  assert.deepEqual(parseTransports('RTP/AVP;client_port=70000-70001'), []);
  assert.equal(parseTransports('RTP/AVP;client_port=x,RTP/AVP/TCP;interleaved=0-1')[0]!.lower, 'TCP');
  assert.equal(parseTransports(Array(100).fill('RTP/AVP/TCP;interleaved=0-1').join(',')).length, 8);
});

test('answers: golden strings', () => {
  assert.equal(formatTransport({ profile: 'RTP/AVP', lower: 'TCP', multicast: false, interleaved: [0, 1], ssrc: 0x1a2b, mode: 'play' }), 'RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=00001A2B');
  assert.equal(
    formatTransport({ profile: 'RTP/AVP', lower: 'UDP', multicast: false, clientPort: [5000, 5001], serverPort: [8000, 8001], mode: 'record' }),
    'RTP/AVP;unicast;client_port=5000-5001;server_port=8000-8001;mode=record',
  );
});
