/**
 * Running statistics of training steps: throughput (overall and over a
 * sliding window), per-epoch train loss/accuracy, and where each step's time
 * goes (worker compute, waiting for the slowest worker, reduce, update,
 * coordinator overhead).
 */
export interface StepSample {
  readonly examples: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly stepSeconds: number;
  readonly computeSeconds: readonly number[];
  readonly reduceSeconds: number;
  readonly updateSeconds: number;
}

/** Mean seconds per step in each phase. `compute` is the mean worker's, `wait` the gap to the slowest. */
export interface StepTiming {
  steps: number;
  step_s: number;
  compute_s: number;
  wait_s: number;
  reduce_s: number;
  update_s: number;
  overhead_s: number;
}

const WINDOW = 20;

export class StepStats {
  private examples = 0;
  private seconds = 0;
  private epoch = { examples: 0, lossSum: 0, correct: 0, seconds: 0 };
  private window: { examples: number; seconds: number }[] = [];
  private timing: StepTiming = { steps: 0, step_s: 0, compute_s: 0, wait_s: 0, reduce_s: 0, update_s: 0, overhead_s: 0 };

  /** Adds a step; returns its own breakdown (for the step log). */
  add(s: StepSample): Omit<StepTiming, 'steps'> {
    this.examples += s.examples;
    this.seconds += s.stepSeconds;
    this.epoch.examples += s.examples;
    this.epoch.lossSum += s.loss * s.examples;
    this.epoch.correct += s.accuracy * s.examples;
    this.epoch.seconds += s.stepSeconds;
    this.window.push({ examples: s.examples, seconds: s.stepSeconds });
    if (this.window.length > WINDOW) this.window.shift();
    const max = Math.max(...s.computeSeconds);
    const mean = s.computeSeconds.reduce((a, b) => a + b, 0) / s.computeSeconds.length;
    // stepSeconds spans dispatch to the end of the update; what the workers and
    // the parameter server do not account for is coordinator overhead.
    const own = {
      step_s: s.stepSeconds,
      compute_s: mean,
      wait_s: max - mean,
      reduce_s: s.reduceSeconds,
      update_s: s.updateSeconds,
      overhead_s: Math.max(0, s.stepSeconds - max - s.reduceSeconds - s.updateSeconds),
    };
    const t = this.timing;
    t.steps += 1;
    for (const k of Object.keys(own) as (keyof typeof own)[]) t[k] += own[k];
    return own;
  }

  recentExamplesPerSecond(): number {
    const e = this.window.reduce((a, w) => a + w.examples, 0);
    const s = this.window.reduce((a, w) => a + w.seconds, 0);
    return s > 0 ? e / s : 0;
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
