/**
 * Pulling a stream from an SRT listener (a SourceDriver for `srt://host:port?streamid=…` sources):
 * the SRT caller reads MPEG-TS, which goes through SrtToStream as a publisher's would. `passphrase`
 * and `latency` (ms) come from the URL's query, as ffmpeg and srt-live-transmit take them.
 */
import { describeError } from '../../core/errors.js';
import type { SourceConfig, SourceConnection, SourceDriver, SourceSink } from '../../core/sources.js';
import { callerOptionsFromUrl, SrtCaller } from './caller.js';
import { SrtToStream } from './to-stream.js';

export class SrtSourceDriver implements SourceDriver {
  readonly schemes = ['srt:'] as const;

  open(config: SourceConfig, sink: SourceSink): SourceConnection {
    const u = new URL(config.url);
    let finish!: (reason: string) => void;
    const ended = new Promise<string>((resolve) => (finish = resolve));
    let caller: SrtCaller | null = null;
    let closed: string | null = null;
    let payloads = 0;
    const close = (reason: string): void => {
      if (closed !== null) return;
      closed = reason;
      caller?.close(reason);
      finish(reason);
    };
    void (async () => {
      try {
        caller = await SrtCaller.connect(callerOptionsFromUrl(config.url));
      } catch (err) {
        close(describeError(err));
        return;
      }
      if (closed !== null) return caller.close(closed);
      let ingest: SrtToStream | null = null;
      caller.on('close', (e) => {
        ingest?.end();
        close(e.reason);
      });
      caller.on('data', (payload) => {
        payloads++;
        if (!ingest) {
          try {
            const stream = sink.publish({ protocol: 'srt', remoteAddress: `${u.hostname}:${u.port}`, close });
            ingest = new SrtToStream(stream, sink.log);
          } catch (err) {
            close(`could not publish: ${describeError(err)}`);
            return;
          }
        }
        ingest.pushBatched(payload, performance.now());
      });
    })();
    return { ended, close, describe: () => ({ payloads }) };
  }
}
