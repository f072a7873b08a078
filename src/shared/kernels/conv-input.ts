/**
 * Conv2DBackpropInput for the wasm backend (stock 4.22 is a 7-deep scalar
 * loop, ~190-240 ms for the CNN's second conv at batch 128).
 *
 * Two routes, both on XNNPACK (see `inputGrad` for the choice):
 *  - `inputGradCol2im` (Ci a multiple of 4, SIMD available): one GEMM
 *    dy[N*OH*OW, Co] x W^T[Co, KH*KW*Ci] gives every position's patch
 *    gradient, then a SIMD col2im adds each patch into dx. Same 2*M*K*Co
 *    flops as the forward conv, no work on padding zeros.
 *  - `inputGradConv`: a forward Conv2D of dy (zero-upsampled when strided)
 *    with the spatially flipped filter, channels swapped, padded so the output
 *    is exactly [N,H,W,Ci]. Wastes the taps that land on the padding (~40%
 *    more flops for 3x3 'valid' on 11x11) but needs no SIMD.
 * NCHW and negative effective pads fall back to the stock kernel.
 */
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import { simdFor } from './simd.js';
import { f32, f32Offset, release, runStock, type ConvBackpropAttrs, type KernelArgs, type WasmBackend } from './util.js';

interface InputGradAttrs extends ConvBackpropAttrs {
  inputShape: [number, number, number, number];
}

function inputGradInfo(filter: TensorInfo, a: InputGradAttrs): backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(
    a.inputShape,
    filter.shape as [number, number, number, number],
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
}

/**
 * Stride 1: the flipped-filter conv (measured equal to col2im for the CNN's
 * conv2, 24 vs 24 ms: the K=Co GEMM runs slower than the conv's K=9*Co one).
 * Strided: col2im, since the conv route would convolve a zero-upsampled dy
 * (stride^2 times the flops).
 */
export function inputGrad(args: KernelArgs): TensorInfo {
  const a = args.attrs as unknown as InputGradAttrs;
  const filter = args.inputs.filter as TensorInfo;
  const strided = typeof a.strides === 'number' ? a.strides > 1 : a.strides.some((v) => v > 1);
  if (strided && a.dataFormat !== 'NCHW' && (filter.shape[2] ?? 0) % 4 === 0 && simdFor(args.backend) !== undefined) {
    return inputGradCol2im(args);
  }
  return inputGradConv(args);
}

/** GEMM of dy with the filter, then SIMD col2im into dx. */
export function inputGradCol2im(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackend;
  const dy = args.inputs.dy as TensorInfo;
  const filter = args.inputs.filter as TensorInfo;
  const info = inputGradInfo(filter, args.attrs as unknown as InputGradAttrs);
  const simd = simdFor(backend);
  if (simd === undefined) return inputGradConv(args);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co } = info;
  const { outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const taps = kh * kw;
  const k = taps * ci;
  const m = n * oh * ow;
  // W^T [Co, K]: wt[o][t*Ci + i] = filter[t][i][o].
  const wt = backend.makeOutput([co, k], 'float32');
  {
    const fin = f32(backend, filter);
    const fout = f32(backend, wt);
    for (let o = 0; o < co; o++) for (let j = 0; j < k; j++) fout[o * k + j] = fin[j * co + o]!;
  }
  const cols = runStock(
    'BatchMatMul',
    backend,
    { a: { dataId: dy.dataId, shape: [1, m, co], dtype: 'float32' }, b: { dataId: wt.dataId, shape: [1, co, k], dtype: 'float32' } },
    { transposeA: false, transposeB: false },
  );
  release(backend, wt);
  const dx = backend.makeOutput([n, h, w, ci], 'float32');
  const table = backend.makeOutput([taps], 'int32');
  const cb = ci * 4;
  const tableB = f32Offset(backend, table) * 4;
  const tab = new Int32Array(backend.wasm.HEAPF32.buffer, tableB, taps);
  for (let fy = 0, t = 0; fy < kh; fy++) for (let fx = 0; fx < kw; fx++) tab[t++] = (fy * w + fx) * cb;
  const dxv = f32(backend, dx);
  dxv.fill(0);
  const colv = f32(backend, cols);
  const dxB = f32Offset(backend, dx) * 4;
  const colsB = f32Offset(backend, cols) * 4;
  // Positions whose taps are all inside the image (all of them for 'valid').
  const xa = Math.min(ow, Math.max(0, Math.ceil(left / sw)));
  const xb = Math.max(xa, Math.min(ow, Math.floor((w - kw + left) / sw) + 1));
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      const y0 = y * sh - top;
      const mRow = (b * oh + y) * ow;
      const rowFull = y0 >= 0 && y0 + kh <= h;
      if (rowFull && xb > xa) {
        simd.col2imRow(colsB + (mRow + xa) * k * 4, dxB + ((b * h + y0) * w + xa * sw - left) * cb, tableB, taps, cb, xb - xa, sw * cb);
      }
      for (let x = 0; x < ow; x++) {
        if (rowFull && x >= xa && x < xb) continue;
        // Clipped position: add only the taps inside the image.
        const x0 = x * sw - left;
        let c = (mRow + x) * k;
        for (let fy = 0; fy < kh; fy++) {
          const iy = y0 + fy;
          for (let fx = 0; fx < kw; fx++, c += ci) {
            const ix = x0 + fx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            const d = ((b * h + iy) * w + ix) * ci;
            for (let i = 0; i < ci; i++) dxv[d + i]! += colv[c + i]!;
          }
        }
      }
    }
  }
  release(backend, cols, table);
  return dx;
}

