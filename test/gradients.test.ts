/**
 * The data-parallel arithmetic against references: averaged micro-batch
 * gradients equal the full-batch gradient, the parameter server's reduce
 * weights by example count, and a tiny batch can be overfitted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { allocateBuffers, initialWeights, ParameterServer, type SharedBuffers } from '../src/coordinator/training/parameterServer.js';
import { loadFashionMnist } from '../src/coordinator/data/fashionMnist.js';
import { fashionMnistDir } from './support/data.js';
import { Optimizer } from '../src/coordinator/training/optimizer.js';
import { initBackend } from '../src/shared/backend.js';
import { parseConfig } from '../src/shared/config.js';
import { cutMicroBatches, type MicroBatch } from '../src/shared/messages.js';
import { planModel, type ModelPlan } from '../src/shared/modelPlan.js';
import { Rng } from '../src/shared/rng.js';
import { rangeIndices, readExamples } from '../src/worker/examples.js';
import { microBatchGradient, paramTensors } from '../src/worker/network.js';

await initBackend('wasm');
const dataset = await loadFashionMnist({ dataDir: await fashionMnistDir(), trainLimit: 256, testLimit: 10 });

/** What the workers do for a step, in-process: each micro-batch's gradient and statistics into its shared slots. */
function fillSlots(plan: ModelPlan, params: tf.Tensor[], micro: MicroBatch[], buffers: SharedBuffers): void {
  const { gradients, batchStats } = buffers;
  for (const mb of micro) {
    const b = readExamples(dataset.train, rangeIndices(mb.start, mb.count));
    microBatchGradient(plan, params, b.pixels, b.labels, {
      labelSmoothing: 0,
      rng: new Rng(1),
      slot: { gradients, batchStats, index: mb.index },
    });
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

for (const kind of ['ann', 'cnn'] as const) {
  test(`${kind}: averaged micro-batch gradients equal the full-batch gradient`, () => {
    const cfg = parseConfig({ model: { kind, dropout: 0 }, train: { batchSize: 96, microBatchSize: 32 } }, 'test');
    const plan = planModel(cfg.model);
    const micro = cutMicroBatches(0, 96, 32);
    const buffers = allocateBuffers(plan, micro.length);
    const ps = new ParameterServer(plan, cfg, buffers);
    ps.initialize(7);
    const params = paramTensors(plan, ps.params);
    fillSlots(plan, params, micro, buffers);
    const averaged = ps.reduce(micro).slice();
    const full = readExamples(dataset.train, rangeIndices(0, 96));
    const whole = microBatchGradient(plan, params, full.pixels, full.labels, { labelSmoothing: 0, rng: new Rng(1) });
    const flat = new Float32Array(plan.paramCount);
    whole.gradients.forEach((grad, i) => {
      flat.set(grad, plan.params[i]?.offset ?? 0);
    });
    tf.dispose(params);
    const diff = maxAbsDiff(averaged, flat);
    console.log(`# ${kind}: max |averaged - full-batch| gradient difference = ${diff.toExponential(2)} over ${plan.paramCount} parameters`);
    assert.ok(diff < 1e-5, `maxdiff ${diff}`);
  });
}

test('reduce weights each micro-batch gradient by its example count', () => {
  const cfg = parseConfig({ model: { kind: 'ann', dense: [2] } }, 'test');
  const plan = planModel(cfg.model);
  const buffers = allocateBuffers(plan, 2);
  const ps = new ParameterServer(plan, cfg, buffers);
  const slots = buffers.gradients;
  slots.fill(1, 0, plan.paramCount);
  slots.fill(4, plan.paramCount, 2 * plan.paramCount);
  const g = ps.reduce([
    { index: 1, start: 0, count: 1 },
    { index: 0, start: 0, count: 3 },
  ]);
  assert.ok(g.every((v) => Math.abs(v - (3 * 1 + 1 * 4) / 4) < 1e-7));
});

test('reduce gives bitwise the same result whatever order the shards arrive in', () => {
  const cfg = parseConfig({ model: { kind: 'ann', dense: [16] } }, 'test');
  const plan = planModel(cfg.model);
  const buffers = allocateBuffers(plan, 4);
  const ps = new ParameterServer(plan, cfg, buffers);
  const slots = buffers.gradients;
  const rng = new Rng(3);
  for (let i = 0; i < slots.length; i++) slots[i] = rng.uniform(-1, 1);
  const micro = cutMicroBatches(0, 100, 32);
  const a = ps.reduce(micro).slice();
  const b = ps.reduce([...micro].reverse()).slice();
  assert.deepEqual(Buffer.from(a.buffer), Buffer.from(b.buffer));
});

test('glorot initialisation is deterministic in the seed and bounded by its limit', () => {
  const plan = planModel(parseConfig({}, 'test').model);
  const a = new Float32Array(plan.paramCount);
  const b = new Float32Array(plan.paramCount);
  initialWeights(plan, 5, a);
  initialWeights(plan, 5, b);
  assert.deepEqual(a, b);
  const k = plan.params[0];
  assert.ok(k);
  const limit = Math.sqrt(6 / (k.fanIn + k.fanOut));
  assert.ok(a.subarray(k.offset, k.offset + k.size).every((v) => Math.abs(v) <= limit));
});

for (const kind of ['ann', 'cnn'] as const) {
  test(`${kind}: the loss on one tiny batch falls when it is trained on repeatedly`, () => {
    const cfg = parseConfig({ model: { kind } }, 'test');
    const plan = planModel(cfg.model);
    const weights = new Float32Array(plan.paramCount);
    initialWeights(plan, 11, weights);
    const opt = new Optimizer(cfg.optimizer, plan.paramCount);
    const b = readExamples(dataset.train, rangeIndices(0, 16));
    const grad = new Float32Array(plan.paramCount);
    const losses: number[] = [];
    for (let step = 0; step < 40; step++) {
      const params = paramTensors(plan, weights);
      const g = microBatchGradient(plan, params, b.pixels, b.labels, { labelSmoothing: 0, rng: Rng.derive(1, step) });
      tf.dispose(params);
      g.gradients.forEach((x, i) => {
        grad.set(x, plan.params[i]?.offset ?? 0);
      });
      opt.apply(weights, grad, 3e-3);
      losses.push(g.loss);
    }
    console.log(`# ${kind}: tiny-batch loss ${losses[0]?.toFixed(4)} -> ${losses.at(-1)?.toFixed(4)}`);
    assert.ok((losses.at(-1) as number) < 0.2 * (losses[0] as number), `loss ${losses[0]} -> ${losses.at(-1)}`);
  });
}

test('batch-norm moving statistics are updated from the global batch mean and variance', () => {
  const cfg = parseConfig(
    {
      model: { kind: 'cnn', batchNorm: true, conv: [{ filters: 4 }], dense: [8], dropout: 0 },
      train: { batchSize: 64, microBatchSize: 16 },
    },
    'test',
  );
  const plan = planModel(cfg.model);
  const micro = cutMicroBatches(0, 40, 16); // 16, 16, 8: unequal sizes exercise the weighting
  const buffers = allocateBuffers(plan, micro.length);
  const ps = new ParameterServer(plan, cfg, buffers);
  ps.initialize(2);
  const params = paramTensors(plan, ps.params);
  fillSlots(plan, params, micro, buffers);
  ps.updateBatchNormState(micro);
  // Reference: the first batch-norm layer normalises conv1's output; its statistics over all 40 examples.
  const all = readExamples(dataset.train, rangeIndices(0, 40));
  const conv = plan.layers[0];
  assert.ok(conv?.type === 'conv');
  const { mean, variance } = tf.tidy(() => {
    const y = tf.conv2d(tf.tensor4d(all.pixels, [40, 28, 28, 1]), params[conv.kernelParam] as tf.Tensor4D, 1, 'valid');
    const m = tf.moments(y, [0, 1, 2]);
    return { mean: m.mean.dataSync(), variance: m.variance.dataSync() };
  });
  tf.dispose(params);
  const meanSpec = plan.state[0];
  const varSpec = plan.state[1];
  assert.ok(meanSpec && varSpec);
  const moving = ps.weights.subarray(plan.paramCount);
  for (let c = 0; c < 4; c++) {
    const expectMean = 0.1 * (mean[c] as number);
    const expectVar = 0.9 + 0.1 * (variance[c] as number);
    assert.ok(Math.abs((moving[meanSpec.offset + c] as number) - expectMean) < 1e-6, `mean ${c}`);
    assert.ok(Math.abs((moving[varSpec.offset + c] as number) - expectVar) < 1e-6, `variance ${c}`);
  }
});

test('the closed-form batch-norm gradient equals autodiff through moments and batchNorm', async () => {
  const { batchNormTraining } = await import('../src/worker/batchNorm.js');
  for (const [shape, axes] of [
    [
      [6, 5, 4, 3],
      [0, 1, 2],
    ],
    [[7, 9], [0]],
  ] as [number[], number[]][]) {
    const c = shape[shape.length - 1] as number;
    const x = tf.randomNormal(shape, 0.5, 2, 'float32', 1);
    const gamma = tf.randomUniform([c], 0.5, 1.5, 'float32', 2);
    const beta = tf.randomNormal([c], 0, 1, 'float32', 3);
    const w = tf.randomNormal(shape, 0, 1, 'float32', 4); // a non-uniform upstream gradient
    const reference = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, axes);
      return tf.sum(tf.mul(tf.batchNorm(a, mean, variance, b, g, 1e-3), w));
    };
    const stats: tf.Tensor1D[] = [];
    const fused = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(batchNormTraining(a, g, b, axes, 1e-3, stats), w));
    const ref = tf.grads(reference)([x, gamma, beta]);
    const ours = tf.grads(fused)([x, gamma, beta]);
    ref.forEach((r, i) => {
      const diff = tf.max(tf.abs(tf.sub(r, ours[i] as tf.Tensor))).dataSync()[0] as number;
      assert.ok(diff < 1e-4, `shape ${shape} input ${i}: maxdiff ${diff}`);
    });
    const { mean } = tf.moments(x, axes);
    assert.ok((tf.max(tf.abs(tf.sub(mean, stats[0] as tf.Tensor))).dataSync()[0] as number) < 1e-6, 'batch mean handed back');
    tf.dispose([x, gamma, beta, w, ...ref, ...ours, ...stats, mean]);
  }
});
