/**
 * Internal users from the config: `{ user, pass, ips, permissions }`. The user `any` stands for
 * every client, with or without credentials (e.g. `{ user: any, permissions: [{ action: read }] }`
 * makes reading open while publishing needs a user). A user name this list does not know is not this
 * method's to judge (a later method may know it); a known name with a wrong password is refused.
 */
import type { BlockList } from 'node:net';
import type { AccessRequest, AccessVerdict } from '../core/access.js';
import { allow, forbidden, unauthorized, type AuthMethod } from './method.js';
import { PasswordVerifier } from './password.js';
import { permits, type Permission } from './permissions.js';
import { blockListOf, inList } from './ip-rules.js';

export interface UserEntry {
  user: string;
  /** Plain, `sha256:…` or `$scrypt$…`; absent for `any`. */
  pass?: string;
  /** CIDRs the user may connect from; absent: anywhere. */
  ips?: string[];
  permissions: Permission[];
}

interface User extends UserEntry {
  from: BlockList | null;
}

export class InternalUsers implements AuthMethod {
  readonly name = 'users';
  private readonly byName = new Map<string, User>();
  private readonly anyone: User | null;
  private readonly passwords = new PasswordVerifier();

  constructor(entries: readonly UserEntry[]) {
    for (const e of entries) this.byName.set(e.user, { ...e, from: e.ips ? blockListOf(e.ips) : null });
    this.anyone = this.byName.get('any') ?? null;
    this.byName.delete('any');
  }

  async check(req: AccessRequest): Promise<AccessVerdict | null> {
    const known = req.user !== undefined ? this.byName.get(req.user) : undefined;
    if (known) {
      if (known.pass !== undefined && !(await this.passwords.verify(known.pass, req.password ?? ''))) return unauthorized('wrong user name or password');
      if (known.from && !inList(known.from, req.ip)) return forbidden(`user ${known.user} may not connect from ${req.ip}`);
      if (!permits(known.permissions, req.action, req.path)) return forbidden(`user ${known.user} may not ${req.action}${req.path ? ` ${req.path}` : ''}`);
      return allow(this.name, known.user);
    }
    const any = this.anyone;
    if (any && (!any.from || inList(any.from, req.ip)) && permits(any.permissions, req.action, req.path)) return allow(this.name, null);
    return null;
  }
}
