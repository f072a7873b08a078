/**
 * The bench's reference point: plain single-thread `model.fit` of the same
 * architecture, initial weights, backend, kernels and batches (what the
 * thread does: src/worker/fitBaseline.ts).
 *
 * It runs in its own worker thread, so the coordinator's process state (and
 * tfjs engine) is untouched and the thread is like one of the pool's.
 */
import { Worker } from 'node:worker_threads';
import type { FitJob, FitResult } from '../../shared/benchJobs.js';
import { planModel } from '../../shared/modelPlan.js';
import { initialWeights } from '../training/parameterServer.js';

export type { FitResult } from '../../shared/benchJobs.js';

/** Run the baseline in a fresh worker thread; resolves with its measurement. */
export function measureFit(job: Omit<FitJob, 'weights'>): Promise<FitResult> {
  const plan = planModel(job.config.model);
  const weights = new Float32Array(plan.paramCount + plan.stateCount);
  initialWeights(plan, job.config.train.seed, weights);
  const worker = new Worker(new URL('../../worker/fitBaseline.js', import.meta.url), { workerData: { ...job, weights } satisfies FitJob });
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
