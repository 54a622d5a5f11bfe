/**
 * The access checker built from `auth.*`: IP rules first, then each method of `auth.methods` in
 * order until one has a verdict (a method passes on credentials that are not its own). With no
 * method configured, everything is allowed (the open default, which the gateway warns about).
 */
import { openAccess, type AccessChecker, type AccessRequest, type AccessVerdict } from '../core/access.js';
import { HookAuth, type HookOptions } from './hook.js';
import { IpRules, type IpRule } from './ip-rules.js';
import { JwtAuth, type JwtOptions } from './jwt.js';
import { forbidden, unauthorized, type AuthMethod } from './method.js';
import { InternalUsers, type UserEntry } from './users.js';

export type AuthMethodName = 'users' | 'jwt' | 'hook';

export interface AuthOptions {
  methods: AuthMethodName[];
  users: UserEntry[];
  jwt?: JwtOptions;
  hook?: HookOptions;
  ipRules: IpRule[];
}

export class ConfiguredAccess implements AccessChecker {
  private readonly methods: AuthMethod[];
  private readonly ipRules: IpRules;

  constructor(options: AuthOptions) {
    this.ipRules = new IpRules(options.ipRules);
    this.methods = options.methods.map((name): AuthMethod => {
      switch (name) {
        case 'users':
          return new InternalUsers(options.users);
        case 'jwt':
          if (!options.jwt) throw new Error('auth.methods names jwt: configure auth.jwt');
          return new JwtAuth(options.jwt);
        case 'hook':
          if (!options.hook) throw new Error('auth.methods names hook: configure auth.hook.url');
          return new HookAuth(options.hook);
      }
    });
  }

  /** No method: anyone may do anything (IP rules still apply). */
  get open(): boolean {
    return this.methods.length === 0;
  }

  async check(req: AccessRequest): Promise<AccessVerdict> {
    const refused = this.ipRules.refusal(req);
    if (refused) return forbidden(refused);
    if (this.methods.length === 0) return openAccess.check(req);
    for (const m of this.methods) {
      const verdict = await m.check(req);
      if (verdict) return verdict;
    }
    const given = req.token !== undefined || req.user !== undefined || req.password !== undefined;
    return unauthorized(given ? 'credentials not accepted' : 'credentials required');
  }
}
