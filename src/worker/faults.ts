/**
 * Fault injection for the reliability tests: PIXELSENSE_FAULT is a
 * comma-separated list of `throw:STEP:WORKER` (the task throws) and
 * `exit:STEP:WORKER` (the worker thread exits), where WORKER is the shard
 * index within that step. Faults fire on a task's first attempt only, so the
 * retried share of the step succeeds.
 */
interface Fault {
  readonly kind: 'throw' | 'exit';
  readonly step: number;
  readonly shard: number;
}

export function parseFaults(spec: string | undefined): Fault[] {
  if (!spec) return [];
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((item) => {
      const [kind, step, shard] = item.split(':');
      if ((kind !== 'throw' && kind !== 'exit') || !/^\d+$/.test(step ?? '') || !/^\d+$/.test(shard ?? '')) {
        throw new Error(`PIXELSENSE_FAULT: '${item}' is not throw:STEP:WORKER or exit:STEP:WORKER`);
      }
      return { kind, step: Number(step), shard: Number(shard) };
    });
}

const faults = parseFaults(process.env['PIXELSENSE_FAULT']);

export function maybeInjectFault(step: number, shard: number, attempt: number): void {
  if (attempt > 0) return;
  for (const f of faults) {
    if (f.step !== step || f.shard !== shard) continue;
    if (f.kind === 'exit') process.exit(3); // in a worker thread this ends the thread, not the process
    throw new Error(`injected fault throw:${step}:${shard}`);
  }
}
