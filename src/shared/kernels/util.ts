/**
 * Shared plumbing for the PixelSense wasm kernels.
 *
 * The kernels in this folder run inside tfjs-backend-wasm 4.22. They read and
 * write tensors straight on the wasm heap and call the stock kernels (XNNPACK
 * Conv2D / BatchMatMul, Transpose, ...) at backend level. Rules that every
 * kernel here follows, because breaking them gives silent wrong answers:
 *
 * - The heap may grow on any allocation (makeOutput, a nested kernel call),
 *   which detaches every existing view. Views are therefore taken with
 *   `f32()` AFTER all outputs and intermediates are allocated, and never
 *   cached across calls.
 * - XNNPACK operators are cached per tensor id with packed weights, so we
 *   never write into the memory of a tensor that already exists; we only
 *   write into outputs we just allocated.
 * - Intermediates created by nested kernel calls are invisible to tf.tidy,
 *   so every one of them is released with `release()`.
 */
import type { backend_util, KernelConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';

/** The parts of tfjs-backend-wasm's BackendWasm that these kernels use. */
export interface WasmBackend {
  wasm: { HEAPF32: Float32Array; HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number; shape: number[] } | undefined };
  makeOutput(shape: number[], dtype: 'float32' | 'int32' | 'bool'): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  numDataIds(): number;
}

export type KernelArgs = {
  inputs: NamedTensorInfoMap;
  attrs?: NamedAttrMap;
  backend: unknown;
};

/** Stock kernel configs captured before we replaced them (for fallbacks). */
const stock = new Map<string, KernelConfig>();

export function rememberStock(config: KernelConfig): void {
  if (!stock.has(config.kernelName)) stock.set(config.kernelName, config);
}

/** Calls a stock wasm kernel at backend level; the caller owns the result. */
export function runStock(name: string, backend: unknown, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
  const cfg = stock.get(name);
  if (cfg === undefined) throw new Error(`pixelsense kernels: no stock wasm kernel ${name}`);
  const out = cfg.kernelFunc({ inputs, attrs, backend: backend as never });
  return out as TensorInfo;
}

/** Float32 view of a tensor on the heap. Take it after every allocation. */
export function f32(backend: WasmBackend, t: TensorInfo): Float32Array {
  const data = backend.dataIdMap.get(t.dataId);
  if (data === undefined) throw new Error('pixelsense kernels: unknown tensor');
  let size = 1;
  for (const d of t.shape) size *= d;
  return new Float32Array(backend.wasm.HEAPF32.buffer, data.memoryOffset, size);
}

/** Offset (in floats) of a tensor within HEAPF32. */
export function f32Offset(backend: WasmBackend, t: TensorInfo): number {
  const data = backend.dataIdMap.get(t.dataId);
  if (data === undefined) throw new Error('pixelsense kernels: unknown tensor');
  return data.memoryOffset >>> 2;
}

/** Disposes intermediates created by nested backend-level kernel calls. */
export function release(backend: WasmBackend, ...ts: TensorInfo[]): void {
  for (const t of ts) backend.disposeData(t.dataId);
}

export function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Padding as tfjs conv attributes give it. */
export type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;

/** Attributes common to Conv2DBackpropFilter and Conv2DBackpropInput. */
export interface ConvBackpropAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}
