/**
 * The parameter server: owns the weights (in the shared weights buffer that
 * workers read), the optimizer and the batch-norm moving statistics.
 *
 * Each step: reduce() averages the micro-batch gradients from their shared
 * slots, weighted by example count, always in micro-batch order — the order
 * is what makes the result bitwise independent of the worker count — then
 * apply() runs the optimizer in place. Workers are idle between steps, so
 * the in-place update needs no copy: "broadcasting" the new weights is the
 * next task's dispatch.
 */
import type { Config } from '../../shared/config.js';
import { ConfigError, InternalError } from '../../shared/errors.js';
import { OUTCOME_FIELDS, SYNC_SLOTS, SYNC_WEIGHTS, type MicroBatch } from '../../shared/messages.js';
import { BATCH_NORM_MOMENTUM, type ModelPlan } from '../../shared/modelPlan.js';
import { Rng, Stream } from '../../shared/rng.js';
import { Optimizer, type OptimizerState, type Reduction } from './optimizer.js';
import { Wasm, type WasmMemory } from '../../shared/kernels/wasm-asm.js';
import { UpdateKernels } from './updateKernels.js';

/**
 * Everything the parameter server touches each step, as views of one shared
 * WebAssembly memory: the update kernels (updateKernels.ts) run on it in
 * place, and its buffer is a SharedArrayBuffer that the workers receive
 * once. Regions start on 16-byte boundaries.
 */
export interface SharedBuffers {
  readonly memory: WasmMemory;
  /** Params then batch-norm state: the workers read them. */
  readonly weights: Float32Array;
  /** One gradient slot per micro-batch of a step: the workers write them. */
  readonly gradients: Float32Array;
  /** Per-micro-batch batch-norm statistics: the workers write them. */
  readonly batchStats: Float32Array;
  /** The reduced (averaged) gradient. */
  readonly gradient: Float32Array;
  /** The optimizer's first and second moments, paramCount each. */
  readonly moments: Float32Array;
  /** Byte address of the kernels' scratch area, sized for `slots` slots. */
  readonly scratch: number;
  readonly slots: number;
  /** On its own SharedArrayBuffer: the step's progress (TrainingInit.sync). */
  readonly sync: Int32Array;
  /** On its own SharedArrayBuffer: each flagged slot's loss and counts (TrainingInit.outcomes). */
  readonly outcomes: Float64Array;
}

/** What a worker needs of SharedBuffers (typed-array views on the shared buffer travel as views). */
export function workerBuffers(b: SharedBuffers): Pick<SharedBuffers, 'weights' | 'gradients' | 'batchStats' | 'sync' | 'outcomes'> {
  return { weights: b.weights, gradients: b.gradients, batchStats: b.batchStats, sync: b.sync, outcomes: b.outcomes };
}

/** The most a 32-bit WebAssembly memory can hold: 65536 pages of 64 KiB. */
const MAX_PAGES = 65536;

/** `configFile` names the config in the error when a step's slots do not fit in one shared memory. */
export function allocateBuffers(plan: ModelPlan, microBatchesPerStep: number, configFile = '<config>'): SharedBuffers {
  const P = plan.paramCount;
  const S = plan.stateCount;
  const floats = [P + S, P, 2 * P, microBatchesPerStep * P, Math.max(1, microBatchesPerStep * S)];
  const align = (bytes: number) => Math.ceil(bytes / 16) * 16;
  const scratchBytes = align(UpdateKernels.scratchBytes(microBatchesPerStep));
  const total = floats.reduce((sum, n) => sum + align(n * 4), scratchBytes);
  const pages = Math.ceil(total / 65536);
  if (pages > MAX_PAGES) {
    const gib = (total / 2 ** 30).toFixed(1);
    throw new ConfigError(
      configFile,
      'train.microBatchSize',
      `${microBatchesPerStep} micro-batches per step need ${gib} GiB of gradient slots, more than the 4 GiB of one shared WebAssembly memory: raise train.microBatchSize or lower train.batchSize`,
    );
  }
  const memory = new Wasm.Memory({ initial: pages, maximum: pages, shared: true });
  let at = scratchBytes;
  const [weights, gradient, moments, gradients, batchStats] = floats.map((n) => {
    const view = new Float32Array(memory.buffer, at, n);
    at += align(n * 4);
    return view;
  }) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  const sync = new Int32Array(new SharedArrayBuffer((SYNC_SLOTS + microBatchesPerStep) * Int32Array.BYTES_PER_ELEMENT));
  const outcomes = new Float64Array(new SharedArrayBuffer(2 * microBatchesPerStep * OUTCOME_FIELDS * Float64Array.BYTES_PER_ELEMENT));
  return { memory, weights, gradients, batchStats, gradient, moments, scratch: 0, slots: microBatchesPerStep, sync, outcomes };
}

