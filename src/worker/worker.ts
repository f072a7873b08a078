/**
 * The worker thread: one TensorFlow.js backend instance (one wasm thread),
 * running the forward and backward pass of whatever micro-batches the
 * coordinator hands it, and sharded evaluation.
 *
 * Everything bulky comes from shared memory (see shared/messages.ts). Errors
 * are never swallowed: a failed task rejects, the coordinator retries it on a
 * live or replacement worker.
 */
import { getHeapStatistics } from 'node:v8';
import { threadId } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { move, workerData } from 'piscina';
import { initBackend } from '../shared/backend.js';
import { NUM_CLASSES } from '../shared/dataset.js';
import {
  decodeTask,
  encode,
  type Encoded,
  type MicroBatch,
  type MicroBatchResult,
  type TaskMessage,
  type TaskResult,
  type TrainingInit,
  type WorkerInit,
  OUTCOME_FIELDS,
  RUNNING_SLOTS,
  SYNC_DONE,
  SYNC_SLOTS,
  SYNC_WEIGHTS,
  type WorkerMemory,
} from '../shared/messages.js';
import { planModel, type ModelPlan } from '../shared/modelPlan.js';
import { Rng, Stream } from '../shared/rng.js';
import { augmentBatch, rangeIndices, readExamples } from './examples.js';
import { maybeInjectFault, maybeLoseAnswer } from './faults.js';
import { waitAsync } from '../shared/atomicsWait.js';
import { evaluateLogits } from './evaluation.js';
import { dropoutMaskValues, microBatchGradient, paramTensors, predictLogits, stateTensors } from './network.js';
import { loadModelForEval } from './savedModel.js';

const init = workerData as WorkerInit;

/** What a training pool's worker holds for the whole run: the plan and views of the shared buffers. */
interface Training extends TrainingInit {
  readonly plan: ModelPlan;
  readonly orderView: Uint32Array;
}
const training: Training | undefined = init.training && {
  ...init.training,
  plan: planModel(init.training.config.model),
  orderView: new Uint32Array(init.training.order),
};

function needTraining(kind: string): Training {
  if (!training) throw new Error(`a '${kind}' task needs a worker pool started with a training block (WorkerInit.training)`);
  return training;
}

let ready: Promise<string> | undefined;
function backendReady(): Promise<string> {
  ready ??= initBackend(init.backend, { stockKernels: init.stockKernels });
  return ready;
}

type ShardTask = Pick<Extract<TaskMessage, { kind: 'train' }>, 'epoch' | 'step' | 'microBatches' | 'after' | 'spinMs'>;

/** A micro-batch's inputs: everything that does not depend on the weights. */
interface PreparedMicroBatch {
  readonly mb: MicroBatch;
  readonly pixels: Float32Array;
  readonly labels: Int32Array;
  readonly maskValues: Float32Array[];
}

/** Its examples (augmented) and its dropout masks, each from its own stream of (seed, epoch, step, index). */
function prepare(t: Training, task: ShardTask, mb: MicroBatch): PreparedMicroBatch {
  const cfg = t.config;
  const batch = readExamples(init.dataset.train, t.orderView.subarray(mb.start, mb.start + mb.count));
  augmentBatch(batch, cfg.augment, Rng.derive(cfg.train.seed, Stream.augment, task.epoch, task.step, mb.index));
  const maskValues = dropoutMaskValues(t.plan, mb.count, Rng.derive(cfg.train.seed, Stream.dropout, task.epoch, task.step, mb.index));
  return { mb, pixels: batch.pixels, labels: batch.labels, maskValues };
}

/**
 * Wait until the shared weights hold `after` steps; returns seconds waited.
 * A brief busy-poll first (the weights usually come within a millisecond,
 * and a wake-up costs 0.1-0.3 ms on a VM), then an asynchronous wait: never
 * a blocking one, since a retried task of the previous step may be queued
 * to this thread, and the weights come only after it.
 */
async function awaitWeights(t: Training, after: number | undefined, spinMs = 0): Promise<number> {
  const held = () => Atomics.load(t.sync, SYNC_WEIGHTS);
  if (after === undefined || held() >= after) return 0;
  const t0 = performance.now();
  while (performance.now() - t0 < spinMs) if (held() >= after) return (performance.now() - t0) / 1000;
  for (let v = held(); v < after; v = held()) {
    const w = waitAsync(t.sync, SYNC_WEIGHTS, v, 1000);
    if (w.async) await w.value;
  }
  return (performance.now() - t0) / 1000;
}

