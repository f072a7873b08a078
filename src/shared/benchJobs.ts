/**
 * What the bench's own threads are given and send back: the contract between
 * the launchers in src/coordinator/bench (main thread) and the thread entries
 * src/worker/fitBaseline.ts and src/worker/commBench.ts. Each thread gets its
 * job once, as workerData.
 */
import type { BackendChoice } from './backendChoice.js';
import type { Config } from './config.js';
import type { SharedDataset } from './dataset.js';

/** The model.fit reference (pixelsense bench): one fit over `warmup + steps` batches. */
export interface FitJob {
  readonly config: Config;
  readonly backend: BackendChoice;
  readonly stockKernels: boolean;
  readonly dataset: SharedDataset;
  /** The initial weights (params then batch-norm state), the same the Trainer starts from. */
  readonly weights: Float32Array;
  readonly warmup: number;
  readonly steps: number;
}

export interface FitResult {
  readonly backend: string;
  readonly examplesPerSecond: number;
  readonly stepSeconds: number;
  readonly steps: number;
  /** Heap of the fit thread's isolate and the wasm linear memory, bytes, after the run. */
  readonly heapUsed: number;
  readonly wasmHeap: number | null;
}

/** The ways `pixelsense bench --comm` moves one gradient from a thread to the coordinator. */
export const COMM_METHODS = ['empty', 'shared', 'msgpackr', 'clone'] as const;
export type CommMethod = (typeof COMM_METHODS)[number];

export interface CommJob {
  /** Floats in the gradient. */
  readonly params: number;
  /** The gradient slot of the `shared` method, params floats. */
  readonly shared: SharedArrayBuffer;
}

/** Coordinator -> thread: move the gradient, stamped with `seq`, the `method` way. */
export interface CommRequest {
  readonly method: CommMethod;
  readonly seq: number;
}

/** Thread -> coordinator: `payload` is the msgpackr bytes or the cloned gradient, absent for empty and shared. */
export interface CommReply {
  readonly seq: number;
  readonly payload?: Uint8Array | Float32Array;
}
