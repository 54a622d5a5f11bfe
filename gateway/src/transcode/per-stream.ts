/** One shared object per stream (a transcoder feed): made on first use, made again once closed. */
import type { Stream } from '../core/stream.js';

export class PerStream<T extends { readonly isClosed: boolean }> {
  private readonly items = new WeakMap<Stream, T>();

  get(stream: Stream, make: () => T): T {
    let item = this.items.get(stream);
    if (!item || item.isClosed) {
      item = make();
      this.items.set(stream, item);
    }
    return item;
  }

  existing(stream: Stream): T | undefined {
    return this.items.get(stream);
  }

  /** `item` is done: the next `get` makes a new one (unless another already took its place). */
  forget(stream: Stream, item: T): void {
    if (this.items.get(stream) === item) this.items.delete(stream);
  }
}
