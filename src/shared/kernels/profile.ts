/**
 * Per-kernel wall-clock profiler for the wasm backend (bench/diagnostics).
 *
 * Wasm kernels run synchronously, so timing kernelFunc with performance.now()
 * is exact. `enableKernelProfiling()` must run after installWasmKernels() and
 * before the backend initialises: it re-registers every wasm kernel with a
 * timing wrapper (keeping setupFuncs). Nested backend-level calls made by our
 * kernels go to the stock configs directly and are not double counted.
 * Cost when enabled: two performance.now() calls and a Map update per kernel.
 */
import { getKernelsForBackend, registerKernel, unregisterKernel, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';

export interface KernelStat { key: string; name: string; calls: number; ms: number }

const stats = new Map<string, KernelStat>();
let enabled = false;
let wrapped = false;

/** Milliseconds on the chosen clock: wall, or this process's CPU time (robust to a loaded machine). */
let now: () => number = () => performance.now();

export function enableKernelProfiling(options: { clock?: 'wall' | 'cpu' } = {}): void {
  enabled = true;
  now = options.clock === 'cpu'
    ? () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; }
    : () => performance.now();
  if (wrapped) return;
  wrapped = true;
  for (const cfg of getKernelsForBackend('wasm')) {
    const inner = cfg.kernelFunc;
    const name = cfg.kernelName;
    const kernelFunc: KernelFunc = (args) => {
      if (!enabled) return inner(args);
      const t0 = now();
      const out = inner(args);
      const ms = now() - t0;
      const shapes = Object.values(args.inputs).map((t) => `[${(t as TensorInfo).shape.join(',')}]`).join(' ');
      const a = args.attrs as Record<string, unknown> | undefined;
      const flags = a !== undefined && (a.transposeA === true || a.transposeB === true)
        ? ` tA=${String(a.transposeA)} tB=${String(a.transposeB)}` : '';
      const key = `${name} ${shapes}${flags}`;
      const s = stats.get(key) ?? { key, name, calls: 0, ms: 0 };
      s.calls++;
      s.ms += ms;
      stats.set(key, s);
      return out;
    };
    const next: KernelConfig = { ...cfg, kernelFunc };
    unregisterKernel(name, 'wasm');
    registerKernel(next);
  }
}

export function resetKernelStats(): void { stats.clear(); }

export function pauseKernelProfiling(): void { enabled = false; }

/** Stats sorted by total time, most expensive first. */
export function kernelStats(): KernelStat[] {
  return [...stats.values()].sort((a, b) => b.ms - a.ms);
}
