/**
 * IP rules: per action, CIDR lists to allow and to deny (node:net BlockList). Deny wins; an allow
 * list, when given, admits only its addresses. Checked before any credentials.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { AccessAction, AccessRequest } from '../core/access.js';

export interface IpRule {
  /** The actions the rule is about; absent: all. */
  actions?: AccessAction[];
  allow?: string[];
  deny?: string[];
}

/** A BlockList of addresses and CIDRs (`10.0.0.0/8`, `::1`, `192.168.1.7`); throws on a bad entry. */
export function blockListOf(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/');
    const type = isIPv4(address ?? '') ? 'ipv4' : isIPv6(address ?? '') ? 'ipv6' : null;
    if (!type || !address) throw new Error(`"${entry}" is not an IP address or CIDR`);
    if (bits === undefined) list.addAddress(address, type);
    else {
      const prefix = Number(bits);
      if (!/^\d{1,3}$/.test(bits) || prefix > (type === 'ipv4' ? 32 : 128)) throw new Error(`"${entry}" has a bad prefix length`);
      list.addSubnet(address, prefix, type);
    }
  }
  return list;
}

/** IPv4 clients of a dual-stack socket appear as `::ffff:a.b.c.d`. */
function plainAddress(ip: string): { ip: string; type: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return { ip: mapped[1]!, type: 'ipv4' };
  return { ip, type: isIPv4(ip) ? 'ipv4' : 'ipv6' };
}

/** Whether `ip` (as a socket gives it) is in `list`. */
export function inList(list: BlockList, ip: string): boolean {
  if (!isIPv4(ip) && !isIPv6(ip)) return false;
  const a = plainAddress(ip);
  return list.check(a.ip, a.type);
}

export class IpRules {
  private readonly rules: { actions: AccessAction[] | null; allow: BlockList | null; deny: BlockList | null }[];

  constructor(rules: readonly IpRule[]) {
    this.rules = rules.map((r) => ({ actions: r.actions ?? null, allow: r.allow ? blockListOf(r.allow) : null, deny: r.deny ? blockListOf(r.deny) : null }));
  }

  /** Why `req`'s address may not do its action, or null. */
  refusal(req: AccessRequest): string | null {
    if (!isIPv4(req.ip) && !isIPv6(req.ip)) return this.rules.length > 0 ? `unknown client address "${req.ip}"` : null;
    const { ip, type } = plainAddress(req.ip);
    for (const r of this.rules) {
      if (r.actions && !r.actions.includes(req.action)) continue;
      if (r.deny?.check(ip, type)) return `${req.ip} may not ${req.action}`;
      if (r.allow && !r.allow.check(ip, type)) return `${req.ip} may not ${req.action}`;
    }
    return null;
  }
}
