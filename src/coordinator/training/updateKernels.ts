/**
 * The parameter server's two hot loops, the gradient reduce and the
 * optimizer update, as hand-assembled WebAssembly SIMD over the shared
 * WebAssembly memory of the parameter server (allocateBuffers in
 * parameterServer.ts).
 *
 * Why: both run on the coordinator while every worker waits, so they are
 * pure serial time in each step. In plain JS they cost ~2.5 ms per CNN step
 * (reduce ~1.1, Adam ~1.4); here they run in place on the same memory the
 * workers read, with no copies.
 *
 * Bit-identical to the JS reference: every element is computed with
 * exactly the operations, operand order and rounding points of
 * parameterServer.ts's reduceRange / Optimizer's JS loops — the reduce, SGD
 * and momentum in f64x2 lanes, Adam in f32x4 lanes (IEEE add, mul, div and
 * sqrt are correctly rounded in both; f32 -> f64 is exact; f64 -> f32 rounds
 * to nearest even in both). The tests check that bit for bit. Kernels
 * process whole groups of 4 floats; callers finish the last count % 4
 * elements in JS.
 */
import {
  ADD,
  F32X4_DEMOTE_F64X2_ZERO as DEMOTE,
  F64X2_ADD,
  F64X2_MUL,
  F64X2_PROMOTE_LOW as PROMOTE,
  F64X2_SUB,
  F32X4_ADD,
  F32X4_DIV,
  F32X4_MUL,
  F32X4_SQRT,
  F32X4_SUB,
  HIGH_TO_LOW,
  I32,
  I32_LOAD,
  I32_SHL,
  LOW_LOW,
  V128,
  V128_ZERO,
  encodeModule,
  get,
  i32,
  inc,
  loop,
  set,
  vload,
  vload32Splat,
  vload64Splat,
  vstore,
  Wasm,
  type Fn,
  type WasmMemory,
  type WasmModule,
} from '../../shared/kernels/wasm-asm.js';
import { simdEnabled } from '../../shared/kernels/simd.js';

/** f64x2 of half `h` (0: floats 0-1, 1: floats 2-3) of the f32x4 in local `x`. */
const half = (x: number, h: 0 | 1): number[] => (h === 0 ? [...get(x), ...PROMOTE] : [...get(x), ...get(x), ...HIGH_TO_LOW, ...PROMOTE]);
/** Splat the f64 scalars at sc + 8k into locals first..first+n-1. */
const splats = (sc: number, first: number, n: number): number[] =>
  Array.from({ length: n }, (_, k) => [...get(sc), ...vload64Splat(8 * k), ...set(first + k)]).flat();
/** v128 at local `base` + local `off`. */
const at = (base: number, off: number): number[] => [...get(base), ...get(off), ...ADD];

/** Where one kernel keeps what the reduce of one group of 4 elements needs (parameter and local indices). */
interface ReduceLocals {
  /** i32[n] slot addresses, f64[n] shares, n. */
  slots: number;
  shares: number;
  n: number;
  /** Byte offset of the group (the same in every slot and in the output). */
  off: number;
  /** Slot counter, the two f64x2 sums, the loaded slot and its splatted share. */
  i: number;
  acc0: number;
  acc1: number;
  x: number;
  w: number;
}

/** acc0, acc1 = sum over slots of share * slot[off..off+3], in slot order, in f64x2 lanes. Leaves nothing on the stack. */
const reduceSums = (r: ReduceLocals): number[] => [
  ...V128_ZERO,
  ...set(r.acc0),
  ...V128_ZERO,
  ...set(r.acc1),
  ...i32(0),
  ...set(r.i),
  ...loop(r.i, get(r.n), i32(1), [
    ...get(r.slots),
    ...get(r.i),
    ...i32(2),
    ...I32_SHL,
    ...ADD,
    ...I32_LOAD,
    ...get(r.off),
    ...ADD,
    ...vload(),
    ...set(r.x),
    ...get(r.shares),
    ...get(r.i),
    ...i32(3),
    ...I32_SHL,
    ...ADD,
    ...vload64Splat(),
    ...set(r.w),
    ...get(r.acc0),
    ...get(r.w),
    ...half(r.x, 0),
    ...F64X2_MUL,
    ...F64X2_ADD,
    ...set(r.acc0),
    ...get(r.acc1),
    ...get(r.w),
    ...half(r.x, 1),
    ...F64X2_MUL,
    ...F64X2_ADD,
    ...set(r.acc1),
  ]),
];

