/**
 * `pixelsense bench --ceiling`: what W uncoordinated worker threads reach on
 * the training's own work. A pool of W workers, set up as the Trainer's
 * (same config, initial weights, epoch-0 order), each computes its shard of
 * step 0 again and again, all at once, with no reduce, update or dispatch in
 * between ('ceiling' tasks). Its speed-up over W=1 is the machine's own
 * scaling limit (shared cores, caches, memory bandwidth) for this work.
 */
import type { Config } from '../../shared/config.js';
import type { SharedDataset } from '../../shared/dataset.js';
import { cutMicroBatches, microBatchesPerStep, shardMicroBatches } from '../../shared/messages.js';
import { planModel } from '../../shared/modelPlan.js';
import { epochPermutation } from '../../shared/rng.js';
import { allocateBuffers, initialWeights, workerBuffers } from '../training/parameterServer.js';
import { WorkerPool } from '../training/workerPool.js';

export interface CeilingResult {
  readonly examples: number;
  readonly seconds: number;
}

/**
 * Every worker computes its shard `warmup` times, at least once (unmeasured: kernels packed,
 * caches warm, as after the bench's warm-up steps), then `repeat` times
 * under the clock. The pool starts and stops here.
 */
export async function measureCeiling(
  cfg: Config,
  dataset: SharedDataset,
  workers: number,
  o: { warmup: number; repeat: number },
): Promise<CeilingResult> {
  const plan = planModel(cfg.model);
  const buffers = allocateBuffers(plan, microBatchesPerStep(cfg));
  initialWeights(plan, cfg.train.seed, buffers.weights);
  const order = new SharedArrayBuffer(dataset.train.count * Uint32Array.BYTES_PER_ELEMENT);
  new Uint32Array(order).set(epochPermutation(dataset.train.count, cfg.train.seed, 0));
  const pool = await WorkerPool.start({
    workers,
    init: {
      backend: cfg.runtime.backend,
      stockKernels: cfg.runtime.stockKernels,
      dataset,
      training: { config: cfg, order, ...workerBuffers(buffers) },
    },
  });
  try {
    const shards = shardMicroBatches(
      cutMicroBatches(0, Math.min(cfg.train.batchSize, dataset.train.count), cfg.train.microBatchSize),
      pool.size,
    );
    const round = (repeat: number) =>
      Promise.all(
        shards.map((microBatches, shard) =>
          pool.run({ kind: 'ceiling', epoch: 0, step: 0, microBatches, repeat }, `ceiling shard ${shard}`),
        ),
      );
    await round(Math.max(1, o.warmup));
    const t0 = performance.now();
    const results = await round(o.repeat);
    return { examples: results.reduce((s, r) => s + r.examples, 0), seconds: (performance.now() - t0) / 1000 };
  } finally {
    await pool.close();
  }
}
