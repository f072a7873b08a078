/**
 * The PIXELSENSE_FAULT test hook's syntax, read by both sides: the
 * coordinator validates the variable before it starts a pool (so a typo is a
 * usage error, not a worker start-up failure), the worker injects the faults
 * (src/worker/faults.ts).
 *
 * PIXELSENSE_FAULT is a comma-separated list of `throw:STEP:WORKER` (the task
 * throws) and `exit:STEP:WORKER` (the worker thread exits), where WORKER is
 * the shard index within that step. Faults fire on a task's first attempt
 * only, so the retried share of the step succeeds.
 *
 * An optional fourth field, `throw:STEP:WORKER:TIMES`, makes the fault fire
 * on the first TIMES attempts (default 1): TIMES >= MAX_ATTEMPTS (3) exercises
 * the give-up path (the run saves a checkpoint and aborts).
 *
 * `hang:STEP:WORKER` blocks the worker thread for good (Atomics.wait on a
 * value nobody changes: no CPU burnt), as a deadlocked native call would: it
 * exercises the task timeout and the second Ctrl-C.
 *
 * `lost:STEP:WORKER` ends the worker thread after the task has written and
 * flagged its slots, before it answers: the coordinator has the gradients
 * (and may have published the next step) but no result message, and the
 * retry must answer from the recorded outcomes (TrainingInit.outcomes).
 */
import { UsageError } from './errors.js';

export interface Fault {
  readonly kind: 'throw' | 'exit' | 'hang' | 'lost';
  readonly step: number;
  readonly shard: number;
  /** How many attempts of the task fail (1 = the first only). */
  readonly times: number;
}

export function parseFaults(spec: string | undefined): Fault[] {
  if (!spec) return [];
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((item) => {
      const [kind, step, shard, times, ...rest] = item.split(':');
      const uint = (s: string | undefined) => /^\d+$/.test(s ?? '');
      if (
        (kind !== 'throw' && kind !== 'exit' && kind !== 'hang' && kind !== 'lost') ||
        !uint(step) ||
        !uint(shard) ||
        (times !== undefined && !/^[1-9]\d*$/.test(times)) ||
        rest.length > 0
      ) {
        throw new UsageError(
          `PIXELSENSE_FAULT: '${item}' is not throw:STEP:WORKER, exit:STEP:WORKER, hang:STEP:WORKER or lost:STEP:WORKER (optionally :TIMES)`,
        );
      }
      return { kind, step: Number(step), shard: Number(shard), times: times === undefined ? 1 : Number(times) };
    });
}