/** Conv2DBackpropInput as a forward XNNPACK conv with the flipped filter. */
export function inputGradConv(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackend;
  const dy = args.inputs.dy as TensorInfo;
  const filter = args.inputs.filter as TensorInfo;
  const a = args.attrs as unknown as InputGradAttrs;
  if (a.dataFormat === 'NCHW') return runStock('Conv2DBackpropInput', backend, args.inputs, args.attrs);
  const info = inputGradInfo(filter, a);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co } = info;
  const { outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const hUp = (oh - 1) * sh + 1;
  const wUp = (ow - 1) * sw + 1;
  const pt = kh - 1 - top;
  const pl = kw - 1 - left;
  const pb = h - hUp + top;
  const pr = w - wUp + left;
  if (pt < 0 || pl < 0 || pb < 0 || pr < 0) {
    return runStock('Conv2DBackpropInput', backend, args.inputs, args.attrs);
  }
  // Flipped filter, [KH,KW,Co,Ci]: wf[y,x,o,i] = filter[KH-1-y, KW-1-x, i, o].
  const wf = backend.makeOutput([kh, kw, co, ci], 'float32');
  let src: TensorInfo = dy;
  if (sh > 1 || sw > 1) src = backend.makeOutput([n, hUp, wUp, co], 'float32');
  {
    const fin = f32(backend, filter);
    const fout = f32(backend, wf);
    let d = 0;
    for (let y = 0; y < kh; y++) {
      for (let x = 0; x < kw; x++) {
        const sbase = ((kh - 1 - y) * kw + (kw - 1 - x)) * ci * co;
        for (let o = 0; o < co; o++) {
          for (let i = 0; i < ci; i++) fout[d++] = fin[sbase + i * co + o]!;
        }
      }
    }
    if (src !== dy) {
      // Zero-upsample dy so a stride-1 conv sees the strided geometry.
      const up = f32(backend, src);
      const dv = f32(backend, dy);
      up.fill(0);
      let s = 0;
      for (let b = 0; b < n; b++) {
        for (let y = 0; y < oh; y++) {
          for (let x = 0; x < ow; x++) {
            const ub = ((b * hUp + y * sh) * wUp + x * sw) * co;
            for (let o = 0; o < co; o++) up[ub + o] = dv[s++]!;
          }
        }
      }
    }
  }
  const out = runStock(
    'Conv2D',
    backend,
    { x: src, filter: wf },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [pt, pb],
        [pl, pr],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [1, 1],
      dimRoundingMode: undefined as never,
    },
  );
  release(backend, wf);
  if (src !== dy) release(backend, src);
  out.shape = [n, h, w, ci];
  return out;
}
