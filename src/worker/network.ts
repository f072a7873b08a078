/**
 * The ANN and CNN as plain tf ops over a ModelPlan: forward pass, loss, and
 * the gradient of one micro-batch.
 *
 * We do not train through tfjs-layers: the parameter server owns the
 * weights, batch-norm statistics and all randomness, so the worker needs a
 * pure function (params, batch, masks) -> (loss, gradients). The trained
 * weights are exported to a tfjs-layers model of the same architecture.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NUM_CLASSES, IMAGE_SIZE } from '../shared/dataset.js';
import { BATCH_NORM_EPSILON, type ModelPlan } from '../shared/modelPlan.js';
import type { Rng } from '../shared/rng.js';
import { batchNormTraining } from './batchNorm.js';

export interface ForwardOptions {
  readonly training: boolean;
  /** One mask per dropout layer ([n, ...activation shape], values 0 or 1/(1-rate)); training only. */
  readonly dropoutMasks?: readonly tf.Tensor[];
  /** Batch-norm moving statistics (plan.state order); inference only. */
  readonly state?: readonly tf.Tensor[];
}

export interface ForwardResult {
  readonly logits: tf.Tensor2D;
  /** Training only: per batch-norm layer, its batch mean and (biased) variance. */
  readonly batchStats: tf.Tensor1D[];
}

/**
 * Parameters as tensors, from the flat vector (new tensor ids each call).
 * tf.tensor() copies a view straight into the wasm heap (or libtensorflow),
 * so no JS-side slice: 0.21 -> 0.06 ms for the ANN's 235k floats. The cpu
 * backend keeps the view itself; that is safe because the coordinator
 * writes the weights only between tasks, never while a task holds them.
 */
export function paramTensors(plan: ModelPlan, flat: Float32Array): tf.Tensor[] {
  return plan.params.map((p) => tf.tensor(flat.subarray(p.offset, p.offset + p.size), p.shape as number[], 'float32'));
}

/** Batch-norm moving statistics as tensors (they follow the parameters in the flat vector). */
export function stateTensors(plan: ModelPlan, flat: Float32Array): tf.Tensor[] {
  const base = plan.paramCount;
  return plan.state.map((s) => tf.tensor(flat.subarray(base + s.offset, base + s.offset + s.size), s.shape as number[], 'float32'));
}

export function forward(plan: ModelPlan, params: readonly tf.Tensor[], x: tf.Tensor4D, opts: ForwardOptions): ForwardResult {
  const p = (i: number): tf.Tensor => params[i] as tf.Tensor;
  const batchStats: tf.Tensor1D[] = [];
  let h: tf.Tensor = x;
  for (const layer of plan.layers) {
    switch (layer.type) {
      case 'conv': {
        h = tf.conv2d(h as tf.Tensor4D, p(layer.kernelParam) as tf.Tensor4D, layer.stride, layer.padding);
        if (layer.biasParam !== null) h = tf.add(h, p(layer.biasParam));
        break;
      }
      case 'batchNorm': {
        if (opts.training) {
          // Batch statistics; they also leave through batchStats for the parameter server's moving averages.
          h = batchNormTraining(
            h,
            p(layer.gammaParam),
            p(layer.betaParam),
            layer.spatial ? [0, 1, 2] : [0],
            BATCH_NORM_EPSILON,
            batchStats,
          );
        } else {
          const state = opts.state ?? [];
          h = tf.batchNorm(
            h,
            state[layer.meanState] as tf.Tensor,
            state[layer.varianceState] as tf.Tensor,
            p(layer.betaParam),
            p(layer.gammaParam),
            BATCH_NORM_EPSILON,
          );
        }
        break;
      }
      case 'relu':
        h = tf.relu(h);
        break;
      case 'maxPool':
        h = tf.maxPool(h as tf.Tensor4D, layer.size, layer.size, 'valid');
        break;
      case 'flatten':
        h = tf.reshape(h, [h.shape[0] as number, -1]);
        break;
      case 'globalAvgPool':
        h = tf.mean(h, [1, 2]);
        break;
      case 'dense':
        h = tf.add(tf.matMul(h as tf.Tensor2D, p(layer.kernelParam) as tf.Tensor2D), p(layer.biasParam));
        break;
      case 'dropout':
        if (opts.training && opts.dropoutMasks) h = tf.mul(h, opts.dropoutMasks[layer.dropoutIndex] as tf.Tensor);
        break;
    }
  }
  return { logits: h as tf.Tensor2D, batchStats };
}

/** Mean softmax cross-entropy with label smoothing, from logits. */
export function crossEntropy(logits: tf.Tensor2D, oneHot: tf.Tensor2D, labelSmoothing: number): tf.Scalar {
  const target = labelSmoothing > 0 ? tf.add(tf.mul(oneHot, 1 - labelSmoothing), labelSmoothing / NUM_CLASSES) : oneHot;
  return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(logits)), 1))) as tf.Scalar;
}

/**
 * Dropout mask values for one micro-batch, drawn from its own seeded stream:
 * one array per dropout layer ([count, ...activation shape], values 0 or
 * 1/(1-rate)). Plain arrays, so a worker can draw them before it has the
 * step's weights.
 */
export function dropoutMaskValues(plan: ModelPlan, count: number, rng: Rng): Float32Array[] {
  const masks: Float32Array[] = [];
  for (const layer of plan.layers) {
    if (layer.type !== 'dropout') continue;
    const keep = 1 - layer.rate;
    const values = new Float32Array(count * layer.shape.reduce((a, b) => a * b, 1));
    rng.fillBernoulli(values, keep, 1 / keep);
    masks.push(values);
  }
  return masks;
}