/** Glorot-uniform kernels, zero biases, unit gammas: the Keras defaults, from a seeded JS stream. */
export function initialWeights(plan: ModelPlan, seed: number, into: Float32Array): void {
  const rng = Rng.derive(seed, Stream.init);
  const fill = (spec: ModelPlan['params'][number], base: number) => {
    const view = into.subarray(base + spec.offset, base + spec.offset + spec.size);
    if (spec.init === 'zeros') view.fill(0);
    else if (spec.init === 'ones') view.fill(1);
    else {
      const limit = Math.sqrt(6 / (spec.fanIn + spec.fanOut));
      for (let i = 0; i < view.length; i++) view[i] = rng.uniform(-limit, limit);
    }
  };
  for (const p of plan.params) fill(p, 0);
  for (const s of plan.state) fill(s, plan.paramCount);
}

export class ParameterServer {
  /** The model's weights: params then batch-norm state, shared with the workers. (Averaging coefficients are `shares`.) */
  readonly weights: Float32Array;
  readonly params: Float32Array;
  private readonly state: Float32Array;
  private readonly gradientSlots: Float32Array;
  private readonly statSlots: Float32Array;
  /** The averaged gradient of the last reduce(). */
  readonly gradient: Float32Array;
  readonly optimizer: Optimizer;
  /** The WebAssembly SIMD reduce and update; undefined means plain JS (PIXELSENSE_NO_SIMD=1). */
  private readonly kernels: UpdateKernels | undefined;
  /** The step's progress, shared with the workers (TrainingInit.sync). */
  readonly sync: Int32Array;

  constructor(
    readonly plan: ModelPlan,
    cfg: Config,
    buffers: SharedBuffers,
  ) {
    const P = plan.paramCount;
    this.weights = buffers.weights;
    this.params = this.weights.subarray(0, P);
    this.state = this.weights.subarray(P);
    this.gradientSlots = buffers.gradients;
    this.statSlots = buffers.batchStats;
    this.gradient = buffers.gradient;
    this.sync = buffers.sync;
    this.kernels = UpdateKernels.create(buffers.memory, buffers.scratch, buffers.slots);
    const moments = { m: buffers.moments.subarray(0, P), v: buffers.moments.subarray(P) };
    this.optimizer = new Optimizer(cfg.optimizer, P, moments, this.kernels);
  }

  initialize(seed: number): void {
    initialWeights(this.plan, seed, this.weights);
  }

  /**
   * Example-weighted mean of the micro-batch gradients, accumulated in float64
   * in micro-batch index order (~P multiply-adds per micro-batch).
   */
  reduce(microBatches: readonly MicroBatch[]): Float32Array {
    return this.reduceInto(this.reduction(microBatches));
  }

  private reduceInto({ slots, shares }: Reduction): Float32Array {
    const P = this.plan.paramCount;
    // SIMD for whole groups of 4 elements (CNN, 4 slots: 0.30 ms); the same
    // arithmetic in JS for the rest.
    const from = this.kernels ? P - (P % 4) : 0;
    this.kernels?.reduce(slots, shares, this.gradient, from / 4);
    reduceRange(slots, shares, this.gradient, from, P);
    return this.gradient;
  }

  /**
   * reduce() then apply(): one step of the optimizer on the micro-batches'
   * mean gradient. With Adam and the kernels, one pass over memory does both
   * (Reduction in optimizer.ts), and `gradient` holds only its last P % 4
   * elements afterwards; the weights come out the same to the bit. Returns
   * each part's seconds; fused, the reduce's are part of the update's.
   */
  reduceAndApply(microBatches: readonly MicroBatch[], lr: number, momentum?: number): { reduceSeconds: number; updateSeconds: number } {
    const t0 = performance.now();
    const reduction = this.reduction(microBatches);
    if (!this.optimizer.fusesReduce(this.params, reduction)) {
      this.reduceInto(reduction);
      const t1 = performance.now();
      this.apply(lr, momentum);
      return { reduceSeconds: (t1 - t0) / 1000, updateSeconds: (performance.now() - t1) / 1000 };
    }
    const P = this.plan.paramCount;
    reduceRange(reduction.slots, reduction.shares, this.gradient, P - (P % 4), P);
    this.optimizer.apply(this.params, this.gradient, lr, momentum, reduction);
    return { reduceSeconds: 0, updateSeconds: (performance.now() - t0) / 1000 };
  }

