/**
 * End to end through the worker pool: 2 workers and 1 worker, same seed and
 * global batch, lower the loss and end with the same weights.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadFashionMnist } from '../src/coordinator/data/fashionMnist.js';
import { fashionMnistDir } from './support/data.js';
import { TrainingMetrics } from '../src/coordinator/metrics/metrics.js';
import { createReporter } from '../src/coordinator/training/progress.js';
import { evalReport } from '../src/coordinator/report/classification.js';
import { Evaluator } from '../src/coordinator/training/evaluator.js';
import { RunDir } from '../src/coordinator/training/runDir.js';
import type { EpochRecord, EvalDetail, StepEvent } from '../src/coordinator/training/stepEvent.js';
import { Trainer, type TrainResult } from '../src/coordinator/training/trainer.js';
import { WorkerPool } from '../src/coordinator/training/workerPool.js';
import { initBackend } from '../src/shared/backend.js';
import { parseConfig } from '../src/shared/config.js';

await initBackend('wasm');
const cfg = parseConfig(
  {
    model: { kind: 'cnn', conv: [{ filters: 8 }, { filters: 16 }], dense: [32] },
    data: { trainLimit: 512, testLimit: 200 },
    train: { epochs: 3, batchSize: 64, microBatchSize: 16, seed: 3 },
    optimizer: { lr: 3e-3 },
    metrics: { enabled: false },
  },
  'training.test',
);
const dataset = await loadFashionMnist({ dataDir: await fashionMnistDir(), trainLimit: 512, testLimit: 200 });

async function train(workers: number): Promise<{
  dir: string;
  result: TrainResult;
  weights: Float32Array;
  steps: StepEvent[];
  evals: EpochRecord[];
  details: EvalDetail[];
  order: string[];
  /** This thread's nice value at each step event, and once the trainer closed. */
  priorities: number[];
  priorityAfter: number;
}> {
  const runDir = RunDir.create(mkdtempSync(join(tmpdir(), `pixelsense-train-w${workers}-`)), false);
  const metrics = new TrainingMetrics({ runId: `w${workers}`, model: 'cnn', backend: 'wasm', workers, configFile: 'training.test' });
  const trainer = await Trainer.create({
    cfg,
    configFile: 'training.test',
    runDir,
    dataset,
    workers,
    metrics,
    reporter: createReporter({ quiet: true }),
    stopRequested: () => false,
  });
  const steps: StepEvent[] = [];
  const evals: EpochRecord[] = [];
  const details: EvalDetail[] = [];
  const order: string[] = [];
  const priorities: number[] = [];
  trainer.events.on('step', (e) => {
    priorities.push(getPriority(0));
    steps.push(e);
    order.push(`step ${e.step}`);
  });
  trainer.events.on('eval', (e, d) => {
    order.push(`eval ${e.step}`);
    evals.push(e);
    details.push(d);
  });
  let result: TrainResult;
  try {
    result = await trainer.run();
  } finally {
    await trainer.close();
  }
  return {
    dir: runDir.path,
    result,
    weights: trainer.weights.slice(),
    steps,
    evals,
    details,
    order,
    priorities,
    priorityAfter: getPriority(0),
  };
}

const one = await train(1);
const two = await train(2);

test('training through the pool lowers the loss', () => {
  const h = one.result.history;
  assert.equal(h.length, 3);
  assert.ok((h[2]?.train_loss as number) < (h[0]?.train_loss as number), JSON.stringify(h.map((e) => e.train_loss)));
  assert.ok(one.result.test.accuracy > 0.5, `test accuracy ${one.result.test.accuracy}`);
});

