/**
 * The network as data: layers in order, with the shape and place of every
 * parameter in one flat Float32 vector. Both sides derive the same plan from
 * the config, so the coordinator (parameter server, checkpoints, export) and
 * the workers (forward/backward) agree on the layout without sending it.
 *
 * The flat vector holds the trainable parameters first, then the
 * non-trainable state (batch-norm moving mean and variance).
 */
import type { Config } from './config.js';
import { IMAGE_SIZE, NUM_CLASSES } from './dataset.js';

export interface ParamSpec {
  /** Keras-style weight name, e.g. 'conv1/kernel'. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly size: number;
  /** Offset (in floats) inside the flat parameter vector. */
  readonly offset: number;
  readonly init: 'glorot' | 'zeros' | 'ones';
  readonly fanIn: number;
  readonly fanOut: number;
}

export type Layer =
  | {
      type: 'conv';
      name: string;
      filters: number;
      kernel: number;
      stride: number;
      padding: 'valid' | 'same';
      kernelParam: number;
      biasParam: number | null;
    }
  | {
      type: 'batchNorm';
      name: string;
      size: number;
      /** Reduce over N,H,W (after a conv) or N (after a dense layer). */
      spatial: boolean;
      gammaParam: number;
      betaParam: number;
      /** Index among all batch-norm layers: where its statistics go. */
      bnIndex: number;
      meanState: number;
      varianceState: number;
    }
  | { type: 'relu'; name: string }
  | { type: 'maxPool'; name: string; size: number }
  | { type: 'flatten'; name: string }
  | { type: 'globalAvgPool'; name: string }
  | { type: 'dense'; name: string; units: number; kernelParam: number; biasParam: number; logits: boolean }
  | {
      type: 'dropout';
      name: string;
      rate: number;
      /** Shape of one example's activations here ([units] after a dense layer, [h, w, c] after a conv block). */
      shape: number[];
      dropoutIndex: number;
    };

export interface ModelPlan {
  readonly kind: 'ann' | 'cnn';
  readonly layers: readonly Layer[];
  /** Trainable parameters, in flat-vector order. */
  readonly params: readonly ParamSpec[];
  /** Non-trainable state (batch-norm moving mean/variance), offsets relative to the state block. */
  readonly state: readonly ParamSpec[];
  readonly paramCount: number;
  readonly stateCount: number;
  /** Number of batch-norm layers and dropout layers. */
  readonly batchNorms: number;
  readonly dropouts: number;
}

export const BATCH_NORM_EPSILON = 1e-3;
/** Keras-style momentum of the moving statistics; 0.9 (PyTorch's 0.1) settles within a few hundred steps. */
export const BATCH_NORM_MOMENTUM = 0.9;