  /** The micro-batches' slots in index order, each with its share of the global batch (the averaging coefficients). */
  private reduction(microBatches: readonly MicroBatch[]): Reduction {
    const P = this.plan.paramCount;
    const sorted = [...microBatches].sort((a, b) => a.index - b.index);
    const total = sorted.reduce((s, mb) => s + mb.count, 0);
    return {
      shares: sorted.map((mb) => mb.count / total),
      slots: sorted.map((mb) => this.gradientSlots.subarray(mb.index * P, (mb.index + 1) * P)),
    };
  }

  /**
   * Batch-norm moving statistics from the micro-batches' own statistics:
   * the global batch mean and variance (law of total variance), then the
   * Keras update moving = momentum*moving + (1-momentum)*batch.
   */
  updateBatchNormState(microBatches: readonly MicroBatch[]): void {
    if (this.plan.stateCount === 0) return;
    const S = this.plan.stateCount;
    const sorted = [...microBatches].sort((a, b) => a.index - b.index);
    const total = sorted.reduce((s, mb) => s + mb.count, 0);
    for (const layer of this.plan.layers) {
      if (layer.type !== 'batchNorm') continue;
      const meanSpec = this.plan.state[layer.meanState];
      const varSpec = this.plan.state[layer.varianceState];
      if (!meanSpec || !varSpec) continue;
      for (let c = 0; c < layer.size; c++) {
        let mean = 0;
        let second = 0;
        for (const mb of sorted) {
          const share = mb.count / total;
          const m = this.statSlots[mb.index * S + meanSpec.offset + c] as number;
          const v = this.statSlots[mb.index * S + varSpec.offset + c] as number;
          mean += share * m;
          second += share * (v + m * m);
        }
        const variance = Math.max(0, second - mean * mean);
        const mi = meanSpec.offset + c;
        const vi = varSpec.offset + c;
        this.state[mi] = BATCH_NORM_MOMENTUM * (this.state[mi] as number) + (1 - BATCH_NORM_MOMENTUM) * mean;
        this.state[vi] = BATCH_NORM_MOMENTUM * (this.state[vi] as number) + (1 - BATCH_NORM_MOMENTUM) * variance;
      }
    }
  }

  /** One optimizer step on the shared weights, in place; `momentum`: this step's, when the schedule cycles it. */
  apply(lr: number, momentum?: number): void {
    this.optimizer.apply(this.params, this.gradient, lr, momentum);
  }

  /**
   * Declare the weights to hold `steps` optimizer steps and wake the tasks
   * waiting for them ('train' tasks with `after`). Call it after every change
   * of the weights, before a task reads them.
   */
  publish(steps: number): void {
    Atomics.store(this.sync, SYNC_WEIGHTS, steps);
    Atomics.notify(this.sync, SYNC_WEIGHTS);
  }

  snapshot(): { weights: Float32Array; optimizer: OptimizerState } {
    const s = this.optimizer.state;
    return { weights: this.weights.slice(), optimizer: { t: s.t, m: s.m.slice(), v: s.v.slice() } };
  }

  restore(snapshot: { weights: Float32Array; optimizer: OptimizerState }): void {
    if (snapshot.weights.length !== this.weights.length)
      throw new InternalError(`checkpoint weights hold ${snapshot.weights.length} values; the model has ${this.weights.length}`);
    this.weights.set(snapshot.weights);
    this.optimizer.restore(snapshot.optimizer);
  }
}

/**
 * out[j] = f32(0 + c0*s0[j] + c1*s1[j] + ...) for j in [from, to), where c_i
 * is micro-batch i's share of the global batch (`shares`): each
 * element's sum runs over the slots in index order in a float64 register and
 * is rounded once. The reference that the SIMD kernel reproduces bit for
 * bit; it runs only the last P % 4 elements, or everything under
 * PIXELSENSE_NO_SIMD=1.
 */
export function reduceRange(slots: readonly Float32Array[], shares: readonly number[], out: Float32Array, from: number, to: number): void {
  for (let j = from; j < to; j++) {
    let acc = 0;
    for (let i = 0; i < slots.length; i++) acc += (shares[i] as number) * ((slots[i] as Float32Array)[j] as number);
    out[j] = acc;
  }
}