test('2 workers end with the same weights as 1 worker for the same seed and global batch', () => {
  let maxdiff = 0;
  for (let i = 0; i < one.weights.length; i++)
    maxdiff = Math.max(maxdiff, Math.abs((one.weights[i] as number) - (two.weights[i] as number)));
  const digest = (w: Float32Array) => createHash('sha256').update(w).digest('hex').slice(0, 16);
  console.log(`# W=1 vs W=2: max weight difference ${maxdiff}, sha256 ${digest(one.weights)} vs ${digest(two.weights)}`);
  assert.ok(maxdiff <= 1e-5);
  assert.equal(digest(one.weights), digest(two.weights), 'and in fact bitwise identical');
});

test('both runs report the same test accuracy and loss', () => {
  assert.equal(one.result.test.accuracy, two.result.test.accuracy);
  assert.ok(Math.abs(one.result.test.loss - two.result.test.loss) < 1e-9);
});

test('the trainer publishes one step event per step, in order, with one shard entry per worker', () => {
  assert.deepEqual(
    two.steps.map((e) => e.step),
    Array.from({ length: 24 }, (_, i) => i + 1),
  );
  for (const e of two.steps) {
    assert.equal(e.shards.length, 2);
    assert.equal(
      e.shards.reduce((s, x) => s + x.examples, 0),
      e.examples,
    );
    assert.ok(e.stepSeconds >= e.reduceSeconds + e.updateSeconds);
  }
});

test("every step's event comes before the evaluation after it, also when no core is spare and step events wait for the next step's first shard", () => {
  // On a 2-core machine the 2-worker run leaves no core to spare: each step's event is then emitted once the next
  // step's first shard is in (Trainer.advance), and an evaluation must flush the last one first.
  for (const run of [one, two]) {
    const evalAt = run.order.flatMap((e, i) => (e.startsWith('eval') ? [i] : []));
    assert.equal(evalAt.length, 3);
    for (const i of evalAt) {
      const step = Number((run.order[i] as string).split(' ')[1]);
      assert.equal(run.order[i - 1], `step ${step}`, run.order.slice(Math.max(0, i - 3), i + 1).join(', '));
    }
  }
});

test('on Linux the coordinator thread runs at runtime.coordinatorNice (10) while the workers take every core, and gets its priority back after the run', (t) => {
  if (process.platform !== 'linux') return t.skip('thread nice values are per thread on Linux only');
  for (const [run, workers] of [
    [one, 1],
    [two, 2],
  ] as const) {
    const expected = workers >= availableParallelism() ? 10 : 0;
    assert.deepEqual(new Set(run.priorities), new Set([expected]), `W=${workers} on ${availableParallelism()} cores`);
    assert.equal(run.priorityAfter, 0);
  }
});

test('the trainer publishes each evaluation as the same record it keeps in its history', () => {
  assert.deepEqual(one.evals, one.result.history);
});

test("each eval event carries that evaluation's confusion matrix: test-set sized, its diagonal the accuracy", () => {
  assert.equal(one.details.length, one.evals.length);
  for (const [i, d] of one.details.entries()) {
    const total = d.confusion.flat().reduce((a, b) => a + b, 0);
    const correct = d.confusion.reduce((a, row, k) => a + (row[k] ?? 0), 0);
    assert.equal(total, 200);
    assert.equal(correct / total, one.evals[i]?.test_accuracy);
  }
  assert.deepEqual(one.details.at(-1)?.confusion, one.result.test.confusion);
});

test("a pool started with no training block evaluates the saved model to the trainer's own test accuracy", async () => {
  const pool = await WorkerPool.start({ workers: 2, init: { backend: 'wasm', stockKernels: cfg.runtime.stockKernels, dataset } });
  try {
    const totals = await new Evaluator(pool, dataset).run('test', join(one.dir, 'model'));
    const report = evalReport(totals.confusion, totals.lossSum, totals.count);
    assert.equal(totals.count, dataset.test.count);
    assert.equal(report.accuracy, one.result.test.accuracy);
    assert.ok(Math.abs(report.loss - one.result.test.loss) < 1e-3, `${report.loss} vs ${one.result.test.loss}`);
  } finally {
    await pool.close();
  }
});
