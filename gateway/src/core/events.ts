/**
 * A small typed event emitter: listeners cannot get the wrong payload shape, and a listener that
 * throws is reported through `onListenerError` instead of breaking the emitter's caller.
 */
export type EventMap = { [name: string]: unknown };
type Listener<T> = (payload: T) => void;

export class TypedEmitter<E extends EventMap> {
  private readonly listeners = new Map<keyof E, Set<Listener<never>>>();

  /** Called when a listener throws; the default logs to stderr. */
  onListenerError: (err: unknown, event: keyof E) => void = (err, event) => {
    console.error(`livegate: listener for "${String(event)}" threw`, err);
  };

  on<K extends keyof E>(name: K, fn: Listener<E[K]>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(fn as Listener<never>);
    return () => this.off(name, fn);
  }

  once<K extends keyof E>(name: K, fn: Listener<E[K]>): () => void {
    const off = this.on(name, (payload) => {
      off();
      fn(payload);
    });
    return off;
  }

  off<K extends keyof E>(name: K, fn: Listener<E[K]>): void {
    this.listeners.get(name)?.delete(fn as Listener<never>);
  }

  protected emit<K extends keyof E>(name: K, payload: E[K]): void {
    const set = this.listeners.get(name);
    if (!set || set.size === 0) return;
    for (const fn of [...set]) {
      try {
        (fn as Listener<E[K]>)(payload);
      } catch (err) {
        this.onListenerError(err, name);
      }
    }
  }

  protected removeAllListeners(): void {
    this.listeners.clear();
  }
}
