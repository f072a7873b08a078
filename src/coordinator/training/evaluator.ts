/**
 * Sharded evaluation: a split is cut into one contiguous range per worker,
 * each worker returns a confusion matrix and a loss sum, and the coordinator
 * adds them up. Used during training (current weights) and by
 * `pixelsense eval` (a saved model directory).
 */
import { NUM_CLASSES, type SharedDataset, type SplitName } from '../../shared/dataset.js';
import type { WorkerPool } from './workerPool.js';

export interface EvalTotals {
  /** 10x10 counts, rows true label, columns predicted. */
  readonly confusion: number[][];
  readonly lossSum: number;
  readonly count: number;
  readonly seconds: number;
}

export class Evaluator {
  constructor(
    private readonly pool: WorkerPool,
    private readonly dataset: SharedDataset,
  ) {}

  /** Evaluate the pool's current weights, or the saved model in `modelDir`. */
  async run(split: SplitName, modelDir?: string): Promise<EvalTotals> {
    const t0 = performance.now();
    const n = this.dataset[split].count;
    const shards = Math.min(this.pool.size, n);
    const results = await Promise.all(
      Array.from({ length: shards }, (_, k) => {
        const start = Math.floor((k * n) / shards);
        const count = Math.floor(((k + 1) * n) / shards) - start;
        const task = modelDir
          ? ({ kind: 'evalModel', modelDir, split, start, count } as const)
          : ({ kind: 'eval', split, start, count } as const);
        return this.pool.run(task, `eval ${split} shard ${k}`);
      }),
    );
    const flat = new Array<number>(NUM_CLASSES * NUM_CLASSES).fill(0);
    let lossSum = 0;
    let count = 0;
    for (const r of results) {
      r.confusion.forEach((v, i) => {
        flat[i] = (flat[i] as number) + v;
      });
      lossSum += r.lossSum;
      count += r.count;
    }
    const confusion = Array.from({ length: NUM_CLASSES }, (_, t) => flat.slice(t * NUM_CLASSES, (t + 1) * NUM_CLASSES));
    return { confusion, lossSum, count, seconds: (performance.now() - t0) / 1000 };
  }
}
