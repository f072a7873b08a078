/**
 * Copy-free Identity and same-dtype Cast for the wasm backend.
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
import { runStock, type KernelArgs } from './util.js';

interface RefCounting { incRef(dataId: object): void }

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
