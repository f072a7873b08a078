/**
 * Backend selection, shared by the coordinator and every worker.
 *
 * `auto` prefers @tensorflow/tfjs-node (native libtensorflow, an optional
 * dependency that only installs where its install script can download the
 * library) and falls back to @tensorflow/tfjs-backend-wasm, the embedded
 * default. The wasm build used in Node is single-threaded, which is what we
 * want: parallelism comes from our worker threads, one wasm instance each.
 * `cpu` is the plain-JS reference backend: correct but ~100x slower, for tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-core's Node bundle registers no gradient functions, and its ESM build
// cannot be imported piecemeal by Node; tfjs-layers' bundle carries
// register_all_gradients, so importing it is what makes tf.grads work.
import '@tensorflow/tfjs-layers';
import { BackendError } from './errors.js';
import { installWasmKernels } from './kernels/index.js';
import type { BackendChoice } from './backendChoice.js';

export { BACKEND_CHOICES, type BackendChoice } from './backendChoice.js';

export interface BackendOptions {
  /** Use tfjs's stock wasm kernels (plus the one missing kernel the CNN needs) instead of ours. */
  stockKernels?: boolean;
}

let tfjsNodeTried = false;
let tfjsNodeError: unknown;

/** Try to load tfjs-node once; it registers the 'tensorflow' backend as a side effect. */
async function loadTfjsNode(): Promise<boolean> {
  if (!tfjsNodeTried) {
    tfjsNodeTried = true;
    try {
      // A computed specifier keeps TypeScript from requiring the optional package's types.
      const name = '@tensorflow/tfjs-node';
      await import(name);
    } catch (err) {
      tfjsNodeError = err;
    }
  }
  return tf.findBackend('tensorflow') !== null || tf.engine().registryFactory['tensorflow'] !== undefined;
}

/**
 * Why `auto` did not pick tfjs-node, when it did not: the load error, kept
 * rather than dropped (a broken native install looks exactly like an absent
 * one otherwise). Undefined when tfjs-node loaded or was never tried.
 */
export function tfjsNodeUnavailableReason(): string | undefined {
  if (!tfjsNodeTried || tfjsNodeError === undefined) return undefined;
  return tfjsNodeError instanceof Error ? (tfjsNodeError.message.split('\n')[0] ?? tfjsNodeError.message) : String(tfjsNodeError);
}

/**
 * Initialise the requested backend and return the name of the one in use.
 * Kernels are installed before the wasm backend initialises: tfjs reads its
 * kernel registry when the backend is first set.
 */
export async function initBackend(choice: BackendChoice, options: BackendOptions = {}): Promise<string> {
  if (choice === 'auto' || choice === 'tensorflow') {
    if (await loadTfjsNode()) {
      if (await tf.setBackend('tensorflow')) return 'tensorflow';
    }
    if (choice === 'tensorflow') {
      const why = tfjsNodeError instanceof Error ? tfjsNodeError.message.split('\n')[0] : 'backend did not initialise';
      throw new BackendError(`backend 'tensorflow' is not available (@tensorflow/tfjs-node: ${why}); use --backend wasm`);
    }
  }
  if (choice === 'auto' || choice === 'wasm') {
    installWasmKernels({ stock: options.stockKernels === true });
    if (!(await tf.setBackend('wasm'))) throw new BackendError("backend 'wasm' failed to initialise");
    await tf.ready();
    return 'wasm';
  }
  if (!(await tf.setBackend('cpu'))) throw new BackendError("backend 'cpu' failed to initialise");
  return 'cpu';
}
