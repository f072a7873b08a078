/**
 * PixelSense training kernels for @tensorflow/tfjs-backend-wasm 4.22.
 *
 * Call `installWasmKernels()` once, before `tf.setBackend('wasm')`: kernels
 * must be registered before the backend initialises (setupFuncs run then).
 * Stock kernels we replace are unregistered first and kept, so every fast
 * kernel can fall back to the stock one for cases it does not cover.
 *
 * Fast mode also replaces the Relu gradient with one that runs the fused
 * PixelSenseReluGrad kernel on wasm (relu-grad.ts; other backends keep
 * tfjs-core's formula). Gradients must be registered before this call (e.g.
 * by importing @tensorflow/tfjs-layers): a later registration of the Relu
 * gradient silently restores the unfused, equally correct, one.
 *
 * `installWasmKernels({ stock: true })` installs only what training needs to
 * work at all (a composed Conv2DBackpropFilter at stock speed), so benchmarks
 * can compare against stock.
 */
import '@tensorflow/tfjs-backend-wasm';
import { getKernel, registerKernel, unregisterKernel, type KernelConfig, type KernelFunc } from '@tensorflow/tfjs-core';
import { fusedBatchNorm } from './batch-norm.js';
import { inputGrad } from './conv-input.js';
import { filterGradComposed, filterGradIm2col } from './conv.js';
import { binaryKernel, cast, identity, reluKernel, stepKernel } from './elementwise.js';
import { batchMatMul } from './matmul.js';
import { maxPoolGrad } from './pool.js';
import { sum } from './reduce.js';
import { installReluGradient, RELU_GRAD } from './relu-grad.js';
import { rememberStock, type KernelArgs } from './util.js';

type Impl = (args: KernelArgs) => unknown;

interface KernelSpec {
  name: string;
  impl: Impl;
}

const FAST: KernelSpec[] = [
  { name: 'Conv2DBackpropFilter', impl: filterGradIm2col },
  { name: 'Conv2DBackpropInput', impl: inputGrad },
  { name: 'MaxPoolGrad', impl: maxPoolGrad },
  { name: 'BatchMatMul', impl: batchMatMul },
  { name: 'Sum', impl: sum },
  { name: 'Identity', impl: identity },
  { name: 'Cast', impl: cast },
  { name: 'Add', impl: binaryKernel('Add') },
  { name: 'Sub', impl: binaryKernel('Sub') },
  { name: 'Multiply', impl: binaryKernel('Multiply') },
  { name: 'Step', impl: stepKernel },
  { name: 'Relu', impl: reluKernel },
  { name: 'FusedBatchNorm', impl: fusedBatchNorm },
];

const STOCK_MODE: KernelSpec[] = [{ name: 'Conv2DBackpropFilter', impl: filterGradComposed }];

interface InstallState {
  mode: 'fast' | 'stock';
  names: string[];
}
// Kept on globalThis (like tfjs's own kernel registry) so that a second copy
// of this module in the same thread cannot wrap our kernels as "stock".
const STATE_KEY = Symbol.for('pixelsense.wasmKernels');
const globals = globalThis as unknown as Record<symbol, InstallState | undefined>;

/** Names of the kernels `installWasmKernels()` (fast mode) registers. */
export function wasmKernelNames(): string[] {
  return [...FAST.map((k) => k.name), RELU_GRAD];
}

/**
 * Registers the PixelSense kernels for backend 'wasm'. Idempotent: a second
 * call returns the first call's list (the mode cannot change once installed,
 * since the backend may already have initialised with it).
 */
export function installWasmKernels(options: { stock?: boolean } = {}): { installed: string[] } {
  const installed = globals[STATE_KEY];
  if (installed !== undefined) return { installed: [...installed.names] };
  const specs = options.stock === true ? STOCK_MODE : FAST;
  // Stock kernels every route below calls at backend level.
  for (const name of [
    'Transpose',
    'Conv2D',
    'BatchMatMul',
    'Slice',
    'Conv2DBackpropInput',
    'MaxPoolGrad',
    'Sum',
    'Cast',
    'Identity',
    'Add',
    'Sub',
    'Multiply',
    'Step',
    'Relu',
  ]) {
    const cfg = getKernel(name, 'wasm');
    if (cfg !== undefined) rememberStock(cfg);
  }
  const names: string[] = [];
  for (const spec of specs) {
    const prev = getKernel(spec.name, 'wasm');
    if (prev !== undefined) {
      rememberStock(prev);
      unregisterKernel(spec.name, 'wasm');
    }
    const config: KernelConfig = {
      kernelName: spec.name,
      backendName: 'wasm',
      kernelFunc: spec.impl as unknown as KernelFunc,
    };
    // Keep the stock setupFunc: it binds the C++ entry point our fallback uses.
    if (prev?.setupFunc !== undefined) config.setupFunc = prev.setupFunc;
    registerKernel(config);
    names.push(spec.name);
  }
  if (options.stock !== true) {
    installReluGradient();
    names.push(RELU_GRAD);
  }
  globals[STATE_KEY] = { mode: options.stock === true ? 'stock' : 'fast', names };
  return { installed: [...names] };
}
