/**
 * Stored passwords: plain text, `sha256:<hex or base64>`, or a PHC string of scrypt
 * (`$scrypt$ln=15,r=8,p=1$<salt b64>$<hash b64>`, what `npm run hash-password` prints): a slow,
 * memory-hard KDF from node:crypto, verified off the event loop, and remembered for a minute so a
 * player reconnecting does not pay it again.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const PHC_SCRYPT = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;
const REMEMBER_MS = 60_000;
const MAX_REMEMBERED = 10_000;

const sha256 = (s: string | Buffer): Buffer => createHash('sha256').update(s).digest();
const equal = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);

function scryptAsync(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** Whether a stored password is in a form this module reads (checked when the config loads). */
export function storedPasswordError(stored: string): string | null {
  if (stored.startsWith('sha256:')) {
    const v = stored.slice(7);
    return /^[0-9a-f]{64}$/i.test(v) || Buffer.from(v, 'base64').length === 32 ? null : 'sha256: takes 32 bytes in hex or base64';
  }
  if (stored.startsWith('$')) {
    const m = PHC_SCRYPT.exec(stored);
    if (!m) return 'a hashed password is $scrypt$ln=…,r=…,p=…$salt$hash (npm run hash-password)';
    if (Number(m[1]) > 20 || Number(m[1]) < 10) return 'scrypt ln is 10–20';
    return null;
  }
  return null;
}

export class PasswordVerifier {
  private readonly remembered = new Map<string, number>();

  async verify(stored: string, given: string): Promise<boolean> {
    if (given.length > 1024) return false;
    if (stored.startsWith('sha256:')) {
      const v = stored.slice(7);
      const want = /^[0-9a-f]{64}$/i.test(v) ? Buffer.from(v, 'hex') : Buffer.from(v, 'base64');
      return equal(sha256(given), want);
    }
    const m = PHC_SCRYPT.exec(stored);
    if (!m) return equal(sha256(given), sha256(stored));
    const key = sha256(`${stored}\n${given}`).toString('base64');
    const until = this.remembered.get(key);
    if (until !== undefined && until > Date.now()) return true;
    const want = Buffer.from(m[5]!, 'base64');
    const N = 2 ** Number(m[1]);
    const r = Number(m[2]);
    const got = await scryptAsync(given, Buffer.from(m[4]!, 'base64'), want.length, { N, r, p: Number(m[3]), maxmem: 256 * N * r });
    const ok = equal(got, want);
    if (ok) {
      if (this.remembered.size >= MAX_REMEMBERED) this.remembered.clear();
      this.remembered.set(key, Date.now() + REMEMBER_MS);
    }
    return ok;
  }
}

/** A PHC scrypt string for `password` (ln=15: about 50 ms and 32 MiB per check). */
export async function hashPassword(password: string, ln = 15): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, 32, { N: 2 ** ln, r: 8, p: 1, maxmem: 256 * 2 ** ln * 8 });
  return `$scrypt$ln=${ln},r=8,p=1$${salt.toString('base64')}$${hash.toString('base64')}`;
}