/** The reduced group as one f32x4 on the stack: each sum rounded once. */
const reducedGroup = (r: ReduceLocals): number[] => [...get(r.acc0), ...DEMOTE, ...get(r.acc1), ...DEMOTE, ...LOW_LOW];

// reduce(slots0, weights1, n2, out3, chunks4) locals j5 off6 i7 acc0:8 acc1:9 x10 w11
// out[4j..4j+3] = f32(0 + w0*s0 + w1*s1 + ...), slot addresses i32[n] at slots, weights f64[n].
const reduceLocals: ReduceLocals = { slots: 0, shares: 1, n: 2, off: 6, i: 7, acc0: 8, acc1: 9, x: 10, w: 11 };
const reduce: Fn = {
  name: 'reduce',
  params: 5,
  locals: [I32, I32, I32, V128, V128, V128, V128],
  body: loop(5, get(4), i32(1), [...reduceSums(reduceLocals), ...at(3, 6), ...reducedGroup(reduceLocals), ...vstore(), ...inc(6, i32(16))]),
};

/** Where one kernel keeps Adam's arrays, scalars and temporaries (parameter and local indices). */
interface AdamLocals {
  p: number;
  m: number;
  v: number;
  off: number;
  /** First of the 8 f32x4 scalar locals, in AdamScalars order: b1 omb1 b2 omb2 step sqrtC2 eps decay. */
  s: number;
  /** The gradient group, then the new moments. */
  g: number;
  mi: number;
  vi: number;
}

/** Splat the 8 f32 scalars at `sc` into locals s..s+7. */
const adamScalars = (sc: number, s: number): number[] =>
  Array.from({ length: 8 }, (_, k) => [...get(sc), ...vload32Splat(4 * k), ...set(s + k)]).flat();

/** Adam on the group at `off`, gradient in local g. All in f32x4 lanes (AdamScalars says why). */
const adamGroup = (a: AdamLocals): number[] => {
  const [b1, omb1, b2, omb2, step, sqrtC2, eps, decay] = Array.from({ length: 8 }, (_, k) => a.s + k) as number[];
  return [
    // m = b1*m + (1-b1)*g
    ...get(b1 as number),
    ...at(a.m, a.off),
    ...vload(),
    ...F32X4_MUL,
    ...get(omb1 as number),
    ...get(a.g),
    ...F32X4_MUL,
    ...F32X4_ADD,
    ...set(a.mi),
    ...at(a.m, a.off),
    ...get(a.mi),
    ...vstore(),
    // v = b2*v + (1-b2)*g*g
    ...get(b2 as number),
    ...at(a.v, a.off),
    ...vload(),
    ...F32X4_MUL,
    ...get(omb2 as number),
    ...get(a.g),
    ...F32X4_MUL,
    ...get(a.g),
    ...F32X4_MUL,
    ...F32X4_ADD,
    ...set(a.vi),
    ...at(a.v, a.off),
    ...get(a.vi),
    ...vstore(),
    // p = p*decay - step*m / (sqrt(v)/sqrtC2 + eps)
    ...at(a.p, a.off),
    ...at(a.p, a.off),
    ...vload(),
    ...get(decay as number),
    ...F32X4_MUL,
    ...get(step as number),
    ...get(a.mi),
    ...F32X4_MUL,
    ...get(a.vi),
    ...F32X4_SQRT,
    ...get(sqrtC2 as number),
    ...F32X4_DIV,
    ...get(eps as number),
    ...F32X4_ADD,
    ...F32X4_DIV,
    ...F32X4_SUB,
    ...vstore(),
  ];
};

