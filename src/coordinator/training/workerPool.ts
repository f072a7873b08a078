/**
 * The Piscina pool of worker threads, with the retry policy: a task whose
 * worker throws or exits is run again (Piscina replaces a dead thread), up to
 * MAX_ATTEMPTS times; every failure is reported so it can be counted. A task
 * with no answer within the task timeout is aborted: Piscina terminates the
 * thread running it (a hung thread cannot be asked to stop) and starts a
 * replacement, and the task is retried like any other failure.
 */
import { availableParallelism } from 'node:os';
import { move, Piscina } from 'piscina';
import { WorkerError } from '../../shared/errors.js';
import { decodeResult, encode, type TaskMessage, type TaskResult, type WorkerInit } from '../../shared/messages.js';

export const MAX_ATTEMPTS = 3;

export type FailureKind = 'throw' | 'exit' | 'timeout';

export interface PoolOptions {
  readonly workers: number;
  readonly init: WorkerInit;
  /** Per-task timeout in ms (runtime.taskTimeoutSeconds); 0 or absent = none. */
  readonly taskTimeoutMs?: number;
  /** Called on every failed attempt (0-based `attempt`), before it is retried. */
  readonly onFailure?: (shard: number, kind: FailureKind, err: unknown, label: string, attempt: number) => void;
}

/** null/undefined (config default, no --workers) = one per core. */
export function resolveWorkerCount(requested: number | null | undefined): number {
  return requested !== null && requested !== undefined && requested > 0 ? requested : availableParallelism();
}

export class WorkerPool {
  /** Set by close(): tasks that fail because the pool is going away are not retried or counted. */
  private closing = false;

  private constructor(
    private readonly piscina: Piscina,
    readonly size: number,
    readonly backend: string,
    private readonly onFailure: PoolOptions['onFailure'],
    private readonly taskTimeoutMs = 0,
  ) {}

  /** Start the threads and initialise a backend in each (so no step pays the start-up). */
  static async start(opts: PoolOptions): Promise<WorkerPool> {
    const piscina = new Piscina({
      filename: new URL('../../worker/worker.js', import.meta.url).href,
      minThreads: opts.workers,
      maxThreads: opts.workers,
      concurrentTasksPerWorker: 1,
      idleTimeout: 2 ** 31 - 1,
      workerData: opts.init,
      // Each task is a whole shard of a step; a queue longer than the pool only happens in eval.
      maxQueue: 'auto',
    });
    const warm = await Promise.all(
      Array.from({ length: opts.workers }, async () => decodeResult(await piscina.run(move(encode({ kind: 'warmup' }))))),
    );
    const first = warm[0];
    const backend = first && first.kind === 'warmup' ? first.backend : 'unknown';
    return new WorkerPool(piscina, opts.workers, backend, opts.onFailure, opts.taskTimeoutMs ?? 0);
  }

  /** Run one task, retrying failures on a live or replacement worker. */
  async run(task: TaskMessage, label: string): Promise<TaskResult> {
    let lastError: unknown;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const message = task.kind === 'train' ? { ...task, attempt } : task;
      const signal = this.taskTimeoutMs > 0 ? AbortSignal.timeout(this.taskTimeoutMs) : undefined;
      try {
        return decodeResult(await this.piscina.run(move(encode(message)), signal ? { signal } : {}));
      } catch (caught) {
        if (this.closing) throw caught;
        const timedOut = signal?.aborted === true;
        const err = timedOut ? new Error(`no result within ${this.taskTimeoutMs / 1000} s (runtime.taskTimeoutSeconds); its worker thread was terminated`, { cause: caught }) : caught;
        lastError = err;
        // Piscina rejects the task of a thread that ended mid-task with
        // "worker exited with code: N" and starts a replacement thread
        // (minThreads), which (or any live thread) takes the retry.
        const exited = err instanceof Error && /^worker exited with code|terminat/i.test(err.message);
        this.onFailure?.(task.kind === 'train' ? task.shard : -1, timedOut ? 'timeout' : exited ? 'exit' : 'throw', err, label, attempt);
      }
    }
    throw new WorkerError(label, MAX_ATTEMPTS, { cause: lastError });
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
