/**
 * `GET /api/v1/cluster`: the nodes of the cluster (URLs, load, live paths), who holds which path,
 * what this node pulls and which edges read from it. And the cluster's redirect mode: an HTTP
 * player (FLV, HLS playlist) asking a node that does not have the path is sent (302) to the
 * least-loaded node that has it.
 */
import type { ServerResponse } from 'node:http';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { normalizePath } from '../core/path.js';
import type { StreamRegistry } from '../core/stream-registry.js';
import { apiAllowed } from '../http/api-access.js';
import { sendJson, type HttpServer } from '../http/http-server.js';

/** The first request of an HTTP player: an FLV stream or an HLS multivariant/media playlist. */
const PLAYER_ENTRY = /^\/(?<path>.+?)(?<file>\.flv|\/index\.m3u8)$/;

export function registerClusterApi(http: HttpServer, cluster: ClusterNode, registry: StreamRegistry, redirect: boolean): void {
  http.route('GET', '/api/v1/cluster', async (req, res, _params, url) => {
    if (!(await apiAllowed(registry, req, res, url))) return;
    sendJson(res, 200, await cluster.view());
  });
  if (!redirect) return;
  http.guard(PLAYER_ENTRY, async (req, res: ServerResponse, params) => {
    const path = normalizePath(params.path ?? '');
    if (!path || registry.get(path)) return false;
    let target: string | null = null;
    try {
      target = await cluster.redirectTarget(path);
    } catch {
      return false;
    }
    if (!target) return false;
    res.writeHead(302, { Location: new URL(req.url ?? '/', target).toString(), 'Cache-Control': 'no-store' });
    res.end();
    return true;
  });
}