// adam(p0, g1, m2, v3, chunks4, sc5) locals j6 off7, scalars 8-15, G16 mi17 vi18.
const adam: Fn = {
  name: 'adam',
  params: 6,
  locals: [I32, I32, ...new Array<number>(11).fill(V128)],
  body: [
    ...adamScalars(5, 8),
    ...loop(6, get(4), i32(1), [
      ...at(1, 7),
      ...vload(),
      ...set(16),
      ...adamGroup({ p: 0, m: 2, v: 3, off: 7, s: 8, g: 16, mi: 17, vi: 18 }),
      ...inc(7, i32(16)),
    ]),
  ],
};

// reduceAdam(slots0, shares1, n2, p3, m4, v5, chunks6, sc7) locals j8 off9 i10, acc0:11 acc1:12 x13 w14, scalars
// 15-22, G23 mi24 vi25. reduce then adam, one group at a time: the reduced gradient never goes to memory.
const reduceAdamLocals: ReduceLocals = { slots: 0, shares: 1, n: 2, off: 9, i: 10, acc0: 11, acc1: 12, x: 13, w: 14 };
const reduceAdam: Fn = {
  name: 'reduceAdam',
  params: 8,
  locals: [I32, I32, I32, ...new Array<number>(15).fill(V128)],
  body: [
    ...adamScalars(7, 15),
    ...loop(8, get(6), i32(1), [
      ...reduceSums(reduceAdamLocals),
      ...reducedGroup(reduceAdamLocals),
      ...set(23),
      ...adamGroup({ p: 3, m: 4, v: 5, off: 9, s: 15, g: 23, mi: 24, vi: 25 }),
      ...inc(9, i32(16)),
    ]),
  ],
};

// momentum/nesterov(p0, g1, m2, chunks3, sc4) locals j5 off6, scalars mu7 lr8 decay9, xg10 xm11 xp12 G13 b14 mLow15 pLow16 pn17
function momentumFn(nesterov: boolean): Fn {
  const halfBody = (h: 0 | 1): number[] => {
    const update = nesterov ? [...get(13), ...get(7), ...get(14), ...F64X2_MUL, ...F64X2_ADD] : get(14);
    const body = [
      ...half(10, h),
      ...set(13),
      ...get(7),
      ...half(11, h),
      ...F64X2_MUL,
      ...get(13),
      ...F64X2_ADD,
      ...set(14),
      ...half(12, h),
      ...get(9),
      ...F64X2_MUL,
      ...get(8),
      ...update,
      ...F64X2_MUL,
      ...F64X2_SUB,
      ...set(17),
    ];
    if (h === 0) return [...body, ...get(14), ...DEMOTE, ...set(15), ...get(17), ...DEMOTE, ...set(16)];
    return [
      ...body,
      ...at(2, 6),
      ...get(15),
      ...get(14),
      ...DEMOTE,
      ...LOW_LOW,
      ...vstore(),
      ...at(0, 6),
      ...get(16),
      ...get(17),
      ...DEMOTE,
      ...LOW_LOW,
      ...vstore(),
    ];
  };
  return {
    name: nesterov ? 'nesterov' : 'momentum',
    params: 5,
    locals: [I32, I32, ...new Array<number>(11).fill(V128)],
    body: [
      ...splats(4, 7, 3),
      ...loop(5, get(3), i32(1), [
        ...at(1, 6),
        ...vload(),
        ...set(10),
        ...at(2, 6),
        ...vload(),
        ...set(11),
        ...at(0, 6),
        ...vload(),
        ...set(12),
        ...halfBody(0),
        ...halfBody(1),
        ...inc(6, i32(16)),
      ]),
    ],
  };
}

