/**
 * The wire contract between the coordinator and its workers.
 *
 * Bulk data never travels in messages: the data set, the weights, the
 * per-micro-batch gradient slots and the epoch's example order live in
 * shared memory (SharedArrayBuffers, or typed-array views of the parameter
 * server's shared WebAssembly memory) that every worker receives once, at
 * start-up, through Piscina's workerData. Messages carry only small control records; they are
 * msgpackr-encoded into a Uint8Array that is transferred (not cloned) across
 * the thread boundary.
 */
import { Packr } from 'msgpackr';
import type { BackendChoice } from './backendChoice.js';
import type { Config } from './config.js';
import type { SharedDataset, SplitName } from './dataset.js';

/**
 * Given to every worker once (Piscina workerData). SharedArrayBuffers are
 * shared, not copied. A pool that only evaluates saved models (pixelsense
 * eval) has no training block: no model plan, parameter-server memory or
 * example order to allocate.
 */
export interface WorkerInit {
  readonly backend: BackendChoice;
  readonly stockKernels: boolean;
  readonly dataset: SharedDataset;
  /** Present when the pool trains: 'train' and 'eval' tasks need it, 'evalModel' does not. */
  readonly training?: TrainingInit;
  /**
   * Int32[RUNNING_SLOTS]: a worker stores its threadId at [seq % RUNNING_SLOTS]
   * when it starts the task numbered `seq`, so the coordinator can terminate
   * the thread of a task that timed out.
   */
  readonly running: Int32Array;
  /**
   * Float64[RUNNING_SLOTS]: when the task in that slot started
   * (performance.timeOrigin + performance.now(), ms; comparable across
   * threads), written before the threadId. A step sent early starts only
   * once its weights are there, so its timeout counts from here, not from
   * its dispatch.
   */
  readonly runningSince: Float64Array;
}

/** Size of WorkerInit.running: far more than the tasks that can be in flight at once (2 per thread). */
export const RUNNING_SLOTS = 4096;

/** What crosses to a worker: a task and its number (WorkerInit.running). */
export interface TaskEnvelope {
  readonly seq: number;
  readonly task: TaskMessage;
}

/** The training side of a worker's init: the run's config and the parameter server's shared views. */
export interface TrainingInit {
  readonly config: Config;
  /** [paramCount + stateCount]: the current weights, then batch-norm state. Written only by the coordinator, between steps. */
  readonly weights: Float32Array;
  /** [microBatchesPerStep * paramCount]: one gradient slot per micro-batch of the current step. */
  readonly gradients: Float32Array;
  /** [microBatchesPerStep * 2 * batchNormChannels]: per-micro-batch batch mean and variance. */
  readonly batchStats: Float32Array;
  /** Uint32[train count]: the current epoch's example order. */
  readonly order: SharedArrayBuffer;
  /**
   * Int32[SYNC_SLOTS + slots], the step's progress (Atomics only): see
   * SYNC_WEIGHTS, SYNC_DONE, SYNC_SLOTS. It lets the next step's task travel,
   * and prepare its examples, while the coordinator still reduces and
   * updates, and lets the coordinator see gradients in before the result
   * messages arrive.
   */
  readonly sync: Int32Array;
  /**
   * Float64[2 * slots * OUTCOME_FIELDS]: each flagged slot's loss, correct
   * count and examples, in bank step % 2, written before the flag. The
   * coordinator publishes the next step's weights as soon as the slots are
   * flagged, without waiting for the result messages: a task retried after
   * it flagged (its thread died before it could answer) must not compute
   * again, since the next step may be writing those slots, so it answers
   * from here. Two banks: step t + 2 starts only once every task of step t
   * has answered.
   */
  readonly outcomes: Float64Array;
}

/** TrainingInit.outcomes fields per slot: loss, correct, count. */
export const OUTCOME_FIELDS = 3;

/** TrainingInit.sync[SYNC_WEIGHTS]: how many optimizer steps the shared weights hold (stored by the coordinator). */
export const SYNC_WEIGHTS = 0;
/** TrainingInit.sync[SYNC_DONE]: bumped (and notified) by a worker each time it has flagged slots. */
export const SYNC_DONE = 1;
/** TrainingInit.sync[SYNC_SLOTS + i]: 1 + the step whose gradient and statistics slot i holds, stored once they are complete. */
export const SYNC_SLOTS = 2;

/** A slice of the epoch order: examples order[start .. start + count). */
export interface MicroBatch {
  /** Position of this micro-batch within the global batch: its gradient slot and its place in the reduction. */
  readonly index: number;
  readonly start: number;
  readonly count: number;
}

export type TaskMessage =
  | { readonly kind: 'warmup' }
  | {
      readonly kind: 'train';
      readonly epoch: number;
      /** Global optimizer step this batch belongs to (0-based). */
      readonly step: number;
      /** Index of this shard within the step (what PIXELSENSE_FAULT's WORKER refers to). */
      readonly shard: number;
      /** 0 for the first try; faults are injected only on the first try. */
      readonly attempt: number;
      readonly microBatches: readonly MicroBatch[];
      /**
       * Read the weights only once sync[SYNC_WEIGHTS] >= after (the step's own
       * index: its weights are those after `after` steps). Absent: they are
       * in place already.
       */
      readonly after?: number;
      /** While waiting for `after`: busy-poll this many ms before sleeping (a free core makes the wake-up ~free). */
      readonly spinMs?: number;
    }
  | {
      /**
       * pixelsense bench --ceiling: compute this shard of `step` `repeat`
       * times back to back (fresh weight tensors each time, gradients
       * overwritten, nothing reduced): the workers' compute with no
       * coordination between steps.
       */
      readonly kind: 'ceiling';
      readonly epoch: number;
      readonly step: number;
      readonly microBatches: readonly MicroBatch[];
      readonly repeat: number;
    }
  | {
      readonly kind: 'eval';
      readonly split: SplitName;
      readonly start: number;
      readonly count: number;
    }
  | {
      /** Evaluate a saved Layers model (pixelsense eval), loaded once per worker. */
      readonly kind: 'evalModel';
      readonly modelDir: string;
      readonly split: SplitName;
      readonly start: number;
      readonly count: number;
    };

