/**
 * The Piscina pool of worker threads, with the retry policy: a task whose
 * worker throws or exits is run again (Piscina replaces a dead thread), up to
 * MAX_ATTEMPTS times; every failure is reported so it can be counted. A task
 * with no answer within the task timeout has its thread terminated (a hung
 * thread cannot be asked to stop); Piscina starts a replacement, and the task
 * is retried like any other failure.
 *
 * Each thread takes up to two tasks at once, so that a step sent early
 * (Trainer.send) is already in its worker's queue while the worker finishes
 * the previous step. That rules out Piscina's AbortSignal timeouts (Piscina
 * gives an abortable task a thread to itself), so the timeout is ours: each
 * worker records which task it runs (WorkerInit.running), and the watchdog
 * terminates that thread.
 */
import { availableParallelism } from 'node:os';
import { move, Piscina } from 'piscina';
import { WorkerError } from '../../shared/errors.js';
import {
  decodeResult,
  encode,
  RESULT_KIND,
  RUNNING_SLOTS,
  type ResultOf,
  type TaskMessage,
  type WorkerInit,
} from '../../shared/messages.js';

export const MAX_ATTEMPTS = 3;

export type FailureKind = 'throw' | 'exit' | 'timeout';

export interface PoolOptions {
  readonly workers: number;
  /** What every thread starts with; the pool adds `running` and `runningSince`. */
  readonly init: Omit<WorkerInit, 'running' | 'runningSince'>;
  /** Per-task timeout in ms (runtime.taskTimeoutSeconds); 0 or absent = none. */
  readonly taskTimeoutMs?: number;
  /** Called on every failed attempt (0-based `attempt`), before it is retried. */
  readonly onFailure?: (shard: number, kind: FailureKind, err: unknown, label: string, attempt: number) => void;
}

/** null/undefined (config default, no --workers) = one per core; the schema and the CLI refuse anything below 1. */
export function resolveWorkerCount(requested: number | null | undefined): number {
  return requested ?? availableParallelism();
}

/** What Piscina's balancer sees of a thread. */
interface BalancedWorker {
  readonly currentUsage: number;
}

/**
 * Round-robin over the threads with room for a task. Piscina's default
 * (least busy, first found on ties) can give both shards of an early step
 * to one thread while the other finishes its previous task; round-robin
 * gives each of the W shards a step sends back to back its own thread.
 */
function roundRobin(maximumUsage: number) {
  let next = 0;
  return <W extends BalancedWorker>(_task: unknown, workers: W[]): W | null => {
    for (let k = 0; k < workers.length; k++) {
      const i = (next + k) % workers.length;
      const w = workers[i] as W;
      if (w.currentUsage < maximumUsage) {
        next = i + 1;
        return w;
      }
    }
    return null;
  };
}

const TASKS_PER_THREAD = 2;

/** One attempt's watchdog state: its WorkerInit.running slot, and whether the timeout ended it. */
interface Watch {
  timedOut: boolean;
  slot: number;
}

export class WorkerPool {
  /** Set by close(): tasks that fail because the pool is going away are not retried or counted. */
  private closing = false;
  private backendName = 'unknown';
  /** Number of the next task sent (WorkerInit.running). */
  private seq = 1;

  private constructor(
    private readonly piscina: Piscina,
    readonly size: number,
    private readonly running: Int32Array,
    private readonly runningSince: Float64Array,
    private readonly onFailure: PoolOptions['onFailure'],
    private readonly taskTimeoutMs = 0,
  ) {}

  /** The tfjs backend the workers initialised (as the first warm-up reported it). */
  get backend(): string {
    return this.backendName;
  }

  /** Start the threads and initialise a backend in each (so no step pays the start-up). */
  static async start(opts: PoolOptions): Promise<WorkerPool> {
    const running = new Int32Array(new SharedArrayBuffer(RUNNING_SLOTS * Int32Array.BYTES_PER_ELEMENT));
    const runningSince = new Float64Array(new SharedArrayBuffer(RUNNING_SLOTS * Float64Array.BYTES_PER_ELEMENT));
    const init: WorkerInit = { ...opts.init, running, runningSince };
    const piscina = new Piscina({
      filename: new URL('../../worker/worker.js', import.meta.url).href,
      minThreads: opts.workers,
      maxThreads: opts.workers,
      concurrentTasksPerWorker: TASKS_PER_THREAD,
      loadBalancer: roundRobin(TASKS_PER_THREAD),
      idleTimeout: 2 ** 31 - 1,
      workerData: init,
      maxQueue: 'auto',
    });
    const pool = new WorkerPool(piscina, opts.workers, running, runningSince, opts.onFailure, opts.taskTimeoutMs ?? 0);
    const warm = await Promise.all(Array.from({ length: opts.workers }, (_, k) => pool.once({ kind: 'warmup' }, `warm-up ${k}`)));
    pool.backendName = warm[0]?.backend ?? 'unknown';
    return pool;
  }

