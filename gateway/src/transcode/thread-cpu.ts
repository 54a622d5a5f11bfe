/**
 * CPU time of single threads of this process, from /proc (Linux). Node 20 measures CPU per process
 * only, but a transcoder's cost is spread over threads (its share of the host worker, its encoder's
 * own worker): these read each thread's counter. Elsewhere every function returns null / [].
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Kernel ticks per second of /proc/.../stat (USER_HZ; 100 on every common Linux build). */
const CLK_TCK = 100;

/** The calling thread's id (its tid), or null. */
export function currentThreadId(): number | null {
  try {
    // "/proc/thread-self" → "<pid>/task/<tid>"
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) ? tid : null;
  } catch {
    return null;
  }
}

/** Ids of the threads this process has now. */
export function threadIds(): number[] {
  try {
    return readdirSync('/proc/self/task').map(Number);
  } catch {
    return [];
  }
}

/**
 * CPU time (ms) a thread of this process has used, or null when it is gone or /proc is missing.
 * schedstat counts nanoseconds; stat (10 ms ticks) is the fallback on kernels without it.
 */
export function threadCpuMs(tid: number): number | null {
  try {
    return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1').split(' ')[0]) / 1e6;
  } catch {
    try {
      const fields = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1').split(') ')[1]!.split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
    } catch {
      return null;
    }
  }
}