/** Where slot `index`'s outcome for `step` lives in TrainingInit.outcomes. */
function outcomeAt(t: Training, step: number, index: number): number {
  const slots = t.outcomes.length / (2 * OUTCOME_FIELDS);
  return ((step % 2) * slots + index) * OUTCOME_FIELDS;
}

/** Whether slot `index` is complete for `step` or a later one (see TrainingInit.outcomes). */
function flagged(t: Training, step: number, index: number): boolean {
  return Atomics.load(t.sync, SYNC_SLOTS + index) >= step + 1;
}

/** Record these micro-batches' outcomes, mark their slots complete for `step` and wake the coordinator (see SYNC_SLOTS). */
function flagSlots(t: Training, step: number, results: readonly MicroBatchResult[]): void {
  for (const r of results) {
    const o = outcomeAt(t, step, r.index);
    t.outcomes[o] = r.loss;
    t.outcomes[o + 1] = r.correct;
    t.outcomes[o + 2] = r.count;
  }
  // The flag's Atomics.store orders the plain writes above before it for any thread that sees the flag.
  for (const r of results) Atomics.store(t.sync, SYNC_SLOTS + r.index, step + 1);
  Atomics.add(t.sync, SYNC_DONE, 1);
  Atomics.notify(t.sync, SYNC_DONE);
}

/** A flagged micro-batch's outcome, as its first attempt recorded it. */
function recordedOutcome(t: Training, step: number, mb: MicroBatch): MicroBatchResult {
  const o = outcomeAt(t, step, mb.index);
  return { index: mb.index, loss: t.outcomes[o] as number, correct: t.outcomes[o + 1] as number, count: t.outcomes[o + 2] as number };
}

interface ShardOutcome {
  readonly results: MicroBatchResult[];
  readonly weightCopySeconds: number;
  readonly weightWaitSeconds: number;
  readonly computeSeconds: number;
}
const NOTHING_COMPUTED: ShardOutcome = { results: [], weightCopySeconds: 0, weightWaitSeconds: 0, computeSeconds: 0 };

/**
 * Forward and backward of one shard: every micro-batch's gradient into its
 * slot. `ready` runs once the weights are there, before any computing.
 */
async function shardGradients(t: Training, task: ShardTask, ready?: () => void): Promise<ShardOutcome> {
  const t0 = performance.now();
  const prepared = task.microBatches.map((mb) => prepare(t, task, mb));
  const weightWaitSeconds = await awaitWeights(t, task.after, task.spinMs);
  ready?.();
  const t1 = performance.now();
  // A fresh copy of the weights for this step: the coordinator rewrote them
  // since the last task, and XNNPACK caches packed weights per tensor id, so
  // weights must be new tensors, never an overwrite of old ones.
  const params = paramTensors(t.plan, t.weights);
  const weightCopySeconds = (performance.now() - t1) / 1000;
  try {
    const results = prepared.map((p) => trainMicroBatch(t, p, params));
    return { results, weightCopySeconds, weightWaitSeconds, computeSeconds: (performance.now() - t0) / 1000 - weightWaitSeconds };
  } finally {
    tf.dispose(params);
  }
}

/**
 * A training task counts as running (WorkerInit.running) only once its
 * weights are there: one still waiting for them when its thread dies (a
 * retry of the previous step killed it) has not failed, and is sent again
 * uncounted. Faults are injected from that point too.
 */
async function train(task: Extract<TaskMessage, { kind: 'train' }>, seq: number): Promise<TaskResult> {
  const t = needTraining(task.kind);
  // A retry of a task that flagged its slots and then died: the coordinator may have published the next
  // step already, whose tasks write these slots. Answer from the recorded outcomes; compute only the rest.
  const done = task.microBatches.map((mb) => flagged(t, task.step, mb.index));
  const answered = task.microBatches.filter((_, i) => done[i]);
  const todo = task.microBatches.filter((_, i) => !done[i]);
  const start = () => {
    markRunning(seq);
    maybeInjectFault(task.step, task.shard, task.attempt);
  };
  let computed = NOTHING_COMPUTED;
  if (todo.length > 0) computed = await shardGradients(t, { ...task, microBatches: todo }, start);
  else start();
  const { weightCopySeconds, weightWaitSeconds, computeSeconds } = computed;
  flagSlots(t, task.step, computed.results);
  maybeLoseAnswer(task.step, task.shard, task.attempt);
  const results = [...answered.map((mb) => recordedOutcome(t, task.step, mb)), ...computed.results].sort((a, b) => a.index - b.index);
  return {
    kind: 'train',
    threadId,
    microBatches: results,
    computeSeconds,
    numTensors: tf.memory().numTensors,
    weightCopySeconds,
    weightWaitSeconds,
    memory: workerMemory(),
  };
}

