/**
 * The `auto` backend's gradient check (src/worker/gradientCheck.ts): two
 * backends that compute the same thing agree within the tolerance, and one
 * whose matrix products are off by 1% does not. tfjs-node itself cannot be
 * installed offline, so wasm and cpu stand in for it here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { runGradientCheck } from '../src/coordinator/api/backendCheck.js';
import { initialWeights } from '../src/coordinator/training/parameterServer.js';
import { loadFashionMnist } from '../src/coordinator/data/fashionMnist.js';
import { fashionMnistDir } from './support/data.js';
import { initBackend } from '../src/shared/backend.js';
import { parseConfig } from '../src/shared/config.js';
import { planModel } from '../src/shared/modelPlan.js';
import { rangeIndices, readExamples } from '../src/worker/examples.js';
import { compareBackends, GRADIENT_TOLERANCE, relativeDifference } from '../src/worker/gradientCheck.js';

await initBackend('wasm');
const dataset = await loadFashionMnist({ dataDir: await fashionMnistDir(), trainLimit: 64, testLimit: 10 });
const batch = readExamples(dataset.train, rangeIndices(0, 16));

/** The cpu backend under another name, every kernel the same except matrix products, scaled by 1.01. */
function registerPerturbedBackend(name: string): void {
  if (tf.findBackendFactory(name) !== null) return;
  tf.registerBackend(name, () => new MathBackendCPU());
  for (const k of tf.getKernelsForBackend('cpu')) {
    const scaled = k.kernelName === 'BatchMatMul' || k.kernelName === '_FusedMatMul';
    tf.registerKernel({
      ...k,
      backendName: name,
      kernelFunc: scaled
        ? (args) => {
            const out = k.kernelFunc(args) as tf.TensorInfo;
            const values = (args.backend as MathBackendCPU).data.get(out.dataId)?.values as Float32Array;
            for (let i = 0; i < values.length; i++) values[i] = (values[i] as number) * 1.01;
            return out;
          }
        : k.kernelFunc,
    });
  }
}

// A narrow CNN: the cpu backend is ~100x slower than wasm, and the kernels under test are the same at any width.
const MODELS = {
  ann: { kind: 'ann', dropout: 0.2 },
  cnn: { kind: 'cnn', conv: [{ filters: 8 }, { filters: 8 }], dense: [32], dropout: 0.2 },
};

function weightsFor(kind: 'ann' | 'cnn') {
  const cfg = parseConfig({ model: MODELS[kind] }, 'test');
  const plan = planModel(cfg.model);
  const weights = new Float32Array(plan.paramCount + plan.stateCount);
  initialWeights(plan, 7, weights);
  return { plan, weights };
}

for (const kind of ['ann', 'cnn'] as const) {
  test(`${kind}: the cpu backend's gradient agrees with wasm's within the tolerance`, async () => {
    const { plan, weights } = weightsFor(kind);
    const check = await compareBackends('cpu', 'wasm', plan, weights, batch);
    assert.ok(check.agree, `relative difference ${check.relativeDifference}`);
    assert.ok(
      check.relativeDifference < GRADIENT_TOLERANCE / 10,
      `cpu vs wasm should agree far inside the tolerance, got ${check.relativeDifference}`,
    );
  });
}

test('a backend whose matrix products are 1% off fails the check', async () => {
  registerPerturbedBackend('perturbed-cpu');
  const { plan, weights } = weightsFor('ann');
  const check = await compareBackends('perturbed-cpu', 'wasm', plan, weights, batch);
  assert.equal(check.agree, false);
  assert.ok(check.relativeDifference > GRADIENT_TOLERANCE, `relative difference ${check.relativeDifference}`);
  await tf.setBackend('wasm');
});

test('a NaN in the candidate gradient never passes', () => {
  assert.equal(relativeDifference(Float32Array.of(1, Number.NaN), Float32Array.of(1, 2)), Infinity);
  assert.equal(relativeDifference(Float32Array.of(1, 2), Float32Array.of(1, 2)), 0);
});

test("the check thread compares two backends on the run's first micro-batch and initial weights", async () => {
  const cfg = parseConfig({ model: MODELS.cnn, train: { microBatchSize: 16 } }, 'test');
  const reply = await runGradientCheck(cfg, dataset, 'cpu', 'wasm');
  assert.ok(reply.ok, JSON.stringify(reply));
  assert.equal(reply.check.agree, true);
});

test('a backend that cannot load is a failed check (and so wasm), not a crash', async () => {
  const cfg = parseConfig({ model: { kind: 'ann' } }, 'test');
  const reply = await runGradientCheck(cfg, dataset, 'tensorflow', 'wasm');
  // Where tfjs-node does install, this is a real comparison instead, and must agree.
  if (reply.ok) assert.equal(reply.check.agree, true);
  else assert.match(reply.error, /tensorflow/);
});
