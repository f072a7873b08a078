/**
 * `runtime.backend: auto` on a machine where @tensorflow/tfjs-node loads:
 * before training on it, one micro-batch's gradient is computed on it and on
 * wasm (in a short-lived thread, src/worker/gradientCheckThread.ts) and
 * compared. If they differ beyond the tolerance, the run falls back to wasm
 * with one warning line. Where tfjs-node does not load, `auto` means wasm and
 * nothing is checked (no thread, no cost).
 */
import { Worker } from 'node:worker_threads';
import { initBackend } from '../../shared/backend.js';
import type { Config } from '../../shared/config.js';
import type { SharedDataset } from '../../shared/dataset.js';
import { planModel } from '../../shared/modelPlan.js';
import { initialWeights } from '../training/parameterServer.js';

/** What the check thread posts back (GradientCheck from src/worker/gradientCheck.ts, as plain data). */
export type CheckReply =
  | { ok: true; check: { relativeDifference: number; tolerance: number; agree: boolean } }
  | { ok: false; error: string };

/** The config to train with: `auto` resolved to 'tensorflow' when its gradient agrees with wasm's, else to 'wasm'. */
export async function checkAutoBackend(cfg: Config, dataset: SharedDataset, log: (line: string) => void): Promise<Config> {
  if (cfg.runtime.backend !== 'auto') return cfg;
  const found = await initBackend('auto', { stockKernels: cfg.runtime.stockKernels });
  if (found !== 'tensorflow') return cfg;
  const reply = await runGradientCheck(cfg, dataset, 'tensorflow', 'wasm');
  const use = (backend: 'tensorflow' | 'wasm'): Config => ({ ...cfg, runtime: { ...cfg.runtime, backend } });
  if (reply.ok && reply.check.agree) return use('tensorflow');
  const why = reply.ok
    ? `its gradient differs from wasm's by ${reply.check.relativeDifference.toExponential(2)} (relative; tolerance ${reply.check.tolerance})`
    : `the gradient check failed (${reply.error})`;
  log(`warning: backend auto: not using tensorflow (@tensorflow/tfjs-node): ${why}; training on wasm`);
  return use('wasm');
}

/**
 * One micro-batch (the first `train.microBatchSize` training examples, the
 * run's initial weights) through `candidate` and `reference` in a fresh
 * thread. Never rejects: a failure is a reply with ok false.
 */
export function runGradientCheck(
  cfg: Config,
  dataset: SharedDataset,
  candidate: 'tensorflow' | 'wasm' | 'cpu',
  reference: 'tensorflow' | 'wasm' | 'cpu',
): Promise<CheckReply> {
  const plan = planModel(cfg.model);
  const weights = new Float32Array(plan.paramCount + plan.stateCount);
  initialWeights(plan, cfg.train.seed, weights);
  return runCheckThread({
    candidate,
    reference,
    model: cfg.model,
    stockKernels: cfg.runtime.stockKernels,
    weights,
    train: dataset.train,
    count: Math.min(cfg.train.microBatchSize, dataset.train.count),
  });
}

function runCheckThread(workerData: unknown): Promise<CheckReply> {
  return new Promise((resolve) => {
    const thread = new Worker(new URL('../../worker/gradientCheckThread.js', import.meta.url), { workerData });
    let reply: CheckReply | undefined;
    thread.once('message', (m: CheckReply) => (reply = m));
    thread.once('error', (err) => (reply ??= { ok: false, error: err.message }));
    thread.once('exit', (code) => resolve(reply ?? { ok: false, error: `check thread exited with code ${code}` }));
  });
}