  /** Run one task, retrying failures on a live or replacement worker; resolves with that task kind's result. */
  async run<T extends TaskMessage>(task: T, label: string): Promise<ResultOf<T>> {
    let lastError: unknown;
    let resent = 0;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const message = task.kind === 'train' ? { ...task, attempt } : task;
      const watch: Watch = { timedOut: false, slot: -1 };
      try {
        return await this.once(message as T, label, watch);
      } catch (caught) {
        if (this.closing) throw caught;
        // Queued behind a task whose thread died, and never started: not this task's failure. Sent again, uncounted.
        if (!watch.timedOut && Atomics.load(this.running, watch.slot) === 0 && resent++ < MAX_ATTEMPTS) {
          attempt--;
          continue;
        }
        const err = watch.timedOut
          ? new Error(`no result within ${this.taskTimeoutMs / 1000} s (runtime.taskTimeoutSeconds); its worker thread was terminated`, {
              cause: caught,
            })
          : caught;
        lastError = err;
        // Piscina rejects the task of a thread that ended mid-task with
        // "worker exited with code: N" and starts a replacement thread
        // (minThreads), which (or any live thread) takes the retry.
        const exited = err instanceof Error && /^worker exited with code|terminat/i.test(err.message);
        this.onFailure?.(
          task.kind === 'train' ? task.shard : -1,
          watch.timedOut ? 'timeout' : exited ? 'exit' : 'throw',
          err,
          label,
          attempt,
        );
      }
    }
    throw new WorkerError(label, MAX_ATTEMPTS, { cause: lastError });
  }

  /** One attempt: send, decode, and check that the answer is of the kind this task gets. */
  private async once<T extends TaskMessage>(task: T, label: string, watch?: Watch): Promise<ResultOf<T>> {
    const seq = this.seq++;
    const slot = seq % RUNNING_SLOTS;
    Atomics.store(this.running, slot, 0);
    if (watch) watch.slot = slot;
    const timer: { id?: NodeJS.Timeout } = {};
    if (this.taskTimeoutMs > 0 && watch) timer.id = setTimeout(() => this.expire(slot, watch, timer), this.taskTimeoutMs);
    try {
      const result = decodeResult(await this.piscina.run(move(encode({ seq, task }))));
      if (result.kind !== RESULT_KIND[task.kind])
        throw new Error(`${label}: a '${task.kind}' task answered with a '${result.kind}' result`);
      return result as ResultOf<T>;
    } finally {
      clearTimeout(timer.id);
    }
  }

  /**
   * The task in `slot` is past the timeout: terminate the thread running it
   * (Piscina then rejects its tasks and starts a replacement). A task still
   * queued behind another, or waiting for its weights, gets the timeout again
   * from now; one that started after it was sent gets the rest of the
   * timeout from its start (without that, a step sent early that started
   * just before its dispatch timer ran out was killed in its first
   * milliseconds).
   */
  private expire(slot: number, watch: Watch, timer: { id?: NodeJS.Timeout }): void {
    const threadId = Atomics.load(this.running, slot);
    const thread = threadId === 0 ? undefined : this.piscina.threads.find((t) => t.threadId === threadId);
    if (!thread) {
      timer.id = setTimeout(() => this.expire(slot, watch, timer), this.taskTimeoutMs);
      return;
    }
    const ranMs = performance.timeOrigin + performance.now() - (this.runningSince[slot] as number);
    if (ranMs < this.taskTimeoutMs) {
      timer.id = setTimeout(() => this.expire(slot, watch, timer), this.taskTimeoutMs - ranMs);
      return;
    }
    watch.timedOut = true;
    void thread.terminate();
  }

  get queueSize(): number {
    return this.piscina.queueSize;
  }

  /** Fraction of the pool's capacity used since start (Piscina's own measure). */
  get utilization(): number {
    return this.piscina.utilization;
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.piscina.destroy();
  }
}