/** pixelsense bench --ceiling: the same shard `repeat` times back to back, as a fresh step each time, nothing reduced. */
async function ceiling(task: Extract<TaskMessage, { kind: 'ceiling' }>): Promise<TaskResult> {
  const t = needTraining(task.kind);
  const t0 = performance.now();
  for (let r = 0; r < task.repeat; r++) await shardGradients(t, task);
  const examples = task.repeat * task.microBatches.reduce((s, mb) => s + mb.count, 0);
  return { kind: 'ceiling', threadId, examples, computeSeconds: (performance.now() - t0) / 1000 };
}

/** One micro-batch's loss and gradient, into its shared slot. */
function trainMicroBatch(t: Training, p: PreparedMicroBatch, params: tf.Tensor[]): MicroBatchResult {
  const slot = { gradients: t.gradients, batchStats: t.batchStats, index: p.mb.index };
  const g = microBatchGradient(t.plan, params, p.pixels, p.labels, {
    labelSmoothing: t.config.train.labelSmoothing,
    maskValues: p.maskValues,
    slot,
  });
  return { index: p.mb.index, loss: g.loss, correct: g.correct, count: p.mb.count };
}

/** This thread's heap, tensor bytes and (wasm backend) linear memory: a few microseconds, no syscalls. */
function workerMemory(): WorkerMemory {
  const heap = getHeapStatistics();
  const wasm = (tf.backend() as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  return {
    heapUsed: heap.used_heap_size,
    heapTotal: heap.total_heap_size,
    external: heap.external_memory,
    tfBytes: tf.memory().numBytes,
    ...(wasm?.HEAPU8 ? { wasmHeap: wasm.HEAPU8.byteLength } : {}),
  };
}

const EVAL_CHUNK = 500;

async function evaluate(task: Extract<TaskMessage, { kind: 'eval' | 'evalModel' }>): Promise<TaskResult> {
  const t0 = performance.now();
  const split = init.dataset[task.split];
  const confusion = new Array<number>(NUM_CLASSES * NUM_CLASSES).fill(0);
  let lossSum = 0;
  const model = task.kind === 'evalModel' ? await loadModelForEval(task.modelDir) : undefined;
  // The trainer's current weights, unless the task names a saved model.
  const t = model ? undefined : needTraining(task.kind);
  const params = t ? paramTensors(t.plan, t.weights) : [];
  const state = t ? stateTensors(t.plan, t.weights) : [];
  try {
    for (let s = task.start; s < task.start + task.count; s += EVAL_CHUNK) {
      const n = Math.min(EVAL_CHUNK, task.start + task.count - s);
      const batch = readExamples(split, rangeIndices(s, n));
      const logits = t ? predictLogits(t.plan, params, state, batch.pixels, n) : (model as NonNullable<typeof model>)(batch.pixels, n);
      lossSum += evaluateLogits(logits, batch.labels, confusion, model !== undefined);
    }
  } finally {
    tf.dispose([...params, ...state]);
  }
  return { kind: 'eval', threadId, confusion, lossSum, count: task.count, computeSeconds: (performance.now() - t0) / 1000 };
}

/** Tell the coordinator's watchdog that this thread runs task `seq` (WorkerInit.running). */
function markRunning(seq: number): void {
  init.runningSince[seq % RUNNING_SLOTS] = performance.timeOrigin + performance.now();
  Atomics.store(init.running, seq % RUNNING_SLOTS, threadId);
}

export default async function run(bytes: Encoded): Promise<Encoded> {
  const backend = await backendReady();
  const { seq, task } = decodeTask(bytes);
  // A step sent early may have been taken from the port together with the
  // previous task, whose result Piscina posts in a microtask still queued:
  // let it leave before this task does anything (or fails), since the
  // coordinator publishes this step's weights only once it has that result.
  if (task.kind === 'train' && task.after !== undefined) await new Promise((resolve) => setImmediate(resolve));
  if (task.kind !== 'train') markRunning(seq);
  let result: TaskResult;
  switch (task.kind) {
    case 'warmup':
      result = { kind: 'warmup', backend, threadId };
      break;
    case 'train':
      result = await train(task, seq);
      break;
    case 'ceiling':
      result = await ceiling(task);
      break;
    case 'eval':
    case 'evalModel':
      result = await evaluate(task);
      break;
  }
  return move(encode(result)) as unknown as Encoded;
}
