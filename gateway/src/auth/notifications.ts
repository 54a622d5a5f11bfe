/**
 * Lifecycle notifications for billing and analytics: `on_publish`, `on_unpublish`, `on_read` and
 * `on_read_end` are POSTed as JSON to `auth.hook.notifyUrl`, fire-and-forget: media never waits for
 * them. A notification that fails is retried twice (after 1 s, then 3 s); past 1,000 waiting, new
 * ones are dropped and counted. Readers inside the gateway (HLS muxers, transcoders) are not viewers
 * and are not notified; an HLS viewer is its requests, each admitted, not a session.
 */
import type { Logger } from '../core/log.js';
import type { ReaderInfo } from '../core/reader.js';
import type { PublisherInfo, Stream } from '../core/stream.js';
import type { StreamRegistry } from '../core/stream-registry.js';

export type LifecycleEvent = 'on_publish' | 'on_unpublish' | 'on_read' | 'on_read_end';

export interface Notification {
  event: LifecycleEvent;
  path: string;
  protocol: string;
  id: string;
  ip: string;
  user: string;
  query: string;
  reason?: string;
  /** ms since the epoch. */
  time: number;
}

const RETRY_DELAYS_MS = [1000, 3000];
const MAX_IN_FLIGHT = 1000;
const TIMEOUT_MS = 5000;

export class LifecycleNotifier {
  private inFlight = 0;
  dropped = 0;
  sent = 0;
  failed = 0;
  private readonly detach: () => void;

  constructor(
    private readonly url: string,
    registry: StreamRegistry,
    private readonly log: Logger,
  ) {
    const onPublish = (stream: Stream): void => {
      this.publisherEvent('on_publish', stream.path, stream.publisher);
      const added = (r: ReaderInfo): void => {
        if (r.grant) this.readerEvent('on_read', stream.path, r);
      };
      const removed = (r: ReaderInfo & { reason: string }): void => {
        if (r.grant) this.readerEvent('on_read_end', stream.path, r, r.reason);
      };
      stream.on('reader-added', added);
      stream.on('reader-removed', removed);
    };
    const onUnpublish = ({ stream, reason }: { stream: Stream; reason: string }): void => this.publisherEvent('on_unpublish', stream.path, stream.publisher, reason);
    const onTakeover = ({ stream, previous, reason }: { stream: Stream; previous: PublisherInfo; reason: string }): void => {
      this.publisherEvent('on_unpublish', stream.path, previous, reason);
      this.publisherEvent('on_publish', stream.path, stream.publisher);
    };
    registry.on('publish', onPublish);
    registry.on('unpublish', onUnpublish);
    registry.on('takeover', onTakeover);
    this.detach = () => {
      registry.off('publish', onPublish);
      registry.off('unpublish', onUnpublish);
      registry.off('takeover', onTakeover);
    };
  }

  close(): void {
    this.detach();
  }

  private publisherEvent(event: LifecycleEvent, path: string, p: PublisherInfo, reason?: string): void {
    this.notify({ event, path, protocol: p.protocol, id: p.id, ip: p.grant?.request.ip ?? p.remoteAddress, user: p.grant?.identity ?? '', query: p.query ?? '', ...(reason ? { reason } : {}), time: Date.now() });
  }

  private readerEvent(event: LifecycleEvent, path: string, r: ReaderInfo, reason?: string): void {
    this.notify({ event, path, protocol: r.protocol, id: r.id, ip: r.grant?.request.ip ?? r.remoteAddress, user: r.grant?.identity ?? '', query: r.query ?? '', ...(reason ? { reason } : {}), time: Date.now() });
  }

  private notify(n: Notification): void {
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.dropped++;
      return;
    }
    this.inFlight++;
    void this.deliver(n, 0).finally(() => this.inFlight--);
  }

  private async deliver(n: Notification, attempt: number): Promise<void> {
    try {
      const res = await fetch(this.url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(n), signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) {
        this.sent++;
        return;
      }
      throw new Error(`status ${res.status}`);
    } catch (err) {
      const delay = RETRY_DELAYS_MS[attempt];
      if (delay === undefined) {
        this.failed++;
        this.log.warn('lifecycle notification failed', { event: n.event, path: n.path, id: n.id, reason: (err as Error).message });
        return;
      }
      await new Promise((r) => setTimeout(r, delay).unref());
      return this.deliver(n, attempt + 1);
    }
  }
}
