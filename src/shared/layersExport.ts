/**
 * The trained weights as a TensorFlow.js Layers model with the same
 * architecture, so `tf.loadLayersModel` of plain tfjs (or Keras, via the
 * converter) can use it with no PixelSense code: input [N, 28, 28, 1] in
 * [0, 1], output softmax probabilities over the 10 classes.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { IMAGE_SIZE } from './dataset.js';
import { BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM, type ModelPlan } from './modelPlan.js';

const INPUT_SHAPE = [IMAGE_SIZE, IMAGE_SIZE, 1];

export function toLayersModel(plan: ModelPlan, weights: Float32Array): tfl.Sequential {
  const model = tfl.sequential({ name: `pixelsense_${plan.kind}` });
  // A tfjs-layers model lists all trainable weights (layer by layer) before
  // all non-trainable ones (batch-norm moving statistics): setWeights wants that order.
  const trainable: tf.Tensor[] = [];
  const nonTrainable: tf.Tensor[] = [];
  const param = (i: number | null) => {
    if (i === null) return;
    const p = plan.params[i];
    if (p) trainable.push(tf.tensor(weights.slice(p.offset, p.offset + p.size), p.shape as number[]));
  };
  const state = (i: number) => {
    const s = plan.state[i];
    if (s)
      nonTrainable.push(tf.tensor(weights.slice(plan.paramCount + s.offset, plan.paramCount + s.offset + s.size), s.shape as number[]));
  };
  let first = true;
  const input = () => {
    if (!first) return {};
    first = false;
    return { inputShape: INPUT_SHAPE };
  };
  for (const l of plan.layers) {
    switch (l.type) {
      case 'conv':
        model.add(
          tfl.layers.conv2d({
            ...input(),
            name: l.name,
            filters: l.filters,
            kernelSize: l.kernel,
            strides: l.stride,
            padding: l.padding,
            useBias: l.biasParam !== null,
          }),
        );
        param(l.kernelParam);
        param(l.biasParam);
        break;
      case 'batchNorm':
        model.add(tfl.layers.batchNormalization({ name: l.name, axis: -1, momentum: BATCH_NORM_MOMENTUM, epsilon: BATCH_NORM_EPSILON }));
        param(l.gammaParam);
        param(l.betaParam);
        state(l.meanState);
        state(l.varianceState);
        break;
      case 'relu':
        model.add(tfl.layers.activation({ name: l.name, activation: 'relu' }));
        break;
      case 'maxPool':
        model.add(tfl.layers.maxPooling2d({ name: l.name, poolSize: l.size, strides: l.size }));
        break;
      case 'flatten':
        model.add(tfl.layers.flatten({ ...input(), name: l.name }));
        break;
      case 'globalAvgPool':
        model.add(tfl.layers.globalAveragePooling2d({ name: l.name }));
        break;
      case 'dense':
        model.add(tfl.layers.dense({ name: l.name, units: l.units, activation: l.logits ? 'softmax' : 'linear' }));
        param(l.kernelParam);
        param(l.biasParam);
        break;
      case 'dropout':
        model.add(tfl.layers.dropout({ name: l.name, rate: l.rate }));
        break;
    }
  }
  const values = [...trainable, ...nonTrainable];
  model.setWeights(values);
  tf.dispose(values);
  return model;
}
