/**
 * The exported tfjs-layers model computes what the workers' forward pass
 * computes, for every layer kind (conv, batch norm, pooling, global average
 * pooling, dense, dropout), so a saved model means what training meant.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { toLayersModel } from '../src/shared/layersExport.js';
import { initialWeights } from '../src/coordinator/training/parameterServer.js';
import { initBackend } from '../src/shared/backend.js';
import { parseConfig } from '../src/shared/config.js';
import { planModel } from '../src/shared/modelPlan.js';
import { Rng } from '../src/shared/rng.js';
import { forward, paramTensors, stateTensors } from '../src/worker/network.js';

await initBackend('wasm');

const variants: Record<string, Record<string, unknown>> = {
  ann: { kind: 'ann' },
  cnn: { kind: 'cnn' },
  'cnn with batch norm, conv dropout, same padding, stride 2 and global average pooling': {
    kind: 'cnn',
    batchNorm: true,
    globalAvgPool: true,
    convDropout: 0.2,
    conv: [
      { filters: 8, padding: 'same', stride: 2, pool: 0 },
      { filters: 16, pool: 2 },
    ],
    dense: [24],
  },
};

for (const [name, model] of Object.entries(variants)) {
  test(`${name}: the exported Layers model gives the same probabilities as the training forward pass`, () => {
    const plan = planModel(parseConfig({ model }, 'test').model);
    const weights = new Float32Array(plan.paramCount + plan.stateCount);
    initialWeights(plan, 9, weights);
    // Non-trivial batch-norm statistics, so the test sees them used.
    const rng = new Rng(4);
    for (const s of plan.state) {
      for (let i = 0; i < s.size; i++)
        weights[plan.paramCount + s.offset + i] = s.name.endsWith('variance') ? rng.uniform(0.5, 2) : rng.uniform(-0.2, 0.2);
    }
    const x = tf.randomUniform([5, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const params = paramTensors(plan, weights);
    const state = stateTensors(plan, weights);
    const ours = tf.tidy(() => tf.softmax(forward(plan, params, x, { training: false, state }).logits));
    const layers = toLayersModel(plan, weights);
    const theirs = layers.predict(x) as tf.Tensor;
    const diff = tf.max(tf.abs(tf.sub(ours, theirs))).dataSync()[0] as number;
    console.log(`# ${name}: max |ours - layers| = ${diff.toExponential(2)}`);
    assert.ok(diff < 1e-5, `diff ${diff}`);
    tf.dispose([x, ours, theirs, ...params, ...state]);
    layers.dispose();
  });
}
