/**
 * Batch normalisation in training mode as one custom-gradient op.
 *
 * Autodiff through tf.moments + tf.batchNorm records ~30 small kernels per
 * layer (broadcasts, reshapes, the variance's own chain); the closed-form
 * gradient needs ~10:
 *   x̂ = (x - μ)·σ⁻¹,  y = γ·x̂ + β
 *   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ·σ⁻¹/n · (n·dy − dβ − x̂·dγ)
 * with sums over the normalised axes (N,H,W after a conv; N after a dense).
 * The batch mean and (biased) variance are handed back through `stats`,
 * kept past the surrounding tidy scopes: the caller reads and disposes them.
 */
import * as tf from '@tensorflow/tfjs-core';

export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  axes: number[],
  epsilon: number,
  stats: tf.Tensor1D[],
): tf.Tensor {
  const n = axes.reduce((acc, a) => acc * (x.shape[a] as number), 1);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const { mean, variance } = tf.moments(input as tf.Tensor, axes);
    stats.push(tf.keep(mean as tf.Tensor1D), tf.keep(variance as tf.Tensor1D));
    const invStd = tf.rsqrt(tf.add(variance, epsilon));
    const xHat = tf.mul(tf.sub(input as tf.Tensor, mean), invStd);
    save([xHat, invStd, g as tf.Tensor]);
    return {
      value: tf.add(tf.mul(xHat, g as tf.Tensor), b as tf.Tensor),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, inv, gm] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dBeta = tf.sum(dy, axes);
        const dGamma = tf.sum(tf.mul(dy, xh), axes);
        const scale = tf.mul(gm, tf.div(inv, n));
        const dx = tf.mul(scale, tf.sub(tf.sub(tf.mul(dy, n), dBeta), tf.mul(xh, dGamma)));
        return [dx, dGamma, dBeta];
      },
    };
  });
  return op(x, gamma, beta);
}
