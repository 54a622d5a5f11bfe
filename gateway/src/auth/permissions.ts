/** Permissions as users, JWT claims and config give them: actions on path patterns. */
import type { AccessAction } from '../core/access.js';
import { matchPath } from '../core/path.js';

export interface Permission {
  action: AccessAction;
  /** Path pattern (see core/path.ts `matchPath`); absent: every path. */
  path?: string;
}

const ACTIONS: readonly string[] = ['publish', 'read', 'api', 'metrics'];

/** Whether `permissions` allow `action` on `path` (api and metrics have no path). */
export function permits(permissions: readonly Permission[], action: AccessAction, path: string): boolean {
  return permissions.some((p) => p.action === action && (p.path === undefined || action === 'api' || action === 'metrics' || matchPath(p.path, path)));
}

/** Permissions from an untrusted value (a JWT claim): malformed entries are left out. */
export function permissionsFrom(value: unknown): Permission[] {
  if (!Array.isArray(value)) return [];
  const out: Permission[] = [];
  for (const entry of value.slice(0, 100)) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { action, path } = entry as { action?: unknown; path?: unknown };
    if (typeof action !== 'string' || !ACTIONS.includes(action)) continue;
    if (path !== undefined && (typeof path !== 'string' || path.length > 512 || path.startsWith('~'))) continue;
    out.push(path === undefined ? { action: action as AccessAction } : { action: action as AccessAction, path });
  }
  return out;
}
