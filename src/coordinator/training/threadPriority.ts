/**
 * The coordinator thread's scheduling priority while the pool takes every
 * core (runtime.coordinatorNice).
 *
 * Why: with W >= cores there is no core for this thread. When a worker's
 * slot flag wakes it, Linux's wake-up preemption lets it take the core of a
 * worker that is still computing (it sleeps most of the time, so it looks
 * owed CPU): the flagging worker's Atomics.notify then "took" over 1 ms at
 * the 90th percentile (ANN, W=2, 2 vCPUs), and the last worker woke ~1 ms
 * after the weights were out. At nice +10 the woken coordinator waits for a
 * free core instead; its work on the step's critical path (reduce, update,
 * publish) runs while every worker waits, so it still gets one at once.
 * Interleaved, ANN W=2, 7 rounds each: training / uncoordinated 0.82 at nice
 * 0, 0.87 at nice +10 (medians).
 *
 * Linux only: there the nice value belongs to a thread, so only this thread
 * changes (threads it starts later, such as Piscina's replacements for a
 * dead worker, inherit it). Elsewhere setpriority(0) would lower the whole
 * process, workers included, which gains nothing.
 */
import { getPriority, setPriority } from 'node:os';

/** Lower this thread's priority to `nice`; returns how to restore it (where the OS allows raising it again). */
export function lowerThreadPriority(nice: number): () => void {
  if (process.platform !== 'linux' || nice <= 0) return () => undefined;
  const before = getPriority(0);
  if (nice <= before) return () => undefined;
  setPriority(0, nice);
  return () => {
    // Raising the priority back needs CAP_SYS_NICE (or RLIMIT_NICE): root and most containers have it; elsewhere the
    // thread keeps the lower priority, which costs a library caller only CPU-heavy work it does on this thread later.
    try {
      setPriority(0, before);
    } catch {
      // EACCES: see above.
    }
  };
}
