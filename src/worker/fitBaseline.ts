/**
 * The thread side of the bench's model.fit reference (launcher:
 * src/coordinator/bench/fitBaseline.ts): plain single-thread `model.fit` of
 * the same architecture and initial weights (toLayersModel), the same backend
 * and kernels (initBackend), the same real Fashion-MNIST batches in the same
 * order (epoch 0's permutation), adam + categorical cross-entropy.
 *
 * Steady state: one fit() over warmup + steps batches; the clock runs from
 * the start of batch `warmup` to the end of the last batch, read in
 * onBatchBegin/onBatchEnd (the per-batch callback makes tfjs-layers read the
 * loss every batch — one sync per step, as the workers do).
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../shared/backend.js';
import type { FitJob, FitResult } from '../shared/benchJobs.js';
import { IMAGE_SIZE, NUM_CLASSES } from '../shared/dataset.js';
import { toLayersModel } from '../shared/layersExport.js';
import { planModel } from '../shared/modelPlan.js';
import { epochPermutation } from '../shared/rng.js';
import { readExamples } from './examples.js';

async function runFitJob(job: FitJob): Promise<FitResult> {
  const backend = await initBackend(job.backend, { stockKernels: job.stockKernels });
  const cfg = job.config;
  const B = cfg.train.batchSize;
  const batches = job.warmup + job.steps;
  const n = Math.min(batches * B, job.dataset.train.count);
  const model = toLayersModel(planModel(cfg.model), job.weights);
  model.compile({
    optimizer: tf.train.adam(cfg.optimizer.lr, cfg.optimizer.beta1, cfg.optimizer.beta2, cfg.optimizer.epsilon),
    loss: 'categoricalCrossentropy',
  });
  const order = epochPermutation(job.dataset.train.count, cfg.train.seed, 0).subarray(0, n);
  const batch = readExamples(job.dataset.train, order);
  const x = tf.tensor4d(batch.pixels, [n, IMAGE_SIZE, IMAGE_SIZE, 1]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(batch.labels, 'int32'), NUM_CLASSES));
  let start = 0;
  let end = 0;
  let measured = 0;
  await model.fit(x, y, {
    batchSize: B,
    epochs: 1,
    shuffle: false,
    verbose: 0,
    callbacks: {
      onBatchBegin: async (b: number) => {
        if (b === job.warmup) start = performance.now();
      },
      onBatchEnd: async (b: number) => {
        if (b >= job.warmup) {
          end = performance.now();
          measured += Math.min(B, n - b * B);
        }
      },
    },
  });
  const seconds = (end - start) / 1000;
  const steps = Math.ceil(measured / B);
  const wasm = (tf.backend() as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  tf.dispose([x, y]);
  model.dispose();
  return {
    backend,
    examplesPerSecond: seconds > 0 ? measured / seconds : 0,
    stepSeconds: steps > 0 ? seconds / steps : 0,
    steps,
    heapUsed: getHeapStatistics().used_heap_size,
    wasmHeap: wasm?.HEAPU8?.byteLength ?? null,
  };
}

parentPort?.postMessage(await runFitJob(workerData as FitJob));
