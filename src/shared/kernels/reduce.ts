/**
 * Sum over leading axes for the wasm backend (bias gradients).
 *
 * The bias gradient of conv/dense layers is Sum(dy, axes [0..r-2]). Stock
 * 4.22 first transposes dy so the reduced axes are innermost (a full copy
 * of e.g. [128,26,26,32] = 2.8M floats) and then reduces rows: ~15 ms.
 * Reducing leading axes is a column sum: with SIMD (simd.ts) one pass of
 * f32x4 loads into f64x2 accumulators; without, blocks of 8 columns in JS
 * doubles (~3x slower). Doubles so the result matches the cpu backend, which
 * also sums in double. Other axis patterns and non-float dtypes go to stock.
 */
import { backend_util, util, type TensorInfo } from '@tensorflow/tfjs-core';
import { simdFor } from './simd.js';
import { f32, f32Offset, release, runStock, type KernelArgs, type WasmBackend } from './util.js';

export function sum(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackend;
  const x = args.inputs.x as TensorInfo;
  const attrs = args.attrs as { axis: number | number[]; keepDims: boolean };
  const rank = x.shape.length;
  const axes = util
    .parseAxisParam(attrs.axis, x.shape)
    .slice()
    .sort((p, q) => p - q);
  const leading = axes.length > 0 && axes.length < rank && axes.every((ax, i) => ax === i);
  if (x.dtype !== 'float32' || !leading) return runStock('Sum', backend, args.inputs, args.attrs);
  const k = axes.length;
  let rows = 1;
  for (let i = 0; i < k; i++) rows *= x.shape[i]!;
  const outShape = x.shape.slice(k);
  let cols = 1;
  for (const d of outShape) cols *= d;
  const out = backend.makeOutput(outShape, 'float32');
  const simd = simdFor(backend);
  if (simd !== undefined && cols % 4 === 0 && rows > 0) {
    // Scratch of 2*cols floats (+2 to align to 8 bytes) holds f64 accumulators.
    const scratch = backend.makeOutput([cols * 2 + 2], 'float32');
    const accBytes = Math.ceil((f32Offset(backend, scratch) * 4) / 8) * 8;
    const acc = new Float64Array(backend.wasm.HEAPF32.buffer, accBytes, cols);
    acc.fill(0);
    simd.colsum(f32Offset(backend, x) * 4, rows, cols / 4, accBytes);
    f32(backend, out).set(acc);
    release(backend, scratch);
  } else {
    f32(backend, out).set(columnSumsJs(f32(backend, x), rows, cols));
  }
  if (attrs.keepDims) out.shape = backend_util.expandShapeToKeepDim(outShape, axes);
  return out;
}

/**
 * Blocks of 8 columns summed down all rows in 8 local doubles: ~3x faster in
 * V8 than updating a Float64Array accumulator per element.
 */
function columnSumsJs(src: Float32Array, rows: number, cols: number): Float64Array {
  const acc = new Float64Array(cols);
  const total = rows * cols;
  let c0 = 0;
  for (; c0 + 8 <= cols; c0 += 8) {
    let a0 = 0,
      a1 = 0,
      a2 = 0,
      a3 = 0,
      a4 = 0,
      a5 = 0,
      a6 = 0,
      a7 = 0;
    for (let p = c0; p < total; p += cols) {
      a0 += src[p]!;
      a1 += src[p + 1]!;
      a2 += src[p + 2]!;
      a3 += src[p + 3]!;
      a4 += src[p + 4]!;
      a5 += src[p + 5]!;
      a6 += src[p + 6]!;
      a7 += src[p + 7]!;
    }
    acc[c0] = a0;
    acc[c0 + 1] = a1;
    acc[c0 + 2] = a2;
    acc[c0 + 3] = a3;
    acc[c0 + 4] = a4;
    acc[c0 + 5] = a5;
    acc[c0 + 6] = a6;
    acc[c0 + 7] = a7;
  }
  for (; c0 < cols; c0++) {
    let a = 0;
    for (let p = c0; p < total; p += cols) a += src[p]!;
    acc[c0] = a;
  }
  return acc;
}
