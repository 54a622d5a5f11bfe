/**
 * Pushing a live stream to an SRT listener (a PushDriver for `srt://host:port?streamid=…` relay
 * targets: another livegate, a decoder, srt-live-transmit): the SRT caller publishes MPEG-TS that a
 * muxer of its own makes from the stream (`passphrase` and `latency` from the URL's query).
 */
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { MediaUnit, StreamMetadata, Track } from '../../core/media-unit.js';
import type { ReaderSink, StreamStart } from '../../core/reader.js';
import type { PushConnection, PushDriver } from '../../core/relays.js';
import type { Stream } from '../../core/stream.js';
import { UnitsToTs } from '../../format/mpegts/ts-media.js';
import { callerOptionsFromUrl, SrtCaller } from './caller.js';
import { LIVE_PAYLOAD_SIZE } from './packet.js';

class PushReader implements ReaderSink {
  private readonly ts = new UnitsToTs();
  constructor(private readonly caller: SrtCaller) {}
  start(info: StreamStart): void {
    this.ts.setTracks(info.tracks);
  }
  trackUpdate(_track: Track, tracks: readonly Track[]): void {
    this.ts.setTracks(tracks);
  }
  unit(unit: MediaUnit): void {
    const bytes = this.ts.mux(unit);
    for (let pos = 0; pos < bytes.length; pos += LIVE_PAYLOAD_SIZE) this.caller.write(bytes.subarray(pos, pos + LIVE_PAYLOAD_SIZE));
  }
  metadata(_meta: StreamMetadata): void {}
  end(): void {
    this.caller.close('stream ended');
  }
  backlog(): number {
    return this.caller.backlog();
  }
  drop(reason: string): void {
    this.caller.close(reason);
  }
}

export class SrtPushDriver implements PushDriver {
  readonly schemes = ['srt:'] as const;

  open(url: string, stream: Stream, log: Logger, onLive: () => void): PushConnection {
    const u = new URL(url);
    let finish!: (reason: string) => void;
    const ended = new Promise<string>((resolve) => (finish = resolve));
    let caller: SrtCaller | null = null;
    let closed: string | null = null;
    let closeReader: (() => void) | null = null;
    const close = (reason: string): void => {
      if (closed !== null) return;
      closed = reason;
      closeReader?.();
      caller?.close(reason);
      finish(reason);
    };
    void (async () => {
      try {
        caller = await SrtCaller.connect(callerOptionsFromUrl(url));
      } catch (err) {
        close(describeError(err));
        return;
      }
      if (closed !== null) return caller.close(closed);
      caller.on('close', (e) => close(e.reason));
      if (stream.isEnded) return close('stream ended');
      const handle = stream.addReader({ id: `relay/${stream.path}/${url}`, protocol: 'srt-push', remoteAddress: `${u.hostname}:${u.port}` }, new PushReader(caller), { audio: ['aac', 'opus', 'mp3'] });
      closeReader = () => handle.close();
      onLive();
      log.info('relay connected', { protocol: 'srt' });
    })();
    return { ended, close };
  }
}
