/**
 * BatchMatMul with transposes for the wasm backend.
 *
 * Stock 4.22 only uses XNNPACK when neither operand is transposed; with
 * transposeA or transposeB it drops to a scalar triple loop (~25 ms for the
 * [784x128]x[128x256] weight gradient vs 1.7 ms untransposed). Every dense
 * layer's backward pass needs one of each, so here a transposed operand is
 * first materialised with the (C++) Transpose kernel, then the product runs
 * through the stock XNNPACK path. Cost: one copy of the transposed operand
 * (and XNNPACK re-packs it as weights when it is `b`). For a 2-D a*b^T with
 * a much smaller than b (dx = dy W^T of a wide layer, small batch) the
 * product is computed as (b a^T)^T, which moves far fewer floats.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { release, runStock, type KernelArgs, type WasmBackend } from './util.js';

function swapLast(t: TensorInfo, backend: WasmBackend): TensorInfo {
  const r = t.shape.length;
  const perm = t.shape.map((_, i) => i);
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return runStock('Transpose', backend, { x: t }, { perm });
}

export function batchMatMul(args: KernelArgs): TensorInfo {
  const backend = args.backend as WasmBackend;
  const a = args.inputs.a as TensorInfo;
  const b = args.inputs.b as TensorInfo;
  const attrs = args.attrs as { transposeA: boolean; transposeB: boolean };
  const tA = attrs.transposeA === true;
  const tB = attrs.transposeB === true;
  if ((!tA && !tB) || a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) {
    return runStock('BatchMatMul', backend, args.inputs, args.attrs);
  }
  if (!tA && tB && a.shape.length === 2 && b.shape.length === 2) {
    // a[M,K] b[N,K]^T. Transposing b costs N*K copies plus XNNPACK's strided
    // re-pack of N*K weights (~3 ns/float); computing (b a^T)^T instead costs
    // transposing a (M*K), packing it, and transposing the [N,M] result.
    const [m, k] = a.shape as [number, number];
    const n = b.shape[0]!;
    if (4 * m * k + n * m < 4 * n * k) {
      const aT = swapLast(a, backend);
      const outT = runStock('BatchMatMul', backend, { a: b, b: aT }, { transposeA: false, transposeB: false });
      release(backend, aT);
      const out = runStock('Transpose', backend, { x: { ...outT, shape: [n, m] } }, { perm: [1, 0] });
      release(backend, outT);
      return out;
    }
  }
  const a2 = tA ? swapLast(a, backend) : a;
  const b2 = tB ? swapLast(b, backend) : b;
  const out = runStock('BatchMatMul', backend, { a: a2, b: b2 }, { transposeA: false, transposeB: false });
  if (a2 !== a) release(backend, a2);
  if (b2 !== b) release(backend, b2);
  return out;
}