// sgd(p0, g1, chunks2, sc3) locals j4 off5, scalars lr6 decay7, xg8 xp9 pLow10 pn11
function sgdHalf(h: 0 | 1): number[] {
  const body = [...half(9, h), ...get(7), ...F64X2_MUL, ...get(6), ...half(8, h), ...F64X2_MUL, ...F64X2_SUB, ...set(11)];
  if (h === 0) return [...body, ...get(11), ...DEMOTE, ...set(10)];
  return [...body, ...at(0, 5), ...get(10), ...get(11), ...DEMOTE, ...LOW_LOW, ...vstore()];
}
const sgd: Fn = {
  name: 'sgd',
  params: 4,
  locals: [I32, I32, V128, V128, V128, V128, V128, V128],
  body: [
    ...splats(3, 6, 2),
    ...loop(4, get(2), i32(1), [
      ...at(1, 5),
      ...vload(),
      ...set(8),
      ...at(0, 5),
      ...vload(),
      ...set(9),
      ...sgdHalf(0),
      ...sgdHalf(1),
      ...inc(5, i32(16)),
    ]),
  ],
};

interface Exports {
  reduce(slots: number, weights: number, n: number, out: number, chunks: number): void;
  adam(p: number, g: number, m: number, v: number, chunks: number, sc: number): void;
  reduceAdam(slots: number, shares: number, n: number, p: number, m: number, v: number, chunks: number, sc: number): void;
  momentum(p: number, g: number, m: number, chunks: number, sc: number): void;
  nesterov(p: number, g: number, m: number, chunks: number, sc: number): void;
  sgd(p: number, g: number, chunks: number, sc: number): void;
}

let compiled: WasmModule | null | undefined;

/**
 * The kernels bound to one shared memory, plus a scratch area in it for
 * their scalar arguments (f64) and slot tables. Every array passed in must
 * be a view of that memory; `covers()` says whether they all are.
 */
export class UpdateKernels {
  private readonly f64: Float64Array;
  /** The same first 64 bytes of scratch as f32, for Adam's scalars. */
  private readonly f32: Float32Array;
  private readonly i32: Int32Array;

  private constructor(
    private readonly memory: WasmMemory,
    private readonly fns: Exports,
    /** Byte address of the scratch area: 8 f64 scalars, then f64 weights, then i32 slot addresses. */
    private readonly scratch: number,
    private readonly maxSlots: number,
  ) {
    this.f64 = new Float64Array(memory.buffer, scratch, 8 + maxSlots);
    this.f32 = new Float32Array(memory.buffer, scratch, 16);
    this.i32 = new Int32Array(memory.buffer, scratch + (8 + maxSlots) * 8, maxSlots);
  }

  /** Bytes of scratch space needed for up to `maxSlots` micro-batch slots. */
  static scratchBytes(maxSlots: number): number {
    return (8 + maxSlots) * 8 + maxSlots * 4;
  }

  /** The kernels on `memory`, or undefined where WebAssembly SIMD is unavailable or turned off (PIXELSENSE_NO_SIMD=1). */
  static create(memory: WasmMemory, scratch: number, maxSlots: number): UpdateKernels | undefined {
    if (!simdEnabled()) return undefined;
    try {
      compiled ??= new Wasm.Module(
        encodeModule([reduce, adam, reduceAdam, momentumFn(false), momentumFn(true), sgd], { sharedMemory: true }),
      );
    } catch {
      compiled = null;
    }
    if (compiled === null) return undefined;
    const fns = new Wasm.Instance(compiled, { env: { memory } }).exports as Exports;
    return new UpdateKernels(memory, fns, scratch, maxSlots);
  }

