/**
 * The bench's reference point: plain single-thread `model.fit` of the same
 * architecture (toLayersModel over the same plan and initial weights), same
 * backend and kernels (initBackend), same real Fashion-MNIST batches in the
 * same order (epoch 0's permutation), adam + categorical cross-entropy.
 *
 * It runs in its own worker thread, so the coordinator's process state (and
 * tfjs engine) is untouched and the thread is like one of the pool's. This
 * module is both the launcher (measureFit, main side) and the worker's entry
 * (the block at the bottom runs only inside that worker).
 *
 * Steady state: one fit() over warmup + steps batches; the clock runs from
 * the start of batch `warmup` to the end of the last batch, read in
 * onBatchBegin/onBatchEnd (the per-batch callback makes tfjs-layers read the
 * loss every batch — one sync per step, as the workers do).
 */
import { isMainThread, Worker, workerData, parentPort } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import type { BackendChoice } from '../../shared/backend.js';
import type { Config } from '../../shared/config.js';
import type { SharedDataset } from '../../shared/dataset.js';

export interface FitJob {
  readonly role: 'pixelsense-fit-baseline';
  readonly config: Config;
  readonly backend: BackendChoice;
  readonly stockKernels: boolean;
  readonly dataset: SharedDataset;
  readonly warmup: number;
  readonly steps: number;
}

export interface FitResult {
  readonly backend: string;
  readonly examplesPerSecond: number;
  readonly stepSeconds: number;
  readonly steps: number;
  /** Heap of the fit thread's isolate and the wasm linear memory, bytes, after the run. */
  readonly heapUsed: number;
  readonly wasmHeap: number | null;
}

/** Run the baseline in a fresh worker thread; resolves with its measurement. */
export function measureFit(job: Omit<FitJob, 'role'>): Promise<FitResult> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: 'pixelsense-fit-baseline', ...job } satisfies FitJob });
  return new Promise<FitResult>((resolve, reject) => {
    let settled = false;
    worker.once('message', (m: FitResult) => {
      settled = true;
      resolve(m);
    });
    worker.once('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`model.fit baseline thread exited with code ${code} before reporting`));
    });
  }).finally(() => worker.terminate());
}

async function runFitJob(job: FitJob): Promise<FitResult> {
  const tf = await import('@tensorflow/tfjs-core');
  const { initBackend } = await import('../../shared/backend.js');
  const { planModel } = await import('../../shared/modelPlan.js');
  const { epochPermutation } = await import('../../shared/rng.js');
  const { NUM_CLASSES, IMAGE_SIZE } = await import('../../shared/dataset.js');
  const { readExamples } = await import('../../worker/examples.js');
  const { initialWeights } = await import('../training/parameterServer.js');
  const { toLayersModel } = await import('../training/layersExport.js');

  const backend = await initBackend(job.backend, { stockKernels: job.stockKernels });
  const cfg = job.config;
  const B = cfg.train.batchSize;
  const batches = job.warmup + job.steps;
  const n = Math.min(batches * B, job.dataset.train.count);
  const plan = planModel(cfg.model);
  const weights = new Float32Array(plan.paramCount + plan.stateCount);
  initialWeights(plan, cfg.train.seed, weights);
  const model = toLayersModel(plan, weights);
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

// The worker side: only when this module is the entry of a thread measureFit started.
if (!isMainThread && (workerData as { role?: string } | null)?.role === 'pixelsense-fit-baseline') {
  const result = await runFitJob(workerData as FitJob);
  parentPort?.postMessage(result);
}
