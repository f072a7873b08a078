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
 * element and one accumulate per dy element.
 */
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import { f32, type KernelArgs, type WasmBackend } from './util.js';

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
  const info = backend_util.computePool2DInfo(input.shape as [number, number, number, number],
    a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const fh = info.effectiveFilterHeight;
  const fw = info.effectiveFilterWidth;
  const { top, left } = info.padInfo;

  const dxT = backend.makeOutput([...input.shape], 'float32');
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
        if (k === 0) { gi += c; continue; }
        if (k === 4 && c > 0) {
          // The common 2x2 window, unrolled.
          const p0 = offs[0]!, p1 = offs[1]!, p2 = offs[2]!, p3 = offs[3]!;
          for (let ch = 0; ch < c; ch++) {
            let m = x[p0 + ch]!; let p = p0;
            const v1 = x[p1 + ch]!; if (v1 > m || (m !== m && v1 === v1)) { m = v1; p = p1; }
            const v2 = x[p2 + ch]!; if (v2 > m || (m !== m && v2 === v2)) { m = v2; p = p2; }
            const v3 = x[p3 + ch]!; if (v3 > m || (m !== m && v3 === v3)) { m = v3; p = p3; }
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
            if (v > best[ch]!) { best[ch] = v; bestPos[ch] = p; }
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
