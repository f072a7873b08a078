/**
 * Thread entry for the `auto` backend check: the coordinator may not import
 * worker code, and tfjs keeps one global backend per thread, so the check
 * runs here and posts its GradientCheck back. workerData: GradientCheckInit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, type BackendChoice } from '../shared/backend.js';
import type { Config } from '../shared/config.js';
import { planModel } from '../shared/modelPlan.js';
import type { SharedSplit } from '../shared/dataset.js';
import { rangeIndices, readExamples } from './examples.js';
import { compareBackends } from './gradientCheck.js';

export interface GradientCheckInit {
  /** The backend under test ('tensorflow' in production) and the one it must match ('wasm'). */
  readonly candidate: Exclude<BackendChoice, 'auto'>;
  readonly reference: Exclude<BackendChoice, 'auto'>;
  readonly model: Config['model'];
  readonly stockKernels: boolean;
  readonly weights: Float32Array;
  /** The check uses the first `count` training examples: one micro-batch. */
  readonly train: SharedSplit;
  readonly count: number;
}

const init = workerData as GradientCheckInit;
try {
  // Both backends initialised the way a worker would (our wasm kernels included); compareBackends switches between them.
  await initBackend(init.candidate, { stockKernels: init.stockKernels });
  await initBackend(init.reference, { stockKernels: init.stockKernels });
  const check = await compareBackends(
    init.candidate,
    init.reference,
    planModel(init.model),
    init.weights,
    readExamples(init.train, rangeIndices(0, init.count)),
  );
  parentPort?.postMessage({ ok: true, check });
} catch (err) {
  parentPort?.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
}
