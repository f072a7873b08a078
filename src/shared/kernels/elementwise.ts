/**
 * Element-wise kernels for the wasm backend: copy-free Identity and
 * same-dtype Cast, and SIMD Add/Sub/Multiply/Step/Relu for float32.
 *
 * tfjs-core clones every tensor it saves for the backward pass (Relu's x,
 * MaxPool's x and y, Conv2D's x, ...) with the Identity kernel, and the relu
 * gradient is mul(dy, cast(step(x), 'float32')). Stock wasm Identity and Cast
 * copy the whole buffer (~1.5 ms per [128,26,26,32]). Tensor data is never
 * mutated in place on this backend (Reshape already shares buffers the same
 * way), so both can share the input's buffer by bumping its refCount, as the
 * cpu backend's Identity does. Cost: O(1). Strings and real casts go to stock.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { simdFor } from './simd.js';
import { f32, f32Offset, runStock, size, type KernelArgs, type WasmBackend } from './util.js';

interface RefCounting {
  incRef(dataId: object): void;
}

export function identity(args: KernelArgs): TensorInfo {
  const x = args.inputs.x as TensorInfo;
  if (x.dtype === 'string') return runStock('Identity', args.backend, args.inputs, args.attrs);
  (args.backend as RefCounting).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

export function cast(args: KernelArgs): TensorInfo {
  const x = args.inputs.x as TensorInfo;
  const dtype = (args.attrs as { dtype: string }).dtype;
  if (x.dtype !== dtype || dtype === 'string' || dtype === 'complex64') {
    return runStock('Cast', args.backend, args.inputs, args.attrs);
  }
  (args.backend as RefCounting).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

type BinOp = 'Add' | 'Sub' | 'Multiply';
const SIMD_NAMES = {
  Add: ['addSame', 'addRow'],
  Sub: ['subSame', 'subRow'],
  Multiply: ['mulSame', 'mulRow'],
} as const;
const JS_OPS: Record<BinOp, (p: number, q: number) => number> = {
  Add: (p, q) => p + q,
  Sub: (p, q) => p - q,
  Multiply: (p, q) => p * q,
};

/**
 * Float32 Add/Sub/Multiply for the two shapes training produces in bulk:
 * same shape (relu gradient, dropout mask, SGD update) and a row broadcast
 * [..., C] op [C] (bias add). One SIMD pass (~3x faster than stock's
 * broadcasting loops, which are ~1 ns/element). Everything else is stock.
 */
export function binaryKernel(op: BinOp): (args: KernelArgs) => TensorInfo {
  const [sameName, rowName] = SIMD_NAMES[op];
  const jsOp = JS_OPS[op];
  return (args) => {
    const backend = args.backend as WasmBackend;
    let a = args.inputs.a as TensorInfo;
    let b = args.inputs.b as TensorInfo;
    const simd = simdFor(backend);
    if (simd === undefined || a.dtype !== 'float32' || b.dtype !== 'float32') {
      return runStock(op, backend, args.inputs, args.attrs);
    }
    const na = size(a.shape);
    const nb = size(b.shape);
    const same = na === nb && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
    if (!same && op !== 'Sub' && nb > na) [a, b] = [b, a];
    const cols = size(b.shape);
    const rowBcast = !same && cols > 0 && cols % 4 === 0 && isTrailing(b.shape, a.shape);
    if (!same && !rowBcast) return runStock(op, backend, args.inputs, args.attrs);
    const out = backend.makeOutput([...a.shape], 'float32');
    const pa = f32Offset(backend, a) * 4;
    const pb = f32Offset(backend, b) * 4;
    const po = f32Offset(backend, out) * 4;
    const n = size(a.shape);
    if (same) {
      simd[sameName](pa, pb, po, n >>> 2);
      const tail = n & 3;
      if (tail > 0) {
        const av = f32(backend, a),
          bv = f32(backend, b),
          ov = f32(backend, out);
        for (let i = n - tail; i < n; i++) ov[i] = jsOp(av[i]!, bv[i]!);
      }
    } else {
      simd[rowName](pa, pb, po, n / cols, cols / 4);
    }
    return out;
  };
}

/** Whether `small` (leading 1s ignored) equals the trailing dims of `big`. */
function isTrailing(small: readonly number[], big: readonly number[]): boolean {
  if (small.length > big.length) return false;
  const first = small.findIndex((d) => d !== 1);
  const s = first < 0 ? [] : small.slice(first);
  const off = big.length - s.length;
  return s.every((d, i) => d === big[off + i]);
}

/** Step (x > 0 ? 1 : alpha, NaN kept) in one SIMD pass; stock for non-float. */
export function stepKernel(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackend;
  const x = args.inputs.x as TensorInfo;
  const alpha = (args.attrs as { alpha: number }).alpha;
  const simd = simdFor(backend);
  if (simd === undefined || x.dtype !== 'float32') return runStock('Step', backend, args.inputs, args.attrs);
  const out = backend.makeOutput([...x.shape], 'float32');
  const n = size(x.shape);
  simd.step(f32Offset(backend, x) * 4, f32Offset(backend, out) * 4, n >>> 2, new Int32Array(new Float32Array([alpha]).buffer)[0]!);
  const xv = f32(backend, x),
    ov = f32(backend, out);
  for (let i = n - (n & 3); i < n; i++) {
    const v = xv[i]!;
    ov[i] = v !== v ? v : v > 0 ? 1 : alpha;
  }
  return out;
}

/** Relu (x < 0 ? 0 : x, NaN kept) in one SIMD pass; stock for non-float. */
export function reluKernel(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackend;
  const x = args.inputs.x as TensorInfo;
  const simd = simdFor(backend);
  if (simd === undefined || x.dtype !== 'float32') return runStock('Relu', backend, args.inputs, args.attrs);
  const out = backend.makeOutput([...x.shape], 'float32');
  const n = size(x.shape);
  simd.relu(f32Offset(backend, x) * 4, f32Offset(backend, out) * 4, n >>> 2);
  const xv = f32(backend, x),
    ov = f32(backend, out);
  for (let i = n - (n & 3); i < n; i++) ov[i] = xv[i]! < 0 ? 0 : xv[i]!;
  return out;
}
