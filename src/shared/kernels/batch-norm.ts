/**
 * FusedBatchNorm for the wasm backend: batch normalisation with given
 * statistics, as inference runs it (`tf.batchNorm`; tfjs-layers'
 * BatchNormalization in `predict`). Training normalises with the batch's own
 * statistics elsewhere (worker/batchNorm.ts) and never reaches this kernel.
 *
 * Why: the stock kernel is a scalar C++ loop that indexes every parameter
 * modulo its size, ~4 ns per element: a third of an evaluation of the
 * batch-norm CNN. Here it is one SIMD pass,
 * out = (x - mean) * (scale / sqrt(variance + epsilon)) + offset, with the
 * per-channel factor computed once in doubles and stored as float32, and the
 * pass rounded to float32 after each operation (within 1e-4 of the cpu
 * backend, which rounds once per element; tested). 500 test images through
 * configs/cnn-fast.yaml's network: 158-201 ms with the stock kernel, 98-146
 * ms with this one (three interleaved pairs). The plain-JS path
 * (PIXELSENSE_NO_SIMD=1, or channels not a multiple of 4) rounds the same
 * way, so both give the same bits. Trainer evaluations and `pixelsense eval`
 * of the saved Layers model both come here, so they keep agreeing exactly.
 *
 * Parameters must hold one value per channel (the last axis), as the stock
 * kernel reads them; anything else, and non-float32 input, goes to stock.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { simdFor } from './simd.js';
import { f32, f32Offset, release, runStock, size, type KernelArgs, type WasmBackend } from './util.js';

export function fusedBatchNorm(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackend;
  const inputs = args.inputs as Record<'x' | 'mean' | 'variance' | 'offset' | 'scale', TensorInfo | undefined>;
  const { x, mean, variance, offset, scale } = inputs;
  const epsilon = (args.attrs as { varianceEpsilon: number }).varianceEpsilon;
  if (x === undefined || mean === undefined || variance === undefined) return runStock('FusedBatchNorm', backend, args.inputs, args.attrs);
  const channels = x.shape.at(-1) ?? 0;
  const n = size(x.shape);
  const perChannel = (t: TensorInfo | undefined): boolean => t === undefined || (t.dtype === 'float32' && size(t.shape) === channels);
  if (x.dtype !== 'float32' || channels === 0 || n === 0 || ![mean, variance, offset, scale].every(perChannel)) {
    return runStock('FusedBatchNorm', backend, args.inputs, args.attrs);
  }
  const out = backend.makeOutput([...x.shape], 'float32');
  // [sub | mul | add], one value per channel each, on the heap for the SIMD pass.
  const coefficients = backend.makeOutput([3 * channels], 'float32');
  const k = f32(backend, coefficients);
  const meanV = f32(backend, mean);
  const varianceV = f32(backend, variance);
  const scaleV = scale === undefined ? undefined : f32(backend, scale);
  const offsetV = offset === undefined ? undefined : f32(backend, offset);
  for (let c = 0; c < channels; c++) {
    k[c] = meanV[c] as number;
    k[channels + c] = (scaleV === undefined ? 1 : (scaleV[c] as number)) / Math.sqrt((varianceV[c] as number) + epsilon);
    k[2 * channels + c] = offsetV === undefined ? 0 : (offsetV[c] as number);
  }
  const simd = simdFor(backend);
  if (simd !== undefined && channels % 4 === 0) {
    const pk = f32Offset(backend, coefficients) * 4;
    simd.affineRow(
      f32Offset(backend, x) * 4,
      pk,
      pk + 4 * channels,
      pk + 8 * channels,
      f32Offset(backend, out) * 4,
      n / channels,
      channels / 4,
    );
  } else {
    // No allocation since `k` was taken, so it is still a valid view.
    const xv = f32(backend, x);
    const ov = f32(backend, out);
    const fr = Math.fround;
    for (let i = 0, c = 0; i < n; i++) {
      // Rounded to float32 after the subtraction, the product and (by the store) the sum, as the f32x4 pass.
      ov[i] = fr(fr((xv[i] as number) - (k[c] as number)) * (k[channels + c] as number)) + (k[2 * channels + c] as number);
      if (++c === channels) c = 0;
    }
  }
  release(backend, coefficients);
  return out;
}
