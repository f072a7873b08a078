/**
 * Optimizers as in-place updates of the flat Float32 parameter vector.
 *
 * They run on the coordinator: in WebAssembly SIMD (updateKernels.ts) when
 * the parameters, gradient and state all live in the shared parameter
 * memory, else in the plain-JS loops below, which are the reference: the
 * kernels compute the same expressions with the same roundings and give the
 * same bits (SGD and momentum in float64, Adam in float32: AdamScalars in
 * updateKernels.ts says why). Adam on the CNN's 225k parameters: ~1.4 ms in
 * JS. The state is a few
 * Float32Arrays that checkpoints save as they are.
 * Formulas follow PyTorch (torch.optim): SGD, momentum and Nesterov with the
 * `buf = mu*buf + g` form, Adam/AdamW with bias correction; weight decay is
 * decoupled (p -= lr*wd*p) for every optimizer.
 */
import type { Config } from '../../shared/config.js';
import { InternalError } from '../../shared/errors.js';
import type { AdamScalars, UpdateKernels } from './updateKernels.js';

export interface OptimizerState {
  /** Steps applied so far (Adam's bias correction). */
  t: number;
  /** Momentum buffer, or Adam's first moment. Empty for plain SGD. */
  m: Float32Array;
  /** Adam's second moment. Empty otherwise. */
  v: Float32Array;
}

/**
 * The gradient as the weighted sum of micro-batch slots, not yet reduced:
 * Adam with the kernels then reduces and updates in one pass (reduceAdam in
 * updateKernels.ts). Same bits as reduce() then apply(): the pass computes
 * each group's reduced gradient exactly as reduce() does, and the update
 * takes it from a register instead of memory. What it saves: one write and
 * one read of the whole gradient, ~0.1 ms of the ANN's ~0.4 ms reduce and
 * update, which every worker waits for.
 */
export interface Reduction {
  readonly slots: readonly Float32Array[];
  readonly shares: readonly number[];
}

export class Optimizer {
  readonly state: OptimizerState;

  /**
   * `storage` gives the state arrays a home (views of the shared parameter
   * memory, where `kernels` can reach them); by default they are fresh arrays
   * and the update runs in JS.
   */
  constructor(
    private readonly cfg: Config['optimizer'],
    size: number,
    storage?: { m: Float32Array; v: Float32Array },
    private readonly kernels?: UpdateKernels,
  ) {
    const needsM = cfg.name !== 'sgd';
    const needsV = cfg.name === 'adam' || cfg.name === 'adamw';
    const m = storage?.m.subarray(0, size) ?? new Float32Array(size);
    const v = storage?.v.subarray(0, size) ?? new Float32Array(size);
    this.state = { t: 0, m: needsM ? m.fill(0) : new Float32Array(0), v: needsV ? v.fill(0) : new Float32Array(0) };
  }

  restore(state: OptimizerState): void {
    if (state.m.length !== this.state.m.length || state.v.length !== this.state.v.length) {
      throw new InternalError(
        `optimizer state of ${state.m.length}+${state.v.length} values does not fit the model's ${this.state.m.length}+${this.state.v.length}`,
      );
    }
    this.state.t = state.t;
    this.state.m.set(state.m);
    this.state.v.set(state.v);
  }

  /** Whether apply() can take `reduction`: Adam (or AdamW), with the kernels holding every array, slots included. */
  fusesReduce(params: Float32Array, reduction: Reduction): boolean {
    const { m, v } = this.state;
    return (this.cfg.name === 'adam' || this.cfg.name === 'adamw') && this.kernels?.covers(params, m, v, ...reduction.slots) === true;
  }

  /**
   * p <- update(p, g) at learning rate lr. `momentum`, when given, replaces
   * this step's momentum (Adam's beta1, or SGD's momentum), as a cycled
   * schedule sets it; Adam's bias correction then uses it, as PyTorch's does.
   * With `reduction` (only where fusesReduce() says so), the kernel reduces
   * the whole groups of 4 itself, and `grads` needs to hold only the rest.
   */
  apply(params: Float32Array, grads: Float32Array, lr: number, momentum?: number, reduction?: Reduction): void {
    // `grads` would hold only the last n % 4 elements: never update from it.
    if (reduction && !this.fusesReduce(params, reduction))
      throw new InternalError('a reduction passed to an optimizer that cannot fuse it');
    const { name, epsilon, weightDecay, beta2 } = this.cfg;
    const mu = momentum ?? this.cfg.momentum;
    const beta1 = momentum ?? this.cfg.beta1;
    const decay = 1 - lr * weightDecay;
    const { m, v } = this.state;
    const n = grads.length;
    this.state.t += 1;
    // The kernels (when every array is in their memory) take whole groups of
    // 4 elements; the JS loops do the rest from `from`, or everything.
    const k = this.kernels?.covers(params, grads, m, v) ? this.kernels : undefined;
    const from = k ? n - (n % 4) : 0;
    switch (name) {
      case 'sgd':
        k?.sgd(params, grads, from / 4, { lr, decay });
        for (let i = from; i < n; i++) params[i] = (params[i] as number) * decay - lr * (grads[i] as number);
        break;
      case 'momentum':
      case 'nesterov': {
        const nesterov = name === 'nesterov';
        k?.momentum(params, grads, m, from / 4, { mu, lr, decay, nesterov });
        for (let i = from; i < n; i++) {
          const g = grads[i] as number;
          const b = mu * (m[i] as number) + g;
          m[i] = b;
          params[i] = (params[i] as number) * decay - lr * (nesterov ? g + mu * b : b);
        }
        break;
      }
      case 'adam':
      case 'adamw': {
        // Float32 throughout (AdamScalars says why): the scalars rounded once,
        // then every operation rounded as f32x4 rounds it. f64 +, *, / and
        // sqrt of float32 values, rounded to float32, equal the float32
        // operation exactly (53 >= 2*24 + 2 bits), so `f` after each is enough.
        const f = Math.fround;
        const s: AdamScalars = {
          beta1: f(beta1),
          oneMinusBeta1: f(1 - beta1),
          beta2: f(beta2),
          oneMinusBeta2: f(1 - beta2),
          step: f(lr / (1 - beta1 ** this.state.t)),
          sqrtC2: f(Math.sqrt(1 - beta2 ** this.state.t)),
          epsilon: f(epsilon),
          decay: f(decay),
        };
        if (k && reduction) k.reduceAdam(reduction.slots, reduction.shares, params, m, v, from / 4, s);
        else k?.adam(params, grads, m, v, from / 4, s);
        for (let i = from; i < n; i++) {
          const g = grads[i] as number;
          const mi = f(f(s.beta1 * (m[i] as number)) + f(s.oneMinusBeta1 * g));
          const vi = f(f(s.beta2 * (v[i] as number)) + f(f(s.oneMinusBeta2 * g) * g));
          m[i] = mi;
          v[i] = vi;
          const denominator = f(f(f(Math.sqrt(vi)) / s.sqrtC2) + s.epsilon);
          params[i] = f(f((params[i] as number) * s.decay) - f(f(s.step * mi) / denominator));
        }
        break;
      }
    }
  }
}
