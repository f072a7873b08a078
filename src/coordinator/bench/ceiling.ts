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
import { cutMicroBatches, microBatchesPerStep, shardMicroBatches, type MicroBatch } from '../../shared/messages.js';
import { planModel } from '../../shared/modelPlan.js';
import { epochPermutation } from '../../shared/rng.js';
import { allocateBuffers, initialWeights, workerBuffers } from '../training/parameterServer.js';
import { WorkerPool } from '../training/workerPool.js';

/**
 * --ceiling: training and the uncoordinated pool take turns every this many
 * steps. Short enough that both see the same state of a drifting machine;
 * long enough that each turn's one unpipelined first step (and the cold
 * caches the other pool left) stay a small part of it.
 */
export const CEILING_SEGMENT_STEPS = 10;

export interface CeilingResult {
  readonly examples: number;
  readonly seconds: number;
}

/**
 * A pool of W workers set up as the Trainer's, kept warm for as many
 * measurements as the caller asks for: the bench alternates them with
 * training segments (api/bench.ts), so that both see the same moment of a
 * machine whose speed drifts (this 2-vCPU VM's ceiling moved by 20%
 * between runs a minute apart).
 */
export class UncoordinatedPool {
  private constructor(
    private readonly pool: WorkerPool,
    private readonly shards: MicroBatch[][],
  ) {}

  /** Starts the pool and computes every shard `warmup` times, at least once (unmeasured: kernels packed, caches warm). */
  static async start(cfg: Config, dataset: SharedDataset, workers: number, warmup: number): Promise<UncoordinatedPool> {
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
    const shards = shardMicroBatches(
      cutMicroBatches(0, Math.min(cfg.train.batchSize, dataset.train.count), cfg.train.microBatchSize),
      pool.size,
    );
    const u = new UncoordinatedPool(pool, shards);
    try {
      await u.measure(Math.max(1, warmup));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return u;
  }

  /** Every worker computes its shard `repeat` times back to back, all at once, under the clock. */
  async measure(repeat: number): Promise<CeilingResult> {
    const t0 = performance.now();
    const results = await Promise.all(
      this.shards.map((microBatches, shard) =>
        this.pool.run({ kind: 'ceiling', epoch: 0, step: 0, microBatches, repeat }, `ceiling shard ${shard}`),
      ),
    );
    return { examples: results.reduce((s, r) => s + r.examples, 0), seconds: (performance.now() - t0) / 1000 };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
