/**
 * `pixelsense eval <run-or-model-dir>`: evaluate a saved model on a split,
 * sharded over a worker pool (each worker loads the model once).
 */
import { resolve } from 'node:path';
import { parseConfig } from '../../shared/config.js';
import { microBatchesPerStep } from '../../shared/messages.js';
import { planModel } from '../../shared/modelPlan.js';
import type { SplitName } from '../../shared/dataset.js';
import type { BackendChoice } from '../../shared/backend.js';
import { evalReport, formatEvalReport } from '../report/classification.js';
import { Evaluator } from '../training/evaluator.js';
import { loadFashionMnist } from '../data/fashionMnist.js';
import { loadModelDir } from '../../shared/modelFiles.js';
import { initBackend } from '../../shared/backend.js';
import { allocateBuffers, workerBuffers } from '../training/parameterServer.js';
import { resolveWorkerCount, WorkerPool } from '../training/workerPool.js';

export interface EvalArgs {
  dir: string;
  split?: string;
  workers?: number;
  backend?: string;
  'stock-kernels'?: boolean;
  'data-dir'?: string;
  json?: boolean;
}

export async function runEval(argv: EvalArgs): Promise<number> {
  // Load the model once here first: a missing or malformed model.json, or
  // weights of the wrong size, is a ModelError (exit 2) before any worker starts.
  await initBackend((argv.backend ?? 'auto') as BackendChoice, { stockKernels: argv['stock-kernels'] === true });
  (await loadModelDir(argv.dir)).dispose();
  const split = (argv.split ?? 'test') as SplitName;
  const dataset = await loadFashionMnist({ dataDir: argv['data-dir'], log: (l) => process.stderr.write(`${l}\n`) });
  // Workers evaluate the saved Layers model; the default config only sizes unused buffers.
  const cfg = parseConfig({ runtime: { backend: argv.backend ?? 'auto' } }, '<eval defaults>');
  const workers = resolveWorkerCount(argv.workers ?? 0);
  const plan = planModel(cfg.model);
  const order = new SharedArrayBuffer(4);
  const pool = await WorkerPool.start({
    workers,
    init: { config: cfg, backend: (argv.backend ?? 'auto') as BackendChoice, stockKernels: argv['stock-kernels'] === true, dataset, order, ...workerBuffers(allocateBuffers(plan, microBatchesPerStep(cfg))) },
    taskTimeoutMs: cfg.runtime.taskTimeoutSeconds * 1000,
  });
  try {
    const totals = await new Evaluator(pool, dataset).run(split, resolve(argv.dir));
    const report = evalReport(totals.confusion, totals.lossSum, totals.count);
    process.stderr.write(`${argv.dir}: ${split} split, ${totals.count} examples, ${workers} workers, backend ${pool.backend}, ${totals.seconds.toFixed(2)} s\n`);
    if (argv.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else process.stdout.write(`${formatEvalReport(report)}\n`);
  } finally {
    await pool.close();
  }
  return 0;
}
