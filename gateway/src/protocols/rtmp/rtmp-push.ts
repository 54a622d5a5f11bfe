/**
 * Pushing a live stream to an RTMP server (a PushDriver for `rtmp://` relay targets: another
 * livegate, a YouTube-style ingest): the RTMP client publishes the URL's stream and a reader of the
 * stream sends each unit's FLV body (made once per unit, shared with FLV readers), the sequence
 * headers first and again when they change. Opus audio goes as the stream's AAC rendition.
 */
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { MediaUnit, StreamMetadata, Track } from '../../core/media-unit.js';
import type { ReaderSink, StreamStart } from '../../core/reader.js';
import type { PushConnection, PushDriver } from '../../core/relays.js';
import type { Stream } from '../../core/stream.js';
import { flvBodyOf, flvCarries, flvOmits, flvTimestamp, sequenceHeaderBodyOf } from '../../format/flv-media.js';
import { RtmpClient } from './client.js';

/** The relay's reader: FLV bodies as RTMP messages; its socket backlog is what the core's slow-reader rule weighs. */
class PushReader implements ReaderSink {
  private lastTimestamp = 0;
  constructor(private readonly client: RtmpClient, private readonly socketBacklog: () => number) {}
  omits(track: Track): string | null {
    return flvOmits(track);
  }
  start(info: StreamStart): void {
    for (const t of info.tracks) this.trackUpdate(t);
  }
  trackUpdate(track: Track): void {
    const body = sequenceHeaderBodyOf(track);
    if (body) this.client.sendMedia(track.kind === 'video' ? 9 : 8, this.lastTimestamp, body);
  }
  unit(unit: MediaUnit): void {
    if (!flvCarries(unit.track)) return;
    this.lastTimestamp = flvTimestamp(unit);
    this.client.sendMedia(unit.track.kind === 'video' ? 9 : 8, this.lastTimestamp, flvBodyOf(unit));
  }
  metadata(_meta: StreamMetadata): void {}
  end(): void {
    this.client.close('stream ended');
  }
  backlog(): number {
    return this.socketBacklog();
  }
  drop(reason: string): void {
    this.client.close(reason);
  }
}

export class RtmpPushDriver implements PushDriver {
  readonly schemes = ['rtmp:'] as const;

  open(url: string, stream: Stream, log: Logger, onLive: () => void): PushConnection {
    const client = new RtmpClient({ timeoutMs: 10_000 });
    let finish!: (reason: string) => void;
    const ended = new Promise<string>((resolve) => (finish = resolve));
    let closeReader: (() => void) | null = null;
    client.on('close', (e) => {
      closeReader?.();
      finish(e.reason ?? 'connection closed');
    });
    void (async () => {
      try {
        await client.connect(url);
        await client.publish();
      } catch (err) {
        client.close(describeError(err));
        return;
      }
      if (stream.isEnded) return client.close('stream ended');
      const reader = new PushReader(client, () => client.backlog());
      const handle = stream.addReader({ id: `relay/${stream.path}/${url}`, protocol: 'rtmp-push', remoteAddress: new URL(url).host }, reader, { audio: ['aac', 'mp3'] });
      closeReader = () => handle.close();
      onLive();
      log.info('relay connected', { protocol: 'rtmp' });
    })();
    return { ended, close: (reason) => client.close(reason) };
  }
}
