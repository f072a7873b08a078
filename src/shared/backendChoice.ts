/**
 * The backend names, apart from backend.ts: that module imports tfjs for its
 * side effects, and those imports stay in its declaration file, so any
 * public type that reached it (through messages.ts or benchJobs.ts) would
 * make a library consumer's `tsc` load tfjs-core's browser typings (DOM,
 * WebGL, WebGPU) and fail without lib "dom".
 */
export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];
