/**
 * AMF0 (Action Message Format 0, Adobe AMF0 spec) encode/decode. Pure. Every limit is enforced
 * before allocation: nesting depth, element counts, string sizes never exceed the input.
 */
import { LimitError, ParseError } from '../core/errors.js';

export type Amf0Object = { [key: string]: Amf0Value };
export type Amf0Value = number | boolean | string | null | undefined | Date | Amf0Value[] | Amf0Object;

/** Objects decoded from (or to be encoded as) an ECMA array carry this marker. */
export const AMF0_ECMA_ARRAY: unique symbol = Symbol('amf0.ecma-array');

/** Makes an object that encodes as an AMF0 ECMA array (as FLV onMetaData is usually sent). */
export function ecmaArray(obj: Amf0Object): Amf0Object {
  Object.defineProperty(obj, AMF0_ECMA_ARRAY, { value: true, enumerable: false });
  return obj;
}

export function isEcmaArray(obj: Amf0Object): boolean {
  return (obj as { [AMF0_ECMA_ARRAY]?: boolean })[AMF0_ECMA_ARRAY] === true;
}

const enum Marker {
  Number = 0x00,
  Boolean = 0x01,
  String = 0x02,
  Object = 0x03,
  MovieClip = 0x04,
  Null = 0x05,
  Undefined = 0x06,
  Reference = 0x07,
  EcmaArray = 0x08,
  ObjectEnd = 0x09,
  StrictArray = 0x0a,
  Date = 0x0b,
  LongString = 0x0c,
  Unsupported = 0x0d,
  RecordSet = 0x0e,
  XmlDocument = 0x0f,
  TypedObject = 0x10,
  AvmPlusObject = 0x11,
}

export interface Amf0DecodeOptions {
  /** Deepest nesting of objects/arrays (default 64). */
  maxDepth?: number;
  /** Most keys or elements in one object/array (default 65536). */
  maxItems?: number;
}

// ---------------------------------------------------------------- encode

class Writer {
  private buf = Buffer.allocUnsafe(256);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.length++] = v;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.length);
    this.length += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.length);
    this.length += 4;
  }
  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.length);
    this.length += 8;
  }
  i16(v: number): void {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.length);
    this.length += 2;
  }
  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.length);
    this.length += b.length;
  }
  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

function writeKey(w: Writer, key: string): void {
  const b = Buffer.from(key, 'utf8');
  if (b.length > 0xffff) throw new LimitError(`AMF0 key longer than 65535 bytes`);
  w.u16(b.length);
  w.bytes(b);
}

function writeValue(w: Writer, v: Amf0Value, depth: number): void {
  if (depth > 64) throw new LimitError('AMF0 value nested too deep to encode');
  if (v === null) return w.u8(Marker.Null);
  if (v === undefined) return w.u8(Marker.Undefined);
  switch (typeof v) {
    case 'number':
      w.u8(Marker.Number);
      return w.f64(v);
    case 'boolean':
      w.u8(Marker.Boolean);
      return w.u8(v ? 1 : 0);
    case 'string': {
      const b = Buffer.from(v, 'utf8');
      if (b.length > 0xffff) {
        w.u8(Marker.LongString);
        w.u32(b.length);
      } else {
        w.u8(Marker.String);
        w.u16(b.length);
      }
      return w.bytes(b);
    }
  }
  if (v instanceof Date) {
    w.u8(Marker.Date);
    w.f64(v.getTime());
    return w.i16(0);
  }
  if (Array.isArray(v)) {
    w.u8(Marker.StrictArray);
    w.u32(v.length);
    for (const item of v) writeValue(w, item, depth + 1);
    return;
  }
  const entries = Object.entries(v);
  if (isEcmaArray(v)) {
    w.u8(Marker.EcmaArray);
    w.u32(entries.length);
  } else w.u8(Marker.Object);
  for (const [key, value] of entries) {
    writeKey(w, key);
    writeValue(w, value, depth + 1);
  }
  w.u16(0);
  w.u8(Marker.ObjectEnd);
}

/** Encodes values one after another (e.g. a command: name, transaction id, object, …). */
export function encodeAmf0(...values: Amf0Value[]): Buffer {
  const w = new Writer();
  for (const v of values) writeValue(w, v, 0);
  return w.result();
}

// ---------------------------------------------------------------- decode