export interface MicroBatchResult {
  readonly index: number;
  /** Mean loss over the micro-batch (with label smoothing if configured). */
  readonly loss: number;
  /** Correctly classified examples (training-mode forward, dropout on). */
  readonly correct: number;
  readonly count: number;
}

/** A worker thread's own memory, in bytes. */
export interface WorkerMemory {
  /** V8 heap of the worker's isolate (v8.getHeapStatistics). */
  readonly heapUsed: number;
  readonly heapTotal: number;
  /** Memory outside the V8 heap that the isolate accounts for (ArrayBuffers and the like). */
  readonly external: number;
  /** Bytes held by live tf tensors (tf.memory().numBytes). */
  readonly tfBytes: number;
  /** Size of the wasm backend's linear memory (it grows, never shrinks); absent on other backends. */
  readonly wasmHeap?: number;
}

export type TaskResult =
  | { readonly kind: 'warmup'; readonly backend: string; readonly threadId: number }
  | {
      readonly kind: 'train';
      readonly threadId: number;
      readonly microBatches: readonly MicroBatchResult[];
      /** Seconds of forward+backward+gradient copy inside the worker. */
      readonly computeSeconds: number;
      /** Tensors alive in the worker after the task: must stay flat across steps. */
      readonly numTensors: number;
      /** Part of computeSeconds spent copying the shared weights into fresh tensors (the "broadcast" as workers see it). */
      readonly weightCopySeconds?: number;
      /** Seconds the task waited for the weights (`after`), not part of computeSeconds. */
      readonly weightWaitSeconds?: number;
      /** The worker's memory after the task (cheap to read: no syscalls). */
      readonly memory?: WorkerMemory;
      /** Multi-host runs: the host that computed it (absent = this process). */
      readonly host?: string;
    }
  | {
      readonly kind: 'ceiling';
      readonly threadId: number;
      /** Examples computed: repeat times the shard's. */
      readonly examples: number;
      readonly computeSeconds: number;
    }
  | {
      readonly kind: 'eval';
      readonly threadId: number;
      /** 10x10 counts, rows true label, columns predicted, row-major. */
      readonly confusion: readonly number[];
      readonly lossSum: number;
      readonly count: number;
      readonly computeSeconds: number;
    };

/** The kind of result each kind of task answers with (WorkerPool.run checks it). */
export const RESULT_KIND = {
  warmup: 'warmup',
  train: 'train',
  ceiling: 'ceiling',
  eval: 'eval',
  evalModel: 'eval',
} as const satisfies Record<TaskMessage['kind'], TaskResult['kind']>;

/** The result type of a task: what WorkerPool.run(task) resolves to. */
export type ResultOf<T extends TaskMessage> = Extract<TaskResult, { kind: (typeof RESULT_KIND)[T['kind']] }>;

export type Encoded = Uint8Array;

// A Packr of our own: msgpackr's module-level pack() shares one growing
// buffer with every other caller (checkpoints grow it to megabytes).
const packr = new Packr();

/**
 * Encode into a buffer of exactly the message's size. packr.pack() returns a
 * view into its reusable scratch buffer, and cloning or transferring a view
 * moves the whole underlying ArrayBuffer: measured, a 3 MB scratch buffer
 * added ~9 ms to every step. The copy costs a few hundred bytes.
 */
export function encode(message: TaskEnvelope | TaskResult): Encoded {
  return new Uint8Array(packr.pack(message));
}

export function decodeTask(bytes: Encoded): TaskEnvelope {
  return packr.unpack(bytes) as TaskEnvelope;
}

export function decodeResult(bytes: Encoded): TaskResult {
  return packr.unpack(bytes) as TaskResult;
}

/** Number of micro-batches a global batch of `batchSize` is cut into. */
export function microBatchesPerStep(cfg: Config): number {
  return Math.ceil(cfg.train.batchSize / cfg.train.microBatchSize);
}

/** Cut the global batch starting at `start` (of `count` examples) into fixed micro-batches. */
export function cutMicroBatches(start: number, count: number, microBatchSize: number): MicroBatch[] {
  const out: MicroBatch[] = [];
  for (let i = 0, s = 0; s < count; i++, s += microBatchSize) {
    out.push({ index: i, start: start + s, count: Math.min(microBatchSize, count - s) });
  }
  return out;
}

/** Hand micro-batches to W shards: contiguous, sizes differing by at most one micro-batch. */
export function shardMicroBatches(micro: readonly MicroBatch[], workers: number): MicroBatch[][] {
  const shards: MicroBatch[][] = [];
  const w = Math.min(workers, micro.length);
  for (let k = 0; k < w; k++) {
    const a = Math.floor((k * micro.length) / w);
    const b = Math.floor(((k + 1) * micro.length) / w);
    shards.push(micro.slice(a, b));
  }
  return shards;
}
