/**
 * Fault injection for the reliability tests: PIXELSENSE_FAULT is a
 * comma-separated list of `throw:STEP:WORKER` (the task throws) and
 * `exit:STEP:WORKER` (the worker thread exits), where WORKER is the shard
 * index within that step. Faults fire on a task's first attempt only, so the
 * retried share of the step succeeds.
 *
 * An optional fourth field, `throw:STEP:WORKER:TIMES`, makes the fault fire
 * on the first TIMES attempts (default 1): TIMES >= MAX_ATTEMPTS (3) exercises
 * the give-up path (the run saves a checkpoint and aborts).
 *
 * `hang:STEP:WORKER` blocks the worker thread for good (Atomics.wait on a
 * value nobody changes: no CPU burnt), as a deadlocked native call would: it
 * exercises the task timeout and the second Ctrl-C.
 */
interface Fault {
  readonly kind: 'throw' | 'exit' | 'hang';
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
      if ((kind !== 'throw' && kind !== 'exit' && kind !== 'hang') || !uint(step) || !uint(shard) || (times !== undefined && !/^[1-9]\d*$/.test(times)) || rest.length > 0) {
        throw new Error(`PIXELSENSE_FAULT: '${item}' is not throw:STEP:WORKER, exit:STEP:WORKER or hang:STEP:WORKER (optionally :TIMES)`);
      }
      return { kind, step: Number(step), shard: Number(shard), times: times === undefined ? 1 : Number(times) };
    });
}

// Parsed on first use, not at import: the coordinator imports parseFaults to
// validate the variable and must get its error as a value, not at load time.
let faults: Fault[] | undefined;

export function maybeInjectFault(step: number, shard: number, attempt: number): void {
  faults ??= parseFaults(process.env['PIXELSENSE_FAULT']);
  for (const f of faults) {
    if (f.step !== step || f.shard !== shard || attempt >= f.times) continue;
    if (f.kind === 'exit') process.exit(3); // in a worker thread this ends the thread, not the process
    if (f.kind === 'hang') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    throw new Error(`injected fault throw:${step}:${shard}`);
  }
}
