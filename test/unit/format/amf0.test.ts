/** AMF0 golden bytes (spec examples and real ffmpeg 5.1 messages) and hostile inputs. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LimitError, ParseError } from '../../../gateway/src/core/errors.js';
import { decodeAmf0, decodeAmf0Value, ecmaArray, encodeAmf0, isEcmaArray, type Amf0Value } from '../../../gateway/src/format/amf0.js';

/** One row: a value and its exact AMF0 bytes. Drives decode and encode. */
const TABLE: { name: string; value: Amf0Value; hex: string }[] = [
  { name: 'number 1', value: 1, hex: '003ff0000000000000' },
  { name: 'number -0.5', value: -0.5, hex: '00bfe0000000000000' },
  { name: 'boolean true', value: true, hex: '0101' },
  { name: 'boolean false', value: false, hex: '0100' },
  { name: 'string', value: 'connect', hex: '020007636f6e6e656374' },
  { name: 'empty string', value: '', hex: '020000' },
  { name: 'utf-8 string', value: 'é', hex: '020002c3a9' },
  { name: 'null', value: null, hex: '05' },
  { name: 'undefined', value: undefined, hex: '06' },
  { name: 'object', value: { app: 'live' }, hex: '03000361707002000' + '46c697665000009' },
  { name: 'nested object', value: { a: { b: true } }, hex: '030001610300016201010000090000' + '09' },
  { name: 'strict array', value: [1, 'x'], hex: '0a00000002003ff000000000000002000178' },
  { name: 'date', value: new Date(0), hex: '0b00000000000000000000' },
];

describe('AMF0 table', () => {
  for (const row of TABLE) {
    test(`decode ${row.name}`, () => {
      assert.deepEqual(decodeAmf0(Buffer.from(row.hex, 'hex')), [row.value]);
    });
    test(`encode ${row.name}`, () => {
      assert.equal(encodeAmf0(row.value).toString('hex'), row.hex);
    });
  }
});

describe('AMF0 other types', () => {
  test('ECMA array decodes to an object and re-encodes as an ECMA array', () => {
    const hex = '08' + '00000001' + '0001' + '61' + '00' + '4000000000000000' + '0000' + '09';
    const [v] = decodeAmf0(Buffer.from(hex, 'hex'));
    assert.deepEqual({ ...(v as object) }, { a: 2 });
    assert.ok(isEcmaArray(v as { [k: string]: Amf0Value }));
    assert.equal(encodeAmf0(v!).toString('hex'), hex);
    assert.equal(encodeAmf0(ecmaArray({ a: 2 })).toString('hex'), hex);
  });
  test('long string, XML document, typed object, reference', () => {
    const long = 'x'.repeat(70000);
    const enc = encodeAmf0(long);
    assert.equal(enc[0], 0x0c);
    assert.equal(decodeAmf0(enc)[0], long);
    assert.equal(decodeAmf0(Buffer.from('0f0000000161', 'hex'))[0], 'a');
    assert.deepEqual(decodeAmf0(Buffer.from('100001430001610101000009', 'hex'))[0], { a: true });
    const [obj, ref] = decodeAmf0(Buffer.from('030001610101000009' + '070000', 'hex'));
    assert.equal(ref, obj);
  });
  test('a __proto__ key stays data', () => {
    const [v] = decodeAmf0(Buffer.from('030009' + Buffer.from('__proto__').toString('hex') + '0101000009', 'hex'));
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.equal((v as Record<string, unknown>)['__proto__'], true);
  });
  test('the connect command ffmpeg 5.1 sends', () => {
    const hex =
      '020007636f6e6e656374003ff00000000000000300036170700200046c69766500047479706502000a6e6f6e707269766174650008666c617368566572020024464d4c452f332e302028636f6d70617469626c653b204c61766635392e32372e313030290005746355726c02001b72746d703a2f2f3132372e302e302e313a34333231312f6c697665000009';
    const values = decodeAmf0(Buffer.from(hex, 'hex'));
    assert.deepEqual(values, [
      'connect',
      1,
      { app: 'live', type: 'nonprivate', flashVer: 'FMLE/3.0 (compatible; Lavf59.27.100)', tcUrl: 'rtmp://127.0.0.1:43211/live' },
    ]);
    assert.equal(encodeAmf0(...values).toString('hex'), hex);
  });
});

describe('AMF0 hostile input', () => {
  test('nesting 10,000 deep throws LimitError (no stack overflow)', () => {
    const b = Buffer.alloc(10_000 * 4);
    for (let i = 0; i < 10_000; i++) b.set([0x03, 0x00, 0x01, 0x61], i * 4);
    assert.throws(() => decodeAmf0(b), LimitError);
    const arrays = Buffer.alloc(10_000 * 5);
    for (let i = 0; i < 10_000; i++) arrays.set([0x0a, 0, 0, 0, 1], i * 5);
    assert.throws(() => decodeAmf0(arrays), LimitError);
  });
  test('a strict array claiming 2^32-1 elements is refused without allocating', () => {
    assert.throws(() => decodeAmf0(Buffer.from('0affffffff', 'hex')), LimitError);
    assert.throws(() => decodeAmf0(Buffer.from('0a0000ffff00', 'hex')), ParseError);
  });
  test('every truncation of a valid message throws ParseError', () => {
    const full = encodeAmf0({ cmd: 'connect', app: 'live', n: 5, list: [1, 2], d: new Date(5) });
    for (let n = 1; n < full.length; n++) {
      assert.throws(() => decodeAmf0(full.subarray(0, n)), ParseError, `length ${n}`);
    }
  });
  test('unknown markers, bad references and stray object ends throw ParseError', () => {
    for (const hex of ['ff', '11', '04', '0e', '09', '070005', '0d0a']) {
      assert.throws(() => decodeAmf0(Buffer.from(hex, 'hex')), ParseError, hex);
    }
  });
  test('random bytes never crash: ParseError or LimitError or a value', () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(Array.from({ length: 1 + (i % 64) }, rand));
      try {
        decodeAmf0Value(b);
      } catch (err) {
        assert.ok(err instanceof ParseError || err instanceof LimitError, String(err));
      }
    }
  });
});
