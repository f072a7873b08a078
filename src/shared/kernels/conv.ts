/**
 * Backward convolutions for the wasm backend.
 *
 * Conv2DBackpropFilter (stock 4.22 has none, so the CNN cannot train):
 *  - `filterGradIm2col` (fast): builds the transposed patch matrix
 *    cols[KH*KW*Ci, N*OH*OW] from a channel-planar copy of x (SIMD copies,
 *    JS where taps touch padding), then either one XNNPACK product
 *    cols x dy[N*OH*OW, Co] = [KH*KW*Ci, Co] (already the filter layout), or
 *    for few patch rows (conv1, Ci = 1) a SIMD outer-product accumulation.
 *    Costs one x transpose, KH*KW*Ci*N*OH*OW float copies and the product.
 *    Handles every stride, padding and rounding.
 *  - `filterGradComposed` (stock mode / fallback): the filter gradient as a
 *    forward Conv2D with batch and channels swapped: conv2d(x^[Ci,H,W,N],
 *    dy^[OH,OW,N,Co], dilation=stride) -> [Ci,KH,KW,Co] -> transpose. Only
 *    stock kernels, so `--stock-kernels` measures stock speed.
 *
 * Conv2DBackpropInput (stock is a 7-deep scalar loop): dx is a forward
 * XNNPACK Conv2D of dy (zero-upsampled when strided) with the spatially
 * flipped filter with in/out channels swapped, padded so the output is
 * exactly [N,H,W,Ci]. Falls back to stock for NCHW or negative pads.
 */
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import { simdFor, type Simd } from './simd.js';
import { f32, f32Offset, release, runStock, type KernelArgs, type WasmBackend } from './util.js';

type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;

interface FilterGradAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

interface InputGradAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

function filterGradInfo(x: TensorInfo, a: FilterGradAttrs): backend_util.Conv2DInfo {
  if (a.dataFormat === 'NCHW') {
    throw new Error("wasm backend Conv2DBackpropFilter does not support dataFormat:'NCHW'");
  }
  return backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad,
    a.dimRoundingMode, false, 'channelsLast');
}

/** Composed route: forward Conv2D over swapped operands (stock kernels only). */
export function filterGradComposed(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackend;
  const x = args.inputs.x as TensorInfo;
  const dy = args.inputs.dy as TensorInfo;
  const info = filterGradInfo(x, args.attrs as unknown as FilterGradAttrs);
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = info;
  const { top, left } = info.padInfo;
  // Bottom/right pads that make the swapped conv produce exactly KH x KW.
  // Negative means trailing input rows are never read: pad 0, slice after.
  const bottom = kh + (oh - 1) * sh - h - top;
  const right = kw + (ow - 1) * sw - w - left;
  const xT = runStock('Transpose', backend, { x }, { perm: [3, 1, 2, 0] });
  const dyT = runStock('Transpose', backend, { x: dy }, { perm: [1, 2, 0, 3] });
  let conv = runStock('Conv2D', backend, { x: xT, filter: dyT }, {
    strides: [1, 1],
    pad: [[0, 0], [top, Math.max(bottom, 0)], [left, Math.max(right, 0)], [0, 0]],
    dataFormat: 'NHWC',
    dilations: [sh, sw],
    dimRoundingMode: undefined as never,
  });
  release(backend, xT, dyT);
  if (bottom < 0 || right < 0) {
    const sliced = runStock('Slice', backend, { x: conv }, {
      begin: [0, 0, 0, 0], size: [info.inChannels, kh, kw, info.outChannels],
    });
    release(backend, conv);
    conv = sliced;
  }
  const out = runStock('Transpose', backend, { x: conv }, { perm: [1, 2, 0, 3] });
  release(backend, conv);
  return out;
}

/**
 * Fast route. K = KH*KW*Ci patch rows, M = N*OH*OW output positions.
 *  - K <= SMALL_K with SIMD (conv1: K = 9): dW[K,Co] accumulated directly by
 *    the wasm outer-product loop over cols^T and dy, in blocks of BLOCK_M
 *    positions summed in doubles. Avoids XNNPACK packing dy as a [M,Co]
 *    weight matrix, which costs ~9 ms for [86528,32] (more than the GEMM).
 *  - otherwise: one XNNPACK product cols^T[K,M] x dy[M,Co] = [K,Co], which is
 *    already the [KH,KW,Ci,Co] layout.
 */
const SMALL_K = 32;
const BLOCK_M = 512;