class Reader {
  readonly refs: Amf0Value[] = [];
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly maxDepth: number,
    readonly maxItems: number,
  ) {}
  need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) throw new ParseError(`AMF0 ${what} truncated at byte ${this.pos}`);
  }
  u8(): number {
    this.need(1, 'value');
    return this.buf[this.pos++]!;
  }
  u16(): number {
    this.need(2, 'length');
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4, 'length');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  f64(): number {
    this.need(8, 'number');
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }
  str(len: number): string {
    this.need(len, 'string');
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
}

function readProperties(r: Reader, obj: Amf0Object, depth: number): void {
  let count = 0;
  for (;;) {
    const keyLen = r.u16();
    if (keyLen === 0) {
      r.need(1, 'object end');
      if (r.buf[r.pos] === Marker.ObjectEnd) {
        r.pos++;
        return;
      }
    }
    const key = r.str(keyLen);
    if (++count > r.maxItems) throw new LimitError(`AMF0 object with more than ${r.maxItems} keys`);
    // A key named __proto__ must stay data, never change the object's prototype.
    Object.defineProperty(obj, key, { value: readValue(r, depth + 1), enumerable: true, writable: true, configurable: true });
  }
}

function readValue(r: Reader, depth: number): Amf0Value {
  if (depth > r.maxDepth) throw new LimitError(`AMF0 nesting deeper than ${r.maxDepth}`);
  const marker = r.u8();
  switch (marker) {
    case Marker.Number:
      return r.f64();
    case Marker.Boolean:
      return r.u8() !== 0;
    case Marker.String:
      return r.str(r.u16());
    case Marker.LongString:
    case Marker.XmlDocument:
      return r.str(r.u32());
    case Marker.Null:
      return null;
    case Marker.Undefined:
    case Marker.Unsupported:
      return undefined;
    case Marker.Object: {
      const obj: Amf0Object = {};
      r.refs.push(obj);
      readProperties(r, obj, depth);
      return obj;
    }
    case Marker.TypedObject: {
      r.str(r.u16()); // class name: livegate has no use for it
      const obj: Amf0Object = {};
      r.refs.push(obj);
      readProperties(r, obj, depth);
      return obj;
    }
    case Marker.EcmaArray: {
      r.u32(); // the count is only a hint; the object end marker terminates (spec §2.10)
      const obj = ecmaArray({});
      r.refs.push(obj);
      readProperties(r, obj, depth);
      return obj;
    }
    case Marker.StrictArray: {
      const n = r.u32();
      if (n > r.maxItems) throw new LimitError(`AMF0 strict array of ${n} elements`);
      // Each element takes at least one byte: a count beyond the input is malformed.
      if (n > r.buf.length - r.pos) throw new ParseError(`AMF0 strict array of ${n} elements in ${r.buf.length - r.pos} bytes`);
      const arr: Amf0Value[] = [];
      r.refs.push(arr);
      for (let i = 0; i < n; i++) arr.push(readValue(r, depth + 1));
      return arr;
    }
    case Marker.Date: {
      const ms = r.f64();
      r.need(2, 'date timezone');
      r.pos += 2; // time zone: reserved, should be 0 (spec §2.13)
      return new Date(ms);
    }
    case Marker.Reference: {
      const i = r.u16();
      const v = r.refs[i];
      if (v === undefined) throw new ParseError(`AMF0 reference ${i} to an unknown object`);
      return v;
    }
    case Marker.ObjectEnd:
      throw new ParseError('AMF0 object end marker outside an object');
    case Marker.MovieClip:
    case Marker.RecordSet:
      throw new ParseError(`AMF0 reserved marker 0x${marker.toString(16)}`);
    case Marker.AvmPlusObject:
      throw new ParseError('AMF3 value inside AMF0 is not supported');
    default:
      throw new ParseError(`AMF0 unknown marker 0x${marker.toString(16)}`);
  }
}

/** Decodes one value at `offset`. */
export function decodeAmf0Value(buf: Buffer, offset = 0, opts: Amf0DecodeOptions = {}): { value: Amf0Value; offset: number } {
  const r = new Reader(buf, offset, opts.maxDepth ?? 64, opts.maxItems ?? 65536);
  const value = readValue(r, 0);
  return { value, offset: r.pos };
}

/** Decodes every value in `buf`. */
export function decodeAmf0(buf: Buffer, opts: Amf0DecodeOptions = {}): Amf0Value[] {
  const r = new Reader(buf, 0, opts.maxDepth ?? 64, opts.maxItems ?? 65536);
  const out: Amf0Value[] = [];
  while (r.pos < buf.length) {
    if (out.length >= r.maxItems) throw new LimitError('too many AMF0 values');
    out.push(readValue(r, 0));
  }
  return out;
}
