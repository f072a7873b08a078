/**
 * evaluate(): a saved model (a run directory or its model/ directory) on a
 * Fashion-MNIST split, sharded over a worker pool (each worker loads the
 * model once). Prints nothing.
 */
import { resolve } from 'node:path';
import { initBackend } from '../../shared/backend.js';
import { UsageError } from '../../shared/errors.js';
import { loadModelDir } from '../../shared/modelFiles.js';
import { loadFashionMnist } from '../data/fashionMnist.js';
import { evalReport } from '../report/classification.js';
import { Evaluator } from '../training/evaluator.js';
import { resolveWorkerCount, WorkerPool } from '../training/workerPool.js';
import type { EvaluateOptions, Evaluation } from './options.js';

/**
 * Accuracy, loss, per-class precision/recall/F1, macro and weighted F1 and the
 * confusion matrix. Rejects with ModelError (bad model directory), DataError
 * (bad data) or UsageError (bad options) before any worker starts.
 */
export async function evaluate(runOrModelDir: string, o: EvaluateOptions = {}): Promise<Evaluation> {
  const split = o.split ?? 'test';
  if (split !== 'test' && split !== 'train') throw new UsageError(`split must be 'test' or 'train' (got '${String(split)}')`);
  const backendChoice = o.backend ?? 'auto';
  const stockKernels = o.stockKernels === true;
  // Load the model once here first: a missing or malformed model.json, or
  // weights of the wrong size, is a ModelError (exit 2) before any worker starts.
  await initBackend(backendChoice, { stockKernels });
  (await loadModelDir(runOrModelDir)).dispose();
  const dataset = await loadFashionMnist({ dataDir: o.dataDir, log: o.log ?? (() => {}) });
  // Workers evaluate the saved Layers model: a pool with no training block.
  const workers = resolveWorkerCount(o.workers);
  const pool = await WorkerPool.start({ workers, init: { backend: backendChoice, stockKernels, dataset } });
  try {
    const totals = await new Evaluator(pool, dataset).run(split, resolve(runOrModelDir));
    const report = evalReport(totals.confusion, totals.lossSum, totals.count);
    return { ...report, split, workers, backend: pool.backend, seconds: totals.seconds };
  } finally {
    await pool.close();
  }
}