/** Mask values (dropoutMaskValues) as tensors, in dropout-layer order. */
function maskTensors(plan: ModelPlan, count: number, values: readonly Float32Array[]): tf.Tensor[] {
  const shapes = plan.layers.flatMap((l) => (l.type === 'dropout' ? [l.shape] : []));
  return values.map((v, i) => tf.tensor(v, [count, ...(shapes[i] as number[])]));
}

/** Dropout masks for one micro-batch as tensors, drawn from its own seeded stream. */
export function dropoutMasks(plan: ModelPlan, count: number, rng: Rng): tf.Tensor[] {
  return maskTensors(plan, count, dropoutMaskValues(plan, count, rng));
}

export interface MicroBatchGradient {
  readonly loss: number;
  readonly correct: number;
  /** One array per plan.params entry. */
  readonly gradients: Float32Array[];
  /** Per batch-norm layer: mean then variance (plan.state order). */
  readonly batchStats: Float32Array[];
}

/** Where one micro-batch's results go: its gradient slot and statistics slot in shared memory. */
export interface Slot {
  /** All gradient slots: [micro-batches per step * paramCount]. */
  readonly gradients: Float32Array;
  /** All statistics slots: [micro-batches per step * stateCount]. */
  readonly batchStats: Float32Array;
  /** The micro-batch's index within the step. */
  readonly index: number;
}

/**
 * The layout of slot `index`, shared with the parameter server: the gradient
 * at `index * paramCount` (each parameter at its plan offset), the batch-norm
 * statistics at `index * stateCount` (mean then variance per layer, each at
 * its moving state's offset).
 */
export function slotViews(plan: ModelPlan, slot: Slot): { gradients: Float32Array[]; batchStats: Float32Array[] } {
  const g = slot.index * plan.paramCount;
  const s = slot.index * plan.stateCount;
  return {
    gradients: plan.params.map((p) => slot.gradients.subarray(g + p.offset, g + p.offset + p.size)),
    batchStats: plan.state.map((st) => slot.batchStats.subarray(s + st.offset, s + st.offset + st.size)),
  };
}

/**
 * A float32 tensor's values into `out`: on wasm straight from the backend's
 * heap (one copy, no allocation: 0.21 -> 0.05 ms for the ANN's gradients),
 * elsewhere through dataSync(). A sync point either way.
 */
function readInto(t: tf.Tensor, out: Float32Array): Float32Array {
  const backend = tf.backend() as { typedArrayFromHeap?: (t: tf.TensorInfo) => Float32Array };
  out.set(backend.typedArrayFromHeap && tf.getBackend() === 'wasm' ? backend.typedArrayFromHeap(t) : (t.dataSync() as Float32Array));
  return out;
}

/**
 * Loss and gradient of one micro-batch; with `slot`, written straight into
 * that shared slot (and the returned arrays are views of it). Sync points:
 * one read per gradient tensor (they must reach shared memory anyway), one
 * for the loss and one for the correct count.
 */
export function microBatchGradient(
  plan: ModelPlan,
  params: readonly tf.Tensor[],
  pixels: Float32Array,
  labels: Int32Array,
  opts: { labelSmoothing: number; slot?: Slot } & ({ rng: Rng } | { maskValues: readonly Float32Array[] }),
): MicroBatchGradient {
  const n = labels.length;
  let logitsKept: tf.Tensor2D | undefined;
  let statsKept: tf.Tensor1D[] = [];
  const result = tf.tidy(() => {
    const x = tf.tensor4d(pixels, [n, IMAGE_SIZE, IMAGE_SIZE, 1]);
    const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), NUM_CLASSES) as tf.Tensor2D;
    const masks = 'rng' in opts ? dropoutMasks(plan, n, opts.rng) : maskTensors(plan, n, opts.maskValues);
    const lossFn = (...ps: tf.Tensor[]): tf.Scalar => {
      const out = forward(plan, ps, x, { training: true, dropoutMasks: masks });
      logitsKept = tf.keep(out.logits);
      statsKept = out.batchStats;
      return crossEntropy(out.logits, oneHot, opts.labelSmoothing);
    };
    const { value, grads } = tf.valueAndGrads(lossFn)(params as tf.Tensor[]);
    return { value, grads };
  });
  try {
    const into = opts.slot ? slotViews(plan, opts.slot) : undefined;
    const gradients = result.grads.map((g, i) => readInto(g, into?.gradients[i] ?? new Float32Array(g.size)));
    const loss = result.value.dataSync()[0] as number;
    const logits = logitsKept as unknown as tf.Tensor2D;
    const predicted = tf.tidy(() => tf.argMax(logits, 1).dataSync() as Int32Array);
    let correct = 0;
    for (let i = 0; i < n; i++) if (predicted[i] === labels[i]) correct++;
    const batchStats = statsKept.map((t, i) => readInto(t, into?.batchStats[i] ?? new Float32Array(t.size)));
    return { loss, correct, gradients, batchStats };
  } finally {
    tf.dispose([result.value, ...result.grads, ...statsKept]);
    if (logitsKept) tf.dispose(logitsKept);
  }
}

/** Inference logits for a batch (no dropout; batch norm from moving statistics). */
export function predictLogits(
  plan: ModelPlan,
  params: readonly tf.Tensor[],
  state: readonly tf.Tensor[],
  pixels: Float32Array,
  n: number,
): tf.Tensor2D {
  return tf.tidy(() => {
    const x = tf.tensor4d(pixels, [n, IMAGE_SIZE, IMAGE_SIZE, 1]);
    return forward(plan, params, x, { training: false, state }).logits;
  });
}
