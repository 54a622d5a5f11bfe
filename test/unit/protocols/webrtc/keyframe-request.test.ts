import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PictureLossIndication, ReceiverEstimatedMaxBitrate, RtcpPayloadSpecificFeedback, RtcpRrPacket, RtcpPacketConverter } from 'werift';
import { isKeyframeRequest } from '../../../../gateway/src/protocols/webrtc/whep-session.js';

/** Through the wire form and back, as werift hands packets to livegate. */
function received(packet: { serialize(): Buffer }) {
  return RtcpPacketConverter.deSerialize(packet.serialize())[0]!;
}

test('PLI and FIR are keyframe requests; REMB (same packet type, fmt 15) and receiver reports are not', () => {
  const pli = new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: 1, mediaSsrc: 2 }) });
  // FIR (RFC 5104 §4.3.1), written out: V=2 FMT=4, PT 206, length 4; sender 1, media 0; FCI ssrc 2, seq 1.
  const fir = { serialize: () => Buffer.from('84ce0004' + '00000001' + '00000000' + '00000002' + '01000000', 'hex') };
  const remb = new RtcpPayloadSpecificFeedback({
    feedback: new ReceiverEstimatedMaxBitrate({ senderSsrc: 1, mediaSsrc: 0, brExp: 2, brMantissa: 500_000, ssrcNum: 1, ssrcFeedbacks: [2] }),
  });
  assert.equal(isKeyframeRequest(received(pli)), true);
  assert.equal(isKeyframeRequest(received(fir)), true);
  assert.equal(isKeyframeRequest(received(remb)), false);
  assert.equal(isKeyframeRequest(received(new RtcpRrPacket({ ssrc: 1, reports: [] }))), false);
});
