/**
 * Per-shard evaluation: loss sum and confusion counts from a batch of model
 * outputs. One dataSync() for the per-example losses and one for the
 * predictions per chunk.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NUM_CLASSES } from '../shared/dataset.js';

/**
 * Adds the batch to `confusion` (row-major, rows true label) and returns the
 * summed cross-entropy. `outputsAreProbabilities` for saved Layers models,
 * whose last layer is a softmax; our own forward pass returns logits.
 * Disposes `outputs`.
 */
export function evaluateLogits(outputs: tf.Tensor2D, labels: Int32Array, confusion: number[], outputsAreProbabilities: boolean): number {
  const n = labels.length;
  const [losses, predicted] = tf.tidy(() => {
    const logp = outputsAreProbabilities ? tf.log(tf.clipByValue(outputs, 1e-7, 1)) : tf.logSoftmax(outputs);
    const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), NUM_CLASSES);
    const perExample = tf.neg(tf.sum(tf.mul(oneHot, logp), 1));
    return [perExample.dataSync() as Float32Array, tf.argMax(outputs, 1).dataSync() as Int32Array];
  });
  outputs.dispose();
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += losses[i] as number;
    const t = labels[i] as number;
    const p = predicted[i] as number;
    confusion[t * NUM_CLASSES + p] = (confusion[t * NUM_CLASSES + p] as number) + 1;
  }
  return sum;
}
