/**
 * Turns a raw H265 Annex-B file (made with x265 `aud=1`) into Enhanced RTMP video tag bodies, written
 * here from the E-RTMP v1 spec so the test does not depend on the code under test.
 */
export function splitAnnexB(buf: Buffer): Buffer[] {
  const nals: Buffer[] = [];
  let start = -1;
  let i = 0;
  while (i + 2 < buf.length) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      if (start >= 0) nals.push(trimZeros(buf.subarray(start, i)));
      start = i + 3;
      i += 3;
    } else i++;
  }
  if (start >= 0) nals.push(buf.subarray(start));
  return nals.filter((n) => n.length > 0);
}

function trimZeros(b: Buffer): Buffer {
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return b.subarray(0, end);
}

export const nalType = (nal: Buffer): number => (nal[0]! >> 1) & 0x3f;

/** Access units, split at access unit delimiters (type 35), delimiters dropped. */
export function accessUnits(file: Buffer): Buffer[][] {
  const aus: Buffer[][] = [];
  for (const nal of splitAnnexB(file)) {
    if (nalType(nal) === 35) aus.push([]);
    else aus[aus.length - 1]?.push(nal);
  }
  return aus.filter((au) => au.length > 0);
}

/** HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1) from VPS, SPS and PPS. */
export function buildHvcC(vps: Buffer, sps: Buffer, pps: Buffer): Buffer {
  // SPS: 2-byte NAL header, 1 byte (vps id, max sub layers, nesting), then profile_tier_level:
  // 1 byte space/tier/profile, 4 bytes compatibility flags, 6 bytes constraint flags, 1 byte level.
  const ptl = sps.subarray(3, 15);
  const head = Buffer.alloc(23);
  head[0] = 1;
  ptl.copy(head, 1, 0, 12);
  head.writeUInt16BE(0xf000, 13); // min_spatial_segmentation_idc = 0
  head[15] = 0xfc; // parallelismType = 0
  head[16] = 0xfc | 1; // chroma 4:2:0
  head[17] = 0xf8; // luma bit depth 8
  head[18] = 0xf8; // chroma bit depth 8
  head.writeUInt16BE(0, 19); // avgFrameRate
  head[21] = 0x0f; // constantFrameRate 0, 1 temporal layer, nested, lengthSizeMinusOne = 3
  head[22] = 3; // numOfArrays
  const array = (type: number, nal: Buffer) => {
    const b = Buffer.alloc(5);
    b[0] = 0x80 | type; // array_completeness
    b.writeUInt16BE(1, 1);
    b.writeUInt16BE(nal.length, 3);
    return Buffer.concat([b, nal]);
  };
  return Buffer.concat([head, array(32, vps), array(33, sps), array(34, pps)]);
}

const FOURCC_HVC1 = Buffer.from('hvc1', 'latin1');

/** E-RTMP: [IsExHeader | FrameType | PacketType] 'hvc1' [SI24 cts] data. */
export function exVideoBody(frameType: 1 | 2, packetType: 0 | 1 | 3, data: Buffer, cts = 0): Buffer {
  const head = Buffer.from([0x80 | (frameType << 4) | packetType]);
  const parts: Buffer[] = [head, FOURCC_HVC1];
  if (packetType === 1) {
    const c = Buffer.alloc(3);
    c.writeIntBE(cts, 0, 3);
    parts.push(c);
  }
  parts.push(data);
  return Buffer.concat(parts);
}

export function lengthPrefixed(nals: Buffer[]): Buffer {
  return Buffer.concat(
    nals.flatMap((n) => {
      const l = Buffer.alloc(4);
      l.writeUInt32BE(n.length);
      return [l, n];
    }),
  );
}
