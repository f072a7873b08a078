/**
 * MaxPoolGrad for the wasm backend.
 *
 * Stock 4.22 re-runs the pooling with channels as the outermost loop (cache
 * hostile: ~60 ms for [128,26,26,32]) and seeds each window's max with the
 * smallest positive float, so windows whose max is <= 0 lose their gradient.
 *
 * Here: one pass in NHWC order with the channel loop innermost, so x, dy and
 * dx are all read/written sequentially. Each window's argmax is the FIRST
 * maximum in row-major window order (strict `>` from -Infinity), exactly as
 * the cpu backend's maxPoolPositions; a window of NaNs routes no gradient,
 * also as on cpu. Cost: one memset of dx plus one read of every window
 * element and one accumulate per dy element. With SIMD (simd.ts, channels a
 * multiple of 4) the same scan runs 4 channels per f32x4 op in wasm.
 */
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import { simdFor, type Simd } from './simd.js';
import { f32, f32Offset, release, type KernelArgs, type WasmBackend } from './util.js';

interface MaxPoolGradAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export function maxPoolGrad(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackend;
  const dy = args.inputs.dy as TensorInfo;
  const input = args.inputs.input as TensorInfo;
  const a = args.attrs as unknown as MaxPoolGradAttrs;
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    a.filterSize,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const fh = info.effectiveFilterHeight;
  const fw = info.effectiveFilterWidth;
  const { top, left } = info.padInfo;

  const dxT = backend.makeOutput([...input.shape], 'float32');
  const simd = simdFor(backend);
  if (simd !== undefined && c % 4 === 0) {
    simdMaxPoolGrad(simd, backend, info, input, dy, dxT);
    return dxT;
  }
  const x = f32(backend, input);
  const g = f32(backend, dy);
  const dx = f32(backend, dxT);
  dx.fill(0);

  // Scratch: the window's element offsets (relative to the image) and, per
  // channel, the running max and its offset.
  const offs = new Int32Array(fh * fw);
  const best = new Float32Array(c);
  const bestPos = new Int32Array(c);
  const img = h * w * c;
  let gi = 0;
  for (let b = 0; b < n; b++) {
    const ib = b * img;
    for (let y = 0; y < oh; y++) {
      const y0 = y * sh - top;
      const yLo = Math.max(0, y0);
      const yHi = Math.min(h, y0 + fh);
      for (let xo = 0; xo < ow; xo++) {
        const x0 = xo * sw - left;
        const xLo = Math.max(0, x0);
        const xHi = Math.min(w, x0 + fw);
        let k = 0;
        for (let yy = yLo; yy < yHi; yy++) {
          for (let xx = xLo; xx < xHi; xx++) offs[k++] = ib + (yy * w + xx) * c;
        }
        if (k === 0) {
          gi += c;
          continue;
        }
        if (k === 4 && c > 0) {
          // The common 2x2 window, unrolled.
          const p0 = offs[0]!,
            p1 = offs[1]!,
            p2 = offs[2]!,
            p3 = offs[3]!;
          for (let ch = 0; ch < c; ch++) {
            let m = x[p0 + ch]!;
            let p = p0;
            const v1 = x[p1 + ch]!;
            if (v1 > m || (m !== m && v1 === v1)) {
              m = v1;
              p = p1;
            }
            const v2 = x[p2 + ch]!;
            if (v2 > m || (m !== m && v2 === v2)) {
              m = v2;
              p = p2;
            }
            const v3 = x[p3 + ch]!;
            if (v3 > m || (m !== m && v3 === v3)) {
              m = v3;
              p = p3;
            }
            // NaNs are skipped and an all -Infinity window routes nothing,
            // as the strict `>` scan from -Infinity on cpu does.
            if (m > -Infinity) dx[p + ch]! += g[gi + ch]!;
          }
          gi += c;
          continue;
        }
        best.fill(-Infinity);
        bestPos.fill(-1);
        for (let j = 0; j < k; j++) {
          const p = offs[j]!;
          for (let ch = 0; ch < c; ch++) {
            const v = x[p + ch]!;
            if (v > best[ch]!) {
              best[ch] = v;
              bestPos[ch] = p;
            }
          }
        }
        for (let ch = 0; ch < c; ch++) {
          const p = bestPos[ch]!;
          if (p >= 0) dx[p + ch]! += g[gi + ch]!;
        }
        gi += c;
      }
    }
  }
  return dxT;
}

