/**
 * A saved Layers model inside a worker, for `pixelsense eval`: loaded once
 * per worker and model directory, then applied to chunks of the split.
 */
import * as tf from '@tensorflow/tfjs-core';
import { IMAGE_SIZE } from '../shared/dataset.js';
import { loadModelDir } from '../shared/modelFiles.js';

type Predictor = (pixels: Float32Array, n: number) => tf.Tensor2D;
const cache = new Map<string, Promise<Predictor>>();

export function loadModelForEval(dir: string): Promise<Predictor> {
  let p = cache.get(dir);
  if (!p) {
    p = loadModelDir(dir).then(
      (model) => (pixels: Float32Array, n: number) =>
        tf.tidy(() => model.predict(tf.tensor4d(pixels, [n, IMAGE_SIZE, IMAGE_SIZE, 1])) as tf.Tensor2D),
    );
    cache.set(dir, p);
  }
  return p;
}
