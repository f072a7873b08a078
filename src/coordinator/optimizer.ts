/**
 * Optimizers as in-place updates of the flat Float32 parameter vector.
 *
 * They run on the coordinator in plain JS: ~10 flops per parameter (2 ms for
 * the CNN's 225k parameters), deterministic, independent of the backend, and
 * their state is a few Float32Arrays that checkpoints save as they are.
 * Formulas follow PyTorch (torch.optim): SGD, momentum and Nesterov with the
 * `buf = mu*buf + g` form, Adam/AdamW with bias correction; weight decay is
 * decoupled (p -= lr*wd*p) for every optimizer.
 */
import type { Config } from '../shared/config.js';

export interface OptimizerState {
  /** Steps applied so far (Adam's bias correction). */
  t: number;
  /** Momentum buffer, or Adam's first moment. Empty for plain SGD. */
  m: Float32Array;
  /** Adam's second moment. Empty otherwise. */
  v: Float32Array;
}

export class Optimizer {
  readonly state: OptimizerState;

  constructor(
    private readonly cfg: Config['optimizer'],
    size: number,
  ) {
    const needsM = cfg.name !== 'sgd';
    const needsV = cfg.name === 'adam' || cfg.name === 'adamw';
    this.state = { t: 0, m: new Float32Array(needsM ? size : 0), v: new Float32Array(needsV ? size : 0) };
  }

  restore(state: OptimizerState): void {
    if (state.m.length !== this.state.m.length || state.v.length !== this.state.v.length) {
      throw new Error('optimizer state does not match the model size');
    }
    this.state.t = state.t;
    this.state.m.set(state.m);
    this.state.v.set(state.v);
  }

  /** p <- update(p, g) at learning rate lr. */
  apply(params: Float32Array, grads: Float32Array, lr: number): void {
    const { name, momentum: mu, beta1, beta2, epsilon, weightDecay } = this.cfg;
    const decay = 1 - lr * weightDecay;
    const { m, v } = this.state;
    const n = grads.length;
    this.state.t += 1;
    switch (name) {
      case 'sgd':
        for (let i = 0; i < n; i++) params[i] = (params[i] as number) * decay - lr * (grads[i] as number);
        break;
      case 'momentum':
      case 'nesterov': {
        const nesterov = name === 'nesterov';
        for (let i = 0; i < n; i++) {
          const g = grads[i] as number;
          const b = mu * (m[i] as number) + g;
          m[i] = b;
          params[i] = (params[i] as number) * decay - lr * (nesterov ? g + mu * b : b);
        }
        break;
      }
      case 'adam':
      case 'adamw': {
        const c1 = 1 - beta1 ** this.state.t;
        const c2 = 1 - beta2 ** this.state.t;
        const step = lr / c1;
        const sqrtC2 = Math.sqrt(c2);
        for (let i = 0; i < n; i++) {
          const g = grads[i] as number;
          const mi = beta1 * (m[i] as number) + (1 - beta1) * g;
          const vi = beta2 * (v[i] as number) + (1 - beta2) * g * g;
          m[i] = mi;
          v[i] = vi;
          params[i] = (params[i] as number) * decay - (step * mi) / (Math.sqrt(vi) / sqrtC2 + epsilon);
        }
        break;
      }
    }
  }
}
