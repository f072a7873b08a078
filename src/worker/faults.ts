/**
 * Fault injection for the reliability tests: fires the faults that
 * PIXELSENSE_FAULT names (syntax in src/shared/faults.ts) in this worker.
 */
import { parseFaults, type Fault } from '../shared/faults.js';

// Parsed on first use, not at import: the coordinator has already validated
// the variable, and a worker that never trains never reads it.
let faults: Fault[] | undefined;

function firing(step: number, shard: number, attempt: number): Fault[] {
  faults ??= parseFaults(process.env['PIXELSENSE_FAULT']);
  return faults.filter((f) => f.step === step && f.shard === shard && attempt < f.times);
}

/** At a task's start (once its weights are there): throw, exit or hang. */
export function maybeInjectFault(step: number, shard: number, attempt: number): void {
  for (const f of firing(step, shard, attempt)) {
    if (f.kind === 'lost') continue;
    if (f.kind === 'exit') process.exit(3); // in a worker thread this ends the thread, not the process
    if (f.kind === 'hang') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // blocks for good, burning no CPU
    throw new Error(`injected fault throw:${step}:${shard}`);
  }
}

/** After a task flagged its slots, before it answers: `lost` ends the thread there. */
export function maybeLoseAnswer(step: number, shard: number, attempt: number): void {
  if (firing(step, shard, attempt).some((f) => f.kind === 'lost')) process.exit(3);
}
