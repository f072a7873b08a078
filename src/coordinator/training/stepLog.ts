/**
 * A StepEvent as its log.jsonl line. The field names are the run log's
 * public format (snake_case: it is JSON) and do not change with the event's.
 */
import type { StepEvent } from './stepEvent.js';

export function stepLogRecord(e: StepEvent): Record<string, unknown> {
  return {
    event: 'step',
    step: e.step,
    epoch: e.epoch,
    lr: e.lr,
    loss: e.loss,
    accuracy: e.accuracy,
    examples: e.examples,
    step_s: e.stepSeconds,
    compute_s: e.computeSeconds,
    wait_s: e.waitSeconds,
    reduce_s: e.reduceSeconds,
    update_s: e.updateSeconds,
    overhead_s: e.overheadSeconds,
    tensors: e.shards.map((s) => s.tensors),
    threads: e.shards.map((s) => s.threadId),
    // Multi-host runs only: who computed each share ('local' for this process's workers).
    ...(e.shards.some((s) => s.host !== undefined) ? { hosts: e.shards.map((s) => s.host ?? 'local') } : {}),
  };
}
