/**
 * Fault injection for the reliability tests: fires the faults that
 * PIXELSENSE_FAULT names (syntax in src/shared/faults.ts) in this worker.
 */
import { parseFaults, type Fault } from '../shared/faults.js';

// Parsed on first use, not at import: the coordinator has already validated
// the variable, and a worker that never trains never reads it.
let faults: Fault[] | undefined;

export function maybeInjectFault(step: number, shard: number, attempt: number): void {
  faults ??= parseFaults(process.env['PIXELSENSE_FAULT']);
  for (const f of faults) {
    if (f.step !== step || f.shard !== shard || attempt >= f.times) continue;
    if (f.kind === 'exit') process.exit(3); // in a worker thread this ends the thread, not the process
    if (f.kind === 'hang') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // blocks for good, burning no CPU
    throw new Error(`injected fault throw:${step}:${shard}`);
  }
}