/**
 * SIMD path: one wasm call per output row for the windows that lie fully
 * inside the image (all of them for 'valid'), one call per clipped edge
 * window with its own offset table. 4 channels per f32x4 lane group.
 */
function simdMaxPoolGrad(
  simd: Simd,
  backend: WasmBackend,
  info: backend_util.Conv2DInfo,
  input: TensorInfo,
  dy: TensorInfo,
  dxT: TensorInfo,
): void {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const fh = info.effectiveFilterHeight;
  const fw = info.effectiveFilterWidth;
  const { top, left } = info.padInfo;
  // Offset tables: [0, fh*fw) for full windows, [fh*fw, 2*fh*fw) for clipped.
  const k = fh * fw;
  const table = backend.makeOutput([2 * k], 'int32');
  const tableBytes = f32Offset(backend, table) * 4;
  const tab = new Int32Array(backend.wasm.HEAPF32.buffer, tableBytes, 2 * k);
  // Non-overlapping windows: full windows store every element (dy or 0), so
  // dx needs zeroing only where no full window covers it.
  const tile = sh >= fh && sw >= fw;
  const exact = tile && top === 0 && left === 0 && oh * sh === h && ow * sw === w && sh === fh && sw === fw;
  if (!exact) f32(backend, dxT).fill(0);
  const row = tile ? simd.maxPoolTile : simd.maxPoolRow;
  const xBytes = f32Offset(backend, input) * 4;
  const dxDelta = f32Offset(backend, dxT) * 4 - xBytes;
  const gBytes = f32Offset(backend, dy) * 4;
  const cb = c * 4;
  for (let yy = 0, j = 0; yy < fh; yy++) for (let xx = 0; xx < fw; xx++) tab[j++] = (yy * w + xx) * cb;
  // Output columns whose window is fully inside horizontally.
  const xaFull = Math.max(0, Math.ceil(left / sw));
  const xbFull = Math.min(ow, Math.floor((w - fw + left) / sw) + 1);
  let gp = gBytes;
  for (let b = 0; b < n; b++) {
    const ib = xBytes + b * h * w * cb;
    for (let y = 0; y < oh; y++, gp += ow * cb) {
      const y0 = y * sh - top;
      const rowFull = y0 >= 0 && y0 + fh <= h;
      const xa = rowFull ? xaFull : 0;
      const xb = rowFull ? Math.max(xaFull, xbFull) : 0;
      if (xb > xa) {
        row(ib + (y0 * w + xa * sw - left) * cb, dxDelta, gp + xa * cb, tableBytes, k, cb, xb - xa, sw * cb);
      }
      for (let xo = 0; xo < ow; xo++) {
        if (xo === xa && xb > xa) {
          xo = xb - 1;
          continue;
        }
        const yLo = Math.max(0, y0),
          yHi = Math.min(h, y0 + fh);
        const x0 = xo * sw - left;
        const xLo = Math.max(0, x0),
          xHi = Math.min(w, x0 + fw);
        let kk = 0;
        for (let yy = yLo; yy < yHi; yy++) {
          for (let xx = xLo; xx < xHi; xx++) tab[k + kk++] = ((yy - yLo) * w + (xx - xLo)) * cb;
        }
        if (kk === 0) continue;
        simd.maxPoolRow(ib + (yLo * w + xLo) * cb, dxDelta, gp + xo * cb, tableBytes + k * 4, kk, cb, 1, 0);
      }
    }
  }
  release(backend, table);
}
