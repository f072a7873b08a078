/**
 * Reference ANN/CNN train steps built from plain tf ops, the same ops the
 * real models use (conv2d, add bias, relu, maxPool, reshape, matMul, mul
 * dropout mask, softmax cross-entropy, variableGrads, SGD update). Used by
 * the kernel tests (leak checks) and scripts/bench-kernels.ts. Not used in
 * training itself.
 */
import * as tf from '@tensorflow/tfjs-core';

export type ModelKind = 'ann' | 'cnn';

export interface TrainFixture {
  /** Runs one forward/backward/SGD step; returns nothing, leaks nothing. */
  step(): void;
  /** Loss of one forward pass (for sanity checks). */
  loss(): number;
  /** The gradient of every variable, read back (for cross-backend checks). */
  gradients(): Float32Array[];
  dispose(): void;
}

function glorot(shape: number[], fanIn: number, seed: number): tf.Variable {
  return tf.variable(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed));
}

export function makeFixture(kind: ModelKind, batch: number, seed = 7): TrainFixture {
  const vars: tf.Variable[] = [];
  const v = (t: tf.Variable): tf.Variable => {
    vars.push(t);
    return t;
  };
  const x =
    kind === 'ann' ? tf.randomUniform([batch, 784], 0, 1, 'float32', seed) : tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', seed);
  const labels = tf.tidy(() => tf.cast(tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', seed + 1) as tf.Tensor1D, 10), 'float32'));
  const mask = tf.tidy(() => tf.mul(tf.step(tf.randomUniform([batch, 128], -1, 1, 'float32', seed + 2)), 2));
  let lossFn: () => tf.Scalar;
  if (kind === 'ann') {
    const w1 = v(glorot([784, 256], 784, seed + 3));
    const b1 = v(tf.variable(tf.zeros([256])));
    const w2 = v(glorot([256, 128], 256, seed + 4));
    const b2 = v(tf.variable(tf.zeros([128])));
    const w3 = v(glorot([128, 10], 128, seed + 5));
    const b3 = v(tf.variable(tf.zeros([10])));
    lossFn = () => {
      const flat = tf.reshape(x, [batch, 784]);
      const h1 = tf.relu(tf.add(tf.matMul(flat, w1), b1));
      const h2 = tf.relu(tf.add(tf.matMul(h1, w2), b2));
      const logits = tf.add(tf.matMul(h2, w3), b3);
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    };
  } else {
    const k1 = v(glorot([3, 3, 1, 32], 9, seed + 3));
    const c1 = v(tf.variable(tf.zeros([32])));
    const k2 = v(glorot([3, 3, 32, 64], 288, seed + 4));
    const c2 = v(tf.variable(tf.zeros([64])));
    const w3 = v(glorot([1600, 128], 1600, seed + 5));
    const b3 = v(tf.variable(tf.zeros([128])));
    const w4 = v(glorot([128, 10], 128, seed + 6));
    const b4 = v(tf.variable(tf.zeros([10])));
    lossFn = () => {
      const a1 = tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, k1 as tf.Tensor4D, 1, 'valid'), c1));
      const p1 = tf.maxPool(a1 as tf.Tensor4D, 2, 2, 'valid');
      const a2 = tf.relu(tf.add(tf.conv2d(p1, k2 as tf.Tensor4D, 1, 'valid'), c2));
      const p2 = tf.maxPool(a2 as tf.Tensor4D, 2, 2, 'valid');
      const flat = tf.reshape(p2, [batch, 1600]);
      const h = tf.mul(tf.relu(tf.add(tf.matMul(flat, w3), b3)), mask);
      const logits = tf.add(tf.matMul(h, w4), b4);
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    };
  }
  const lr = tf.scalar(0.01);
  return {
    step(): void {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(lossFn, vars);
        for (const w of vars) {
          const g = grads[w.name];
          if (g !== undefined) w.assign(tf.sub(w, tf.mul(g, lr)));
        }
      });
    },
    loss(): number {
      return tf.tidy(() => lossFn().dataSync()[0] ?? NaN);
    },
    gradients(): Float32Array[] {
      return tf.tidy(() => {
        const { grads } = tf.variableGrads(lossFn, vars);
        return vars.map((w) => grads[w.name]!.dataSync() as Float32Array);
      });
    },
    dispose(): void {
      for (const w of vars) w.dispose();
      tf.dispose([x, labels, mask, lr]);
    },
  };
}