export function planModel(model: Config['model']): ModelPlan {
  const layers: Layer[] = [];
  const params: ParamSpec[] = [];
  const state: ParamSpec[] = [];
  let paramCount = 0;
  let stateCount = 0;
  let batchNorms = 0;
  let dropouts = 0;

  const addParam = (name: string, shape: number[], init: ParamSpec['init'], fanIn: number, fanOut: number): number => {
    const size = shape.reduce((a, b) => a * b, 1);
    params.push({ name, shape, size, offset: paramCount, init, fanIn, fanOut });
    paramCount += size;
    return params.length - 1;
  };
  const addState = (name: string, shape: number[], init: ParamSpec['init']): number => {
    const size = shape.reduce((a, b) => a * b, 1);
    state.push({ name, shape, size, offset: stateCount, init, fanIn: 0, fanOut: 0 });
    stateCount += size;
    return state.length - 1;
  };
  const addBatchNorm = (name: string, size: number, spatial: boolean): void => {
    layers.push({
      type: 'batchNorm',
      name,
      size,
      spatial,
      gammaParam: addParam(`${name}/gamma`, [size], 'ones', 0, 0),
      betaParam: addParam(`${name}/beta`, [size], 'zeros', 0, 0),
      bnIndex: batchNorms++,
      meanState: addState(`${name}/moving_mean`, [size], 'zeros'),
      varianceState: addState(`${name}/moving_variance`, [size], 'ones'),
    });
  };

  let h = IMAGE_SIZE;
  let w = IMAGE_SIZE;
  let channels = 1;
  model.conv.forEach((block, i) => {
    const name = `conv${i + 1}`;
    const k = block.kernel;
    const kernelParam = addParam(`${name}/kernel`, [k, k, channels, block.filters], 'glorot', k * k * channels, k * k * block.filters);
    const biasParam = model.batchNorm ? null : addParam(`${name}/bias`, [block.filters], 'zeros', 0, 0);
    layers.push({
      type: 'conv',
      name,
      filters: block.filters,
      kernel: k,
      stride: block.stride,
      padding: block.padding,
      kernelParam,
      biasParam,
    });
    if (block.padding === 'same') {
      h = Math.ceil(h / block.stride);
      w = Math.ceil(w / block.stride);
    } else {
      h = Math.floor((h - k) / block.stride) + 1;
      w = Math.floor((w - k) / block.stride) + 1;
    }
    channels = block.filters;
    if (model.batchNorm) addBatchNorm(`bn_conv${i + 1}`, channels, true);
    layers.push({ type: 'relu', name: `relu_conv${i + 1}` });
    if (block.pool > 1) {
      layers.push({ type: 'maxPool', name: `pool${i + 1}`, size: block.pool });
      h = Math.floor(h / block.pool);
      w = Math.floor(w / block.pool);
    }
    if (model.convDropout > 0) {
      layers.push({
        type: 'dropout',
        name: `dropout_conv${i + 1}`,
        rate: model.convDropout,
        shape: [h, w, channels],
        dropoutIndex: dropouts++,
      });
    }
  });

  let features: number;
  if (model.kind === 'cnn' && model.globalAvgPool) {
    layers.push({ type: 'globalAvgPool', name: 'gap' });
    features = channels;
  } else {
    layers.push({ type: 'flatten', name: 'flatten' });
    features = h * w * channels;
  }

  model.dense.forEach((units, i) => {
    const name = `dense${i + 1}`;
    const kernelParam = addParam(`${name}/kernel`, [features, units], 'glorot', features, units);
    const biasParam = addParam(`${name}/bias`, [units], 'zeros', 0, 0);
    layers.push({ type: 'dense', name, units, kernelParam, biasParam, logits: false });
    if (model.batchNorm) addBatchNorm(`bn_dense${i + 1}`, units, false);
    layers.push({ type: 'relu', name: `relu_dense${i + 1}` });
    if (model.dropout > 0)
      layers.push({ type: 'dropout', name: `dropout${i + 1}`, rate: model.dropout, shape: [units], dropoutIndex: dropouts++ });
    features = units;
  });

  const kernelParam = addParam('logits/kernel', [features, NUM_CLASSES], 'glorot', features, NUM_CLASSES);
  const biasParam = addParam('logits/bias', [NUM_CLASSES], 'zeros', 0, 0);
  layers.push({ type: 'dense', name: 'logits', units: NUM_CLASSES, kernelParam, biasParam, logits: true });

  return { kind: model.kind, layers, params, state, paramCount, stateCount, batchNorms, dropouts };
}

/** Human-readable one-line summary, e.g. for the run log. */
export function describePlan(plan: ModelPlan): string {
  const parts = plan.layers
    .filter((l) => l.type !== 'relu')
    .map((l) => {
      switch (l.type) {
        case 'conv':
          return `conv${l.kernel}x${l.kernel}x${l.filters}${l.stride > 1 ? `/s${l.stride}` : ''}${l.padding === 'same' ? ' same' : ''}`;
        case 'dense':
          return l.logits ? `dense ${l.units} softmax` : `dense ${l.units}`;
        case 'maxPool':
          return `maxpool${l.size}`;
        case 'dropout':
          return `dropout ${l.rate}`;
        case 'batchNorm':
          return 'bn';
        default:
          return l.type;
      }
    });
  return `${plan.kind.toUpperCase()} [${parts.join(' > ')}] ${plan.paramCount.toLocaleString('en-US')} parameters`;
}
