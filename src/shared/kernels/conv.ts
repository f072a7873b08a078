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
 * Conv2DBackpropInput lives in conv-input.ts.
 */
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import { simdFor, type Simd } from './simd.js';
import { f32, f32Offset, release, runStock, size, type ConvBackpropAttrs, type KernelArgs, type WasmBackend } from './util.js';

interface FilterGradAttrs extends ConvBackpropAttrs {
  filterShape: [number, number, number, number];
}

function filterGradInfo(x: TensorInfo, a: FilterGradAttrs): backend_util.Conv2DInfo {
  if (a.dataFormat === 'NCHW') {
    throw new Error("wasm backend Conv2DBackpropFilter does not support dataFormat:'NCHW'");
  }
  return backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    a.filterShape,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
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
  let conv = runStock(
    'Conv2D',
    backend,
    { x: xT, filter: dyT },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [top, Math.max(bottom, 0)],
        [left, Math.max(right, 0)],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [sh, sw],
      dimRoundingMode: undefined as never,
    },
  );
  release(backend, xT, dyT);
  if (bottom < 0 || right < 0) {
    const sliced = runStock(
      'Slice',
      backend,
      { x: conv },
      {
        begin: [0, 0, 0, 0],
        size: [info.inChannels, kh, kw, info.outChannels],
      },
    );
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
const CHUNK_M = 2048;

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
  if (simd !== undefined && k <= SMALL_K && co % 4 === 0) {
    const cols = withSlack(backend, [k, m]);
    buildColsT(backend, simd, xp, cols, info, 0, n);
    if (xp !== x) release(backend, xp);
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
  // GEMM per group of images (~CHUNK_M positions): bounds the patch-matrix
  // scratch (K*CHUNK_M floats, 2.4 MB for conv2 instead of 18 MB at batch
  // 128) and sums the groups in doubles. Measured speed-neutral against one
  // big GEMM (28-30 ms either way for conv2 at batch 128).
  const per = oh * ow;
  const nb = Math.max(1, Math.min(n, Math.floor(CHUNK_M / per)));
  let out: TensorInfo | undefined;
  let total: Float64Array | undefined;
  for (let b0 = 0; b0 < n; b0 += nb) {
    const nbb = Math.min(nb, n - b0);
    const mc = nbb * per;
    const cols = withSlack(backend, [k, mc]);
    let dyc = dy;
    if (nbb < n) {
      dyc = backend.makeOutput([mc, co], 'float32');
      f32(backend, dyc).set(f32(backend, dy).subarray(b0 * per * co, (b0 * per + mc) * co));
    }
    buildColsT(backend, simd, xp, cols, info, b0, nbb);
    // [K, Mc] x [Mc, Co] -> [K, Co] == [KH, KW, Ci, Co] in row-major order.
    const part = runStock(
      'BatchMatMul',
      backend,
      { a: { dataId: cols.dataId, shape: [1, k, mc], dtype: 'float32' }, b: { dataId: dyc.dataId, shape: [1, mc, co], dtype: 'float32' } },
      { transposeA: false, transposeB: false },
    );
    release(backend, cols);
    if (dyc !== dy) release(backend, dyc);
    if (nbb === n) {
      out = part;
      break;
    }
    const pv = f32(backend, part);
    if (total === undefined) total = new Float64Array(k * co);
    for (let i = 0; i < pv.length; i++) total[i]! += pv[i]!;
    release(backend, part);
  }
  if (xp !== x) release(backend, xp);
  if (out === undefined) {
    out = backend.makeOutput([kh, kw, ci, co], 'float32');
    f32(backend, out).set(total ?? new Float64Array(k * co));
  }
  out.shape = [kh, kw, ci, co];
  return out;
}

/**
 * A float32 tensor of `shape` with 4 floats of slack after it (for
 * copyRunsOver), described by `shape`: allocated as [size + 4], and disposed
 * through its data id like any other.
 */
function withSlack(backend: WasmBackend, shape: number[]): TensorInfo {
  const t = backend.makeOutput([size(shape) + 4], 'float32');
  return { dataId: t.dataId, shape, dtype: 'float32' };
}

/**
 * cols^T[(fy,fx,c), (b,y,x)] = xPlanar[c, b, y*sh+fy-top, x*sw+fx-left] (0
 * outside the image). A (fy,fx) block whose taps all fall inside the image
 * is copied by the SIMD `copyRuns` (one call per channel); blocks touching
 * the padding, and everything when SIMD is unavailable, go through JS.
 */
function buildColsT(
  backend: WasmBackend,
  simd: Simd | undefined,
  xp: TensorInfo,
  cols: TensorInfo,
  info: backend_util.Conv2DInfo,
  b0: number,
  nb: number,
): void {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci } = info;
  const { outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const m = nb * oh * ow;
  const plane = n * h * w;
  const srcB = f32Offset(backend, xp) * 4;
  // copyRunsOver reads up to 3 floats past a run: only when xp has them.
  const srcEnd = srcB + size(xp.shape) * 4;
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
          const from = srcB + (c * plane + b0 * h * w + iy0 * w + ix0) * 4;
          if (sw === 1 && srcEnd - from >= (nb * h * w + 4) * 4) {
            simd.copyRunsOver(dstB + d0 * 4, from, nb, h * w * 4, oh, sh * w * 4, ow);
          } else {
            simd.copyRuns(dstB + d0 * 4, from, nb, h * w * 4, oh, sh * w * 4, ow, sw * 4);
          }
          continue;
        }
        // Output columns whose input column lies inside the image.
        const owLo = Math.min(ow, Math.max(0, Math.ceil(-ix0 / sw)));
        const owHi = Math.max(owLo, Math.min(ow, Math.floor((w - 1 - ix0) / sw) + 1));
        let d = d0;
        for (let b = b0; b < b0 + nb; b++) {
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
