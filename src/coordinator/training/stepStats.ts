/**
 * Running statistics over the trainer's steps: throughput over the one
 * sliding window (the number the StepEvent, the progress bar and the
 * Prometheus gauge all show), per-epoch train loss/accuracy, and the run's
 * mean step breakdown.
 */
import { THROUGHPUT_WINDOW_SECONDS } from '../metrics/metrics.js';
import type { StepEvent } from './stepEvent.js';

/** Mean seconds per step in each phase over a run: metrics.json's step_timing (snake_case: it is written as JSON). */
export interface StepTiming {
  steps: number;
  step_s: number;
  compute_s: number;
  wait_s: number;
  reduce_s: number;
  update_s: number;
  overhead_s: number;
}

/** The parts of a step that StepStats reads. */
export type StepTotals = Pick<
  StepEvent,
  | 'examples'
  | 'loss'
  | 'accuracy'
  | 'stepSeconds'
  | 'computeSeconds'
  | 'waitSeconds'
  | 'reduceSeconds'
  | 'updateSeconds'
  | 'overheadSeconds'
>;

/**
 * Where a step's wall time went: the mean worker's compute, the mean gap to
 * the slowest worker, and what neither the workers nor the parameter server
 * account for (dispatch, wake-ups, bookkeeping: `stepSeconds` spans
 * dispatch to the end of the update).
 */
export function stepBreakdown(
  stepSeconds: number,
  computeSeconds: readonly number[],
  reduceSeconds: number,
  updateSeconds: number,
): Pick<StepEvent, 'computeSeconds' | 'waitSeconds' | 'overheadSeconds'> {
  const max = Math.max(...computeSeconds);
  const mean = computeSeconds.reduce((a, b) => a + b, 0) / computeSeconds.length;
  return { computeSeconds: mean, waitSeconds: max - mean, overheadSeconds: Math.max(0, stepSeconds - max - reduceSeconds - updateSeconds) };
}

/** Injectable clock (milliseconds), so the throughput window is testable without sleeping. */
export type Clock = () => number;

export class StepStats {
  private examples = 0;
  private seconds = 0;
  private epoch = { examples: 0, lossSum: 0, correct: 0, seconds: 0 };
  /**
   * Throughput window: cumulative example counts at step ends, oldest first.
   * The first entry is the anchor (at or before the window start), so the
   * rate spans the whole window once training has run that long.
   */
  private window: { t: number; total: number }[] = [];
  private timing: StepTiming = { steps: 0, step_s: 0, compute_s: 0, wait_s: 0, reduce_s: 0, update_s: 0, overhead_s: 0 };

  constructor(private readonly now: Clock = () => performance.now()) {}

  /** Counts a step that has just ended; returns the throughput over the last THROUGHPUT_WINDOW_SECONDS, examples/s. */
  add(s: StepTotals): number {
    this.examples += s.examples;
    this.seconds += s.stepSeconds;
    this.epoch.examples += s.examples;
    this.epoch.lossSum += s.loss * s.examples;
    this.epoch.correct += s.accuracy * s.examples;
    this.epoch.seconds += s.stepSeconds;
    const t = this.timing;
    t.steps += 1;
    t.step_s += s.stepSeconds;
    t.compute_s += s.computeSeconds;
    t.wait_s += s.waitSeconds;
    t.reduce_s += s.reduceSeconds;
    t.update_s += s.updateSeconds;
    t.overhead_s += s.overheadSeconds;
    return this.slide(s.examples, s.stepSeconds);
  }

  private slide(examples: number, stepSeconds: number): number {
    const t = this.now();
    // The first step anchors the window at its own start.
    if (this.window.length === 0) this.window.push({ t: t - stepSeconds * 1000, total: 0 });
    const total = (this.window[this.window.length - 1] as { total: number }).total + examples;
    this.window.push({ t, total });
    // Drop samples until the second-oldest is inside the window: the oldest
    // left is then the anchor at or just before (t - window).
    const start = t - THROUGHPUT_WINDOW_SECONDS * 1000;
    while (this.window.length > 2 && (this.window[1] as { t: number }).t <= start) this.window.shift();
    const anchor = this.window[0] as { t: number; total: number };
    const span = (t - anchor.t) / 1000;
    return span > 0 ? (total - anchor.total) / span : 0;
  }

  overallExamplesPerSecond(): number {
    return this.seconds > 0 ? this.examples / this.seconds : 0;
  }

  /** Train loss/accuracy/throughput since the last call (one epoch or eval interval). */
  takeEpoch(): { loss: number; accuracy: number; examplesPerSecond: number } {
    const e = this.epoch;
    const out = {
      loss: e.examples ? e.lossSum / e.examples : NaN,
      accuracy: e.examples ? e.correct / e.examples : NaN,
      examplesPerSecond: e.seconds ? e.examples / e.seconds : 0,
    };
    this.epoch = { examples: 0, lossSum: 0, correct: 0, seconds: 0 };
    return out;
  }

  /** Mean per-step breakdown over the whole run. */
  overall(): StepTiming {
    const t = this.timing;
    const n = Math.max(1, t.steps);
    return {
      steps: t.steps,
      step_s: t.step_s / n,
      compute_s: t.compute_s / n,
      wait_s: t.wait_s / n,
      reduce_s: t.reduce_s / n,
      update_s: t.update_s / n,
      overhead_s: t.overhead_s / n,
    };
  }
}
