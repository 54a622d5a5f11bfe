/**
 * The RTP headers livegate writes for what werift asks it to send (retransmissions, fast-rtp.ts) are
 * byte for byte werift's own serialization of the same fields, with and without the one-byte mid
 * extension; headers the one-byte form cannot carry are left to werift.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RtpHeader } from 'werift';
import { serializeRtpHeader } from '../../../../gateway/src/protocols/webrtc/transport/fast-rtp.js';

const base = { payloadType: 97, marker: true, sequenceNumber: 65535, timestamp: 0xfffffff0, ssrc: 0x12345678, csrc: [] as number[] };

test('the same bytes as werift: an RTX header with the mid extension, and one without extensions', () => {
  for (const extensions of [[{ id: 4, payload: Buffer.from('0') }], [{ id: 1, payload: Buffer.from('video-1') }, { id: 3, payload: Buffer.from([1, 2]) }], []]) {
    const fields = { ...base, extensions };
    const werift = new RtpHeader(fields);
    assert.equal(serializeRtpHeader(fields)!.toString('hex'), werift.serialize(werift.serializeSize).toString('hex'), JSON.stringify(extensions));
  }
});

test('CSRCs, extension ids or lengths outside the one-byte form: left to werift', () => {
  assert.equal(serializeRtpHeader({ ...base, csrc: [1], extensions: [] }), null);
  assert.equal(serializeRtpHeader({ ...base, extensions: [{ id: 15, payload: Buffer.from('x') }] }), null);
  assert.equal(serializeRtpHeader({ ...base, extensions: [{ id: 2, payload: Buffer.alloc(17) }] }), null);
  assert.equal(serializeRtpHeader({ ...base, extensions: [{ id: 2, payload: Buffer.alloc(0) }] }), null);
});
