/**
 * The coordinator's side of the slot flags (TrainingInit.sync): a step's
 * gradients are in once every one of its micro-batch slots is flagged with
 * that step. Workers flag before they post their result message, and on
 * this 2-vCPU VM the message arrives 0.3-0.5 ms after the flag: waiting on
 * the flag lets the reduce and update start that much sooner, and the
 * message travels while they run.
 */
import { waitAsync } from '../../shared/atomicsWait.js';
import { SYNC_DONE, SYNC_SLOTS, type MicroBatch } from '../../shared/messages.js';

/** How long one wait lasts before the flags are checked again (a safety net; a notify ends it at once). */
const RECHECK_MS = 1000;

export class SlotFlags {
  constructor(private readonly sync: Int32Array) {}

  /** Whether every slot of `micro` holds step `step`. */
  complete(step: number, micro: readonly MicroBatch[]): boolean {
    return micro.every((mb) => this.holds(step, mb));
  }

  private holds(step: number, mb: MicroBatch): boolean {
    return Atomics.load(this.sync, SYNC_SLOTS + mb.index) === step + 1;
  }

  /**
   * Resolves once every slot of `micro` holds step `step`, or when `results`
   * settles (rejects with it when it rejects: a task failed for good).
   * Retries flag the same slots, so a failure that is retried just waits longer.
   */
  async filled(step: number, micro: readonly MicroBatch[], results: Promise<unknown>): Promise<void> {
    await this.until(() => this.complete(step, micro), results);
  }

  /**
   * Resolves once any slot of `micro` holds step `step` (a first shard is
   * in, so a core is idle until the rest are), or when `results` settles;
   * never rejects: the caller awaits `results` itself.
   */
  async started(step: number, micro: readonly MicroBatch[], results: Promise<unknown>): Promise<void> {
    await this.until(() => micro.some((mb) => this.holds(step, mb)), results).catch(() => undefined);
  }

  private async until(condition: () => boolean, results: Promise<unknown>): Promise<void> {
    let settled = false;
    const done = results.then(
      () => {
        settled = true;
      },
      (err: unknown) => {
        settled = true;
        throw err;
      },
    );
    // Marked handled: on the early return below, the caller awaits `results` itself.
    done.catch(() => undefined);
    while (!settled) {
      const seen = Atomics.load(this.sync, SYNC_DONE);
      if (condition()) return;
      const w = waitAsync(this.sync, SYNC_DONE, seen, RECHECK_MS);
      if (w.async) await Promise.race([w.value, done]);
    }
    await done;
  }
}