export function filterGradIm2col(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackend;
  const x = args.inputs.x as TensorInfo;
  const dy = args.inputs.dy as TensorInfo;
  const info = filterGradInfo(x, args.attrs as unknown as FilterGradAttrs);
  const { batchSize: n, inChannels: ci, outChannels: co } = info;
  const { outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = info;
  const m = n * oh * ow;
  const k = kh * kw * ci;
  const simd = simdFor(backend);
  // Channel-planar x ([Ci,N,H,W]) makes every im2col row a strided copy from
  // one plane; with Ci = 1 the transpose is a no-op copy we skip.
  const xp = ci === 1 ? x : runStock('Transpose', backend, { x }, { perm: [3, 0, 1, 2] });
  const cols = backend.makeOutput([k, m], 'float32');
  buildColsT(backend, simd, xp, cols, info);
  if (xp !== x) release(backend, xp);
  if (simd !== undefined && k <= SMALL_K && co % 4 === 0) {
    const out = backend.makeOutput([kh, kw, ci, co], 'float32');
    const acc = backend.makeOutput([k * co], 'float32');
    const colsB = f32Offset(backend, cols) * 4;
    const dyB = f32Offset(backend, dy) * 4;
    const accB = f32Offset(backend, acc) * 4;
    const accV = f32(backend, acc);
    const total = new Float64Array(k * co);
    for (let m0 = 0; m0 < m; m0 += BLOCK_M) {
      accV.fill(0);
      simd.outerAcc(colsB + m0 * 4, dyB + m0 * co * 4, accB, Math.min(BLOCK_M, m - m0), k, co * 4, m * 4);
      for (let i = 0; i < total.length; i++) total[i]! += accV[i]!;
    }
    f32(backend, out).set(total);
    release(backend, cols, acc);
    return out;
  }
  // [K, M] x [M, Co] -> [K, Co] == [KH, KW, Ci, Co] in row-major order.
  const dy3 = { dataId: dy.dataId, shape: [1, m, co], dtype: dy.dtype };
  const out = runStock('BatchMatMul', backend,
    { a: { dataId: cols.dataId, shape: [1, k, m], dtype: 'float32' }, b: dy3 },
    { transposeA: false, transposeB: false });
  release(backend, cols);
  out.shape = [kh, kw, ci, co];
  return out;
}

/**
 * cols^T[(fy,fx,c), (b,y,x)] = xPlanar[c, b, y*sh+fy-top, x*sw+fx-left] (0
 * outside the image). A (fy,fx) block whose taps all fall inside the image
 * is copied by the SIMD `copyRuns` (one call per channel); blocks touching
 * the padding, and everything when SIMD is unavailable, go through JS.
 */
function buildColsT(backend: WasmBackend, simd: Simd | undefined, xp: TensorInfo, cols: TensorInfo,
  info: backend_util.Conv2DInfo): void {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci } = info;
  const { outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const m = n * oh * ow;
  const plane = n * h * w;
  const srcB = f32Offset(backend, xp) * 4;
  const dstB = f32Offset(backend, cols) * 4;
  const src = f32(backend, xp);
  const dst = f32(backend, cols);
  for (let fy = 0; fy < kh; fy++) {
    for (let fx = 0; fx < kw; fx++) {
      const iy0 = fy - top;
      const ix0 = fx - left;
      const inside = iy0 >= 0 && (oh - 1) * sh + iy0 < h && ix0 >= 0 && (ow - 1) * sw + ix0 < w;
      for (let c = 0; c < ci; c++) {
        const d0 = ((fy * kw + fx) * ci + c) * m;
        if (simd !== undefined && inside) {
          simd.copyRuns(dstB + d0 * 4, srcB + (c * plane + iy0 * w + ix0) * 4,
            n, h * w * 4, oh, sh * w * 4, ow, sw * 4);
          continue;
        }
        // Output columns whose input column lies inside the image.
        const owLo = Math.min(ow, Math.max(0, Math.ceil(-ix0 / sw)));
        const owHi = Math.max(owLo, Math.min(ow, Math.floor((w - 1 - ix0) / sw) + 1));
        let d = d0;
        for (let b = 0; b < n; b++) {
          const bbase = c * plane + b * h * w;
          for (let y = 0; y < oh; y++) {
            const iy = y * sh + iy0;
            if (iy < 0 || iy >= h) {
              dst.fill(0, d, d + ow);
              d += ow;
              continue;
            }
            const rbase = bbase + iy * w + ix0;
            let o = 0;
            for (; o < owLo; o++) dst[d++] = 0;
            for (; o < owHi; o++) dst[d++] = src[rbase + o * sw]!;
            for (; o < ow; o++) dst[d++] = 0;
          }
        }
      }
    }
  }
}

/** Conv2DBackpropInput as a forward XNNPACK conv with the flipped filter. */
export function inputGradConv(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackend;
  const dy = args.inputs.dy as TensorInfo;
  const filter = args.inputs.filter as TensorInfo;
  const a = args.attrs as unknown as InputGradAttrs;
  if (a.dataFormat === 'NCHW') return runStock('Conv2DBackpropInput', backend, args.inputs, args.attrs);
  const info = backend_util.computeConv2DInfo(a.inputShape, filter.shape as [number, number, number, number],
    a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
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
  const out = runStock('Conv2D', backend, { x: src, filter: wf }, {
    strides: [1, 1],
    pad: [[0, 0], [pt, pb], [pl, pr], [0, 0]],
    dataFormat: 'NHWC',
    dilations: [1, 1],
    dimRoundingMode: undefined as never,
  });
  release(backend, wf);
  if (src !== dy) release(backend, src);
  out.shape = [n, h, w, ci];
  return out;
}
