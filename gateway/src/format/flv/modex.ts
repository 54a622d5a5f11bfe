/** Enhanced RTMP v2 ModEx prefixes, shared by audio and video tag bodies. Pure. */
import { ParseError } from '../../core/errors.js';

export const PACKET_TYPE_MODEX = 7;

/**
 * Skips ModEx prefixes: [size-1 (u8; 0xff → u16 follows, +1)] [modifier data] [modExType:4 | packetType:4],
 * repeated while the packet type is ModEx. Returns the real packet type and where the body goes on.
 */
export function skipModEx(body: Buffer, pos: number, packetType: number, what: string): { packetType: number; pos: number } {
  while (packetType === PACKET_TYPE_MODEX) {
    if (pos >= body.length) throw new ParseError(`truncated ModEx ${what} tag`);
    let size = body[pos++]! + 1;
    if (size === 256) {
      if (pos + 2 > body.length) throw new ParseError(`truncated ModEx ${what} tag`);
      size = body.readUInt16BE(pos) + 1;
      pos += 2;
    }
    pos += size;
    if (pos >= body.length) throw new ParseError(`truncated ModEx ${what} tag`);
    packetType = body[pos++]! & 0x0f;
  }
  return { packetType, pos };
}
