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
  type WorkerMemory,
} from '../shared/messages.js';
import { planModel, type ModelPlan } from '../shared/modelPlan.js';
import { Rng, Stream } from '../shared/rng.js';
import { augmentBatch, rangeIndices, readExamples } from './examples.js';
import { maybeInjectFault } from './faults.js';
import { evaluateLogits } from './evaluation.js';
import { microBatchGradient, paramTensors, predictLogits, stateTensors } from './network.js';
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

type ShardTask = Pick<Extract<TaskMessage, { kind: 'train' }>, 'epoch' | 'step' | 'microBatches'>;

/** Forward and backward of one shard: every micro-batch's gradient into its slot. */
function shardGradients(t: Training, task: ShardTask): { results: MicroBatchResult[]; weightCopySeconds: number } {
  const t0 = performance.now();
  // A fresh copy of the weights for this step: the coordinator rewrote them
  // since the last task, and XNNPACK caches packed weights per tensor id, so
  // weights must be new tensors, never an overwrite of old ones.
  const params = paramTensors(t.plan, t.weights);
  const weightCopySeconds = (performance.now() - t0) / 1000;
  try {
    return { results: task.microBatches.map((mb) => trainMicroBatch(t, task, mb, params)), weightCopySeconds };
  } finally {
    tf.dispose(params);
  }
}

async function train(task: Extract<TaskMessage, { kind: 'train' }>): Promise<TaskResult> {
  const t = needTraining(task.kind);
  maybeInjectFault(task.step, task.shard, task.attempt);
  const t0 = performance.now();
  const { results, weightCopySeconds } = shardGradients(t, task);
  return {
    kind: 'train',
    threadId,
    microBatches: results,
    computeSeconds: (performance.now() - t0) / 1000,
    numTensors: tf.memory().numTensors,
    weightCopySeconds,
    memory: workerMemory(),
  };
}

/** pixelsense bench --ceiling: the same shard `repeat` times back to back, as a fresh step each time, nothing reduced. */
async function ceiling(task: Extract<TaskMessage, { kind: 'ceiling' }>): Promise<TaskResult> {
  const t = needTraining(task.kind);
  const t0 = performance.now();
  for (let r = 0; r < task.repeat; r++) shardGradients(t, task);
  const examples = task.repeat * task.microBatches.reduce((s, mb) => s + mb.count, 0);
  return { kind: 'ceiling', threadId, examples, computeSeconds: (performance.now() - t0) / 1000 };
}

/** One micro-batch: its examples (augmented), its dropout stream, its gradient into its shared slot. */
function trainMicroBatch(t: Training, task: ShardTask, mb: MicroBatch, params: tf.Tensor[]): MicroBatchResult {
  const cfg = t.config;
  const batch = readExamples(init.dataset.train, t.orderView.subarray(mb.start, mb.start + mb.count));
  augmentBatch(batch, cfg.augment, Rng.derive(cfg.train.seed, Stream.augment, task.epoch, task.step, mb.index));
  const rng = Rng.derive(cfg.train.seed, Stream.dropout, task.epoch, task.step, mb.index);
  const slot = { gradients: t.gradients, batchStats: t.batchStats, index: mb.index };
  const g = microBatchGradient(t.plan, params, batch.pixels, batch.labels, { labelSmoothing: cfg.train.labelSmoothing, rng, slot });
  return { index: mb.index, loss: g.loss, correct: g.correct, count: mb.count };
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

export default async function run(bytes: Encoded): Promise<Encoded> {
  const backend = await backendReady();
  const task = decodeTask(bytes);
  let result: TaskResult;
  switch (task.kind) {
    case 'warmup':
      result = { kind: 'warmup', backend, threadId };
      break;
    case 'train':
      result = await train(task);
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