  /** True when every non-empty array is a view of this memory (so the kernels can address it). */
  covers(...arrays: Float32Array[]): boolean {
    return arrays.every((a) => a.length === 0 || a.buffer === this.memory.buffer);
  }

  /** out[0, 4*chunks) = sum over i of shares[i] * slots[i], element by element in slot order (f64, one rounding). */
  reduce(slots: readonly Float32Array[], shares: readonly number[], out: Float32Array, chunks: number): void {
    this.fns.reduce(this.slotTable(slots, shares), this.scratch + 64, slots.length, out.byteOffset, chunks);
  }

  /**
   * adam() with g = reduce(slots, shares), in one pass: each group of 4 is
   * reduced into a register and updated at once, so the reduced gradient
   * never goes to memory (ANN, 2 slots: see Reduction in optimizer.ts).
   */
  reduceAdam(
    slots: readonly Float32Array[],
    shares: readonly number[],
    p: Float32Array,
    m: Float32Array,
    v: Float32Array,
    chunks: number,
    s: AdamScalars,
  ): void {
    const table = this.slotTable(slots, shares);
    this.setAdamScalars(s);
    this.fns.reduceAdam(table, this.scratch + 64, slots.length, p.byteOffset, m.byteOffset, v.byteOffset, chunks, this.scratch);
  }

  /** Writes the shares (f64, after the 8 scalars) and slot addresses (i32) into scratch; returns the addresses' address. */
  private slotTable(slots: readonly Float32Array[], shares: readonly number[]): number {
    if (slots.length > this.maxSlots) throw new Error(`reduce over ${slots.length} slots; the scratch area holds ${this.maxSlots}`);
    slots.forEach((s, i) => {
      this.f64[8 + i] = shares[i] as number;
      this.i32[i] = s.byteOffset;
    });
    return this.scratch + (8 + this.maxSlots) * 8;
  }

  private setAdamScalars(s: AdamScalars): void {
    this.f32.set([s.beta1, s.oneMinusBeta1, s.beta2, s.oneMinusBeta2, s.step, s.sqrtC2, s.epsilon, s.decay]);
  }

  adam(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, chunks: number, s: AdamScalars): void {
    this.setAdamScalars(s);
    this.fns.adam(p.byteOffset, g.byteOffset, m.byteOffset, v.byteOffset, chunks, this.scratch);
  }

  momentum(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    chunks: number,
    s: { mu: number; lr: number; decay: number; nesterov: boolean },
  ): void {
    this.f64.set([s.mu, s.lr, s.decay]);
    (s.nesterov ? this.fns.nesterov : this.fns.momentum)(p.byteOffset, g.byteOffset, m.byteOffset, chunks, this.scratch);
  }

  sgd(p: Float32Array, g: Float32Array, chunks: number, s: { lr: number; decay: number }): void {
    this.f64.set([s.lr, s.decay]);
    this.fns.sgd(p.byteOffset, g.byteOffset, chunks, this.scratch);
  }
}

/**
 * Adam's per-step scalars, each already rounded to float32 (Math.fround):
 * the update runs in float32, four lanes an instruction, and the JS
 * reference rounds after every operation to give the same bits.
 *
 * Why float32, when the reduce and SGD stay in float64: Adam's two
 * divisions and square root per weight bound it, and f32x4 does them for
 * four weights where f64x2 does two, at a lower latency. On the ANN's 235k
 * parameters it took 0.60 ms in f64x2 and takes ~0.2 ms in f32x4 — 5% of an
 * ANN step, all of it serial. PyTorch and TensorFlow.js run Adam in float32
 * too. Every other guarantee holds: each weight's update is one fixed
 * sequence of correctly rounded operations, whichever worker computed its
 * gradient.
 */
export interface AdamScalars {
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  /** lr / (1 - beta1^t) */
  step: number;
  /** sqrt(1 - beta2^t) */
  sqrtC2: number;
  epsilon: number;
  /** 1 - lr * weightDecay */
  decay: number;
}
