/**
 * An opt-in probe for benchmarks: the time from a unit's arrival at the gateway to each write of
 * it to a reader. Off (null) in normal use; the check costs one comparison per write.
 */
export interface LatencyProbe {
  record(protocol: string, ms: number): void;
}

let probe: LatencyProbe | null = null;

export function setLatencyProbe(p: LatencyProbe | null): void {
  probe = p;
}

export function latencyProbe(): LatencyProbe | null {
  return probe;
}
