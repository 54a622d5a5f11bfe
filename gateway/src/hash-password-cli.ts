/**
 * `npm run hash-password -- <password>` (or the password on stdin): prints the `$scrypt$…` string to
 * put in `auth.users[].pass`, so that the config file holds no password in clear.
 */
import { hashPassword } from './auth/password.js';

async function main(): Promise<void> {
  let password = process.argv[2];
  if (password === undefined) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  }
  if (!password) {
    process.stderr.write('usage: npm run hash-password -- <password>   (or the password on stdin)\n');
    process.exit(2);
  }
  process.stdout.write((await hashPassword(password)) + '\n');
}

void main();
