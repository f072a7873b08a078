/**
 * bench.json's shape: one scaling benchmark's settings, machine, samples and
 * rows. Types only, apart from bench.ts's arithmetic, so the library's
 * public declarations (bench() in src/coordinator/api/bench.ts) reach
 * neither vega-lite's nor tfjs's typings (a consumer's `tsc` without lib
 * "dom" cannot load those).
 */
import type { CommResult } from './commBench.js';

export type ModelKind = 'ann' | 'cnn';

/**
 * bench.json's per-step columns (snake_case: written as JSON), built from the
 * trainer's StepEvents by sampleFromSteps: milliseconds per step and their
 * parts (they add up to step_ms), compute share, memory.
 */
export interface StepColumns {
  step_ms: number;
  compute_ms: number;
  broadcast_ms: number;
  wait_ms: number;
  reduce_ms: number;
  update_ms: number;
  overhead_ms: number;
  compute_fraction: number;
  /** Whole process (coordinator and all worker threads), MB, after the measured steps. */
  rss_mb: number;
  /** Per worker thread, mean over the pool, MB. */
  heap_per_worker_mb: number;
  tf_per_worker_mb: number;
  wasm_per_worker_mb: number | null;
}

/** One repeat of one (model, worker count): steady-state steps only; step columns are means over its steps. */
export interface BenchSample extends StepColumns {
  model: ModelKind;
  workers: number;
  repeat: number;
  examples_per_sec: number;
  /** --ceiling: examples/s of the same workers computing their shards back to back with no coordination; null without it. */
  uncoordinated_examples_per_sec: number | null;
}

/** One repeat of the single-thread model.fit reference. */
export interface FitSample {
  model: ModelKind;
  repeat: number;
  examples_per_sec: number;
  step_ms: number;
}

export interface Stat {
  median: number;
  min: number;
  max: number;
}

/** Step columns here are medians over repeats. */
export interface BenchRow extends StepColumns {
  model: ModelKind;
  workers: number;
  oversubscribed: boolean;
  examples_per_sec: Stat;
  /** Median examples/s over the median at W=1; efficiency = speedup / workers. */
  speedup: number | null;
  efficiency: number | null;
  /**
   * --ceiling: uncoordinated examples/s (median, min, max) and its speed-up
   * over W=1's: how far the machine itself lets W threads scale on this work.
   */
  uncoordinated: Stat | null;
  ceiling_speedup: number | null;
  /** --ceiling: the median uncoordinated examples/s (uncoordinated.median), the public field of --json. */
  uncoordinated_examples_per_sec: number | null;
  /**
   * --ceiling: training examples/s over uncoordinated examples/s, each repeat
   * paired with its own ceiling measured right after it, then the median:
   * what the synchronous loop keeps of what the machine gives W threads.
   */
  training_over_uncoordinated: number | null;
}

export interface BaselineRow {
  model: ModelKind;
  examples_per_sec: Stat;
  step_ms: number;
  /** Median examples/s at W=1 over the median of model.fit. */
  w1_over_fit: number | null;
}

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  backend: string;
  platform: string;
  /** 1-minute load average when the bench started and ended (other processes on the machine). */
  load_start: number;
  load_end: number;
}

export interface BenchSettings {
  models: ModelKind[];
  workers: number[];
  steps: number;
  warmup: number;
  batch_size: number;
  /** Micro-batch size per model (the shipped configs' values). */
  micro_batch_size: Partial<Record<string, number>>;
  repeats: number;
}

export interface BenchReport {
  machine: Machine;
  settings: BenchSettings;
  started: string;
  results: BenchRow[];
  baseline_fit: BaselineRow[];
  comm: CommResult | null;
  samples: BenchSample[];
  fit_samples: FitSample[];
  /** bench --nats only: the multi-host repeats. */
  cluster?: ClusterSample[];
}

/** One repeat of a bench --nats run: remote hosts only, with the bytes that crossed NATS per step. */
export interface ClusterSample {
  model: ModelKind;
  repeat: number;
  hosts: number;
  examples_per_sec: number;
  step_ms: number;
  /** Coordinator -> hosts: weights (one publish per step for all hosts), tasks, beats. */
  bytes_sent_per_step: number;
  /** Hosts -> coordinator: one gradient (plus batch-norm statistics) per micro-batch. */
  bytes_received_per_step: number;
}
