/** STUN routing facts against the RFC 5769 test vectors (short-term credentials, IPv4 response). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bindingRequest, checkedUfrag, hasValidIntegrity, isStun, mappedAddress, stunTransactionId, stunUsername } from '../../../gateway/src/format/stun.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** RFC 5769 §2.1: a Binding request with USERNAME "evtj:h6vY", password "VOkJxbRl1RmTxUk/WvJxBt". */
const SAMPLE_REQUEST = hex(`
  0001 0058 2112a442 b7e7a701 bc34d686 fa87dfae
  8022 0010 5354554e 20746573 7420636c 69656e74
  0024 0004 6e0001ff
  8029 0008 932ff9b1 51263b36
  0006 0009 6576746a 3a683676 59202020
  0008 0014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2
  8028 0004 e57a3bcf`);

/** RFC 5769 §2.2: a Binding success response, XOR-MAPPED-ADDRESS 192.0.2.1:32853. */
const SAMPLE_IPV4_RESPONSE = hex(`
  0101 003c 2112a442 b7e7a701 bc34d686 fa87dfae
  8022 000b 74657374 20766563 746f7220
  0020 0008 0001a147 e112a643
  0008 0014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
  8028 0004 c07d4c96`);

test('RFC 5769 request: recognised, USERNAME read, integrity checked with the right password only', () => {
  assert.ok(isStun(SAMPLE_REQUEST));
  assert.equal(stunUsername(SAMPLE_REQUEST), 'evtj:h6vY');
  assert.equal(checkedUfrag(SAMPLE_REQUEST), 'evtj');
  assert.equal(hasValidIntegrity(SAMPLE_REQUEST, 'VOkJxbRl1RmTxUk/WvJxBt'), true);
  assert.equal(hasValidIntegrity(SAMPLE_REQUEST, 'VOkJxbRl1RmTxUk/WvJxBT'), false);
  const tampered = Buffer.from(SAMPLE_REQUEST);
  tampered[30] = tampered[30]! ^ 1; // inside SOFTWARE
  assert.equal(hasValidIntegrity(tampered, 'VOkJxbRl1RmTxUk/WvJxBt'), false);
});

test('RFC 5769 IPv4 response: the XOR-MAPPED-ADDRESS', () => {
  assert.deepEqual(mappedAddress(SAMPLE_IPV4_RESPONSE), { address: '192.0.2.1', port: 32853 });
  assert.equal(mappedAddress(SAMPLE_REQUEST), undefined);
});

test('DTLS, RTP, truncated and oversized data are not STUN; malformed attributes read as absent', () => {
  assert.equal(isStun(Buffer.from([22, 254, 253, ...new Array(30).fill(0)])), false); // DTLS record
  assert.equal(isStun(Buffer.from([0x80, 96, ...new Array(30).fill(0)])), false); // RTP
  assert.equal(isStun(SAMPLE_REQUEST.subarray(0, 40)), false); // length field disagrees
  assert.equal(isStun(Buffer.alloc(2000)), false);
  const noUsername = Buffer.from(SAMPLE_REQUEST);
  noUsername.writeUInt16BE(0x7fff, 20 + (4 + 16) + (4 + 4) + (4 + 8) + 2); // USERNAME's length runs past the end
  assert.equal(stunUsername(noUsername), undefined);
  assert.equal(checkedUfrag(noUsername), undefined);
  assert.equal(hasValidIntegrity(noUsername, 'VOkJxbRl1RmTxUk/WvJxBt'), false);
});

test('a Binding request for public address discovery', () => {
  const id = Buffer.from('000102030405060708090a0b', 'hex');
  const req = bindingRequest(id);
  assert.deepEqual(req, hex('0001 0000 2112a442 000102030405060708090a0b'));
  assert.ok(isStun(req));
  assert.deepEqual(stunTransactionId(req), id);
});
