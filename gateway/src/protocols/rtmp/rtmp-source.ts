/**
 * Pulling a stream from another RTMP server (a SourceDriver for `rtmp://` sources): the RTMP client
 * plays the URL and its media goes through RtmpToStream, as a publisher's would.
 */
import { describeError } from '../../core/errors.js';
import type { SourceConfig, SourceConnection, SourceDriver, SourceSink } from '../../core/sources.js';
import { RtmpClient, parseRtmpUrl } from './client.js';
import { RtmpToStream } from './to-stream.js';

export class RtmpSourceDriver implements SourceDriver {
  readonly schemes = ['rtmp:'] as const;
  constructor(private readonly timeoutMs = 10_000) {}

  open(config: SourceConfig, sink: SourceSink): SourceConnection {
    const client = new RtmpClient({ timeoutMs: this.timeoutMs });
    let finish!: (reason: string) => void;
    const ended = new Promise<string>((resolve) => (finish = resolve));
    const { host, port } = parseRtmpUrl(config.url);
    let ingest: RtmpToStream | null = null;
    let media = 0;
    client.on('close', (e) => finish(e.reason ?? 'connection closed'));
    client.on('media', (m) => {
      media++;
      if (!ingest) {
        try {
          const stream = sink.publish({ protocol: 'rtmp', remoteAddress: `${host}:${port}`, close: (reason) => client.close(reason) });
          ingest = new RtmpToStream(stream, sink.log);
        } catch (err) {
          client.close(`could not publish: ${describeError(err)}`);
          return;
        }
      }
      const now = performance.now();
      if (m.typeId === 9) ingest.video(m.timestamp, m.payload, now);
      else if (m.typeId === 8) ingest.audio(m.timestamp, m.payload, now);
      // One fan-out per socket read, as for a publisher (readers get one write for all its messages).
      ingest.flushSoon();
    });
    void (async () => {
      try {
        await client.connect(config.url);
        await client.play();
      } catch (err) {
        client.close(describeError(err));
      }
    })();
    return {
      ended,
      close: (reason) => client.close(reason),
      describe: () => ({ messages: media }),
    };
  }
}
