/**
 * What the trainer dispatches a step through. An executor computes every
 * micro-batch of one step and leaves each one's gradient and batch-norm
 * statistics in its slot of the parameter server's shared memory; the
 * trainer then reduces in micro-batch order, so who computed which
 * micro-batch never changes the weights.
 *
 * LocalStepExecutor is the single-process path (contiguous shards, one task
 * per worker thread). The multi-host executor (coordinator/cluster/) is
 * injected by the CLI through TrainOptions.executor, so this room never
 * imports that one.
 */
import type { Config } from '../../shared/config.js';
import { shardMicroBatches, type MicroBatch, type TaskResult } from '../../shared/messages.js';
import type { ModelPlan } from '../../shared/modelPlan.js';
import type { SharedBuffers } from './parameterServer.js';
import type { WorkerPool } from './workerPool.js';

export type TrainTaskResult = Extract<TaskResult, { kind: 'train' }>;

export interface StepWork {
  readonly epoch: number;
  readonly step: number;
  readonly micro: readonly MicroBatch[];
  /** Sent before the previous step's update: read the weights only once they hold `after` steps (see ParameterServer.publish). */
  readonly after?: number;
  /** With `after`: ms a worker busy-polls before sleeping. */
  readonly spinMs?: number;
}

export interface StepExecutor {
  /** Whether run() accepts work with `after` (sent before the weights are ready); the trainer sends such work only then. */
  readonly pipelined: boolean;
  /** Every micro-batch's gradient in its slot; the results say who computed what. Rejects only when the step cannot complete. */
  run(work: StepWork): Promise<TrainTaskResult[]>;
  close(): Promise<void>;
}

/** What an executor may use: the local pool (threads that read and write the shared slots) and the shared buffers. */
export interface ExecutorContext {
  readonly cfg: Config;
  readonly plan: ModelPlan;
  readonly pool: WorkerPool;
  /** Local threads that may train (0 = remote hosts only; the pool then has one thread, for evaluation). */
  readonly localWorkers: number;
  readonly buffers: SharedBuffers;
  /** The backend the local pool runs (hosts run the same, so their arithmetic matches). */
  readonly backend: string;
}

export type ExecutorFactory = (ctx: ExecutorContext) => Promise<StepExecutor>;

/** One task per worker thread: contiguous shards, sizes differing by at most one micro-batch. */
export class LocalStepExecutor implements StepExecutor {
  readonly pipelined = true;

  constructor(private readonly pool: WorkerPool) {}

  run({ epoch, step, micro, after, spinMs }: StepWork): Promise<TrainTaskResult[]> {
    const shards = shardMicroBatches(micro, this.pool.size);
    const gate = after === undefined ? {} : { after, spinMs: spinMs ?? 0 };
    return Promise.all(
      shards.map((microBatches, shard) =>
        this.pool.run({ kind: 'train', epoch, step, shard, attempt: 0, microBatches, ...gate }, `train step ${step} shard ${shard}`),
      ),
    );
  }

  async close(): Promise<void> {}
}
