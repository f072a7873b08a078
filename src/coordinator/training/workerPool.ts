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
import { decodeResult, encode, RESULT_KIND, type ResultOf, type TaskMessage, type WorkerInit } from '../../shared/messages.js';

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

/** null/undefined (config default, no --workers) = one per core; the schema and the CLI refuse anything below 1. */
export function resolveWorkerCount(requested: number | null | undefined): number {
  return requested ?? availableParallelism();
}

export class WorkerPool {
  /** Set by close(): tasks that fail because the pool is going away are not retried or counted. */
  private closing = false;
  private backendName = 'unknown';

  private constructor(
    private readonly piscina: Piscina,
    readonly size: number,
    private readonly onFailure: PoolOptions['onFailure'],
    private readonly taskTimeoutMs = 0,
  ) {}

  /** The tfjs backend the workers initialised (as the first warm-up reported it). */
  get backend(): string {
    return this.backendName;
  }

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
    const pool = new WorkerPool(piscina, opts.workers, opts.onFailure, opts.taskTimeoutMs ?? 0);
    const warm = await Promise.all(Array.from({ length: opts.workers }, (_, k) => pool.once({ kind: 'warmup' }, `warm-up ${k}`)));
    pool.backendName = warm[0]?.backend ?? 'unknown';
    return pool;
  }

  /** Run one task, retrying failures on a live or replacement worker; resolves with that task kind's result. */
  async run<T extends TaskMessage>(task: T, label: string): Promise<ResultOf<T>> {
    let lastError: unknown;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const message = task.kind === 'train' ? { ...task, attempt } : task;
      const signal = this.taskTimeoutMs > 0 ? AbortSignal.timeout(this.taskTimeoutMs) : undefined;
      try {
        return await this.once(message as T, label, signal);
      } catch (caught) {
        if (this.closing) throw caught;
        const timedOut = signal?.aborted === true;
        const err = timedOut
          ? new Error(`no result within ${this.taskTimeoutMs / 1000} s (runtime.taskTimeoutSeconds); its worker thread was terminated`, {
              cause: caught,
            })
          : caught;
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

  /** One attempt: send, decode, and check that the answer is of the kind this task gets. */
  private async once<T extends TaskMessage>(task: T, label: string, signal?: AbortSignal): Promise<ResultOf<T>> {
    const result = decodeResult(await this.piscina.run(move(encode(task)), signal ? { signal } : {}));
    if (result.kind !== RESULT_KIND[task.kind]) throw new Error(`${label}: a '${task.kind}' task answered with a '${result.kind}' result`);
    return result as ResultOf<T>;
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
