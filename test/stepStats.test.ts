/**
 * StepStats: the one throughput window (what the step event, the progress
 * bar and the Prometheus gauge show), the per-epoch train figures and the
 * run's mean step breakdown, driven by a fake clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stepBreakdown, StepStats, type StepTotals } from '../src/coordinator/training/stepStats.js';

function step(o: Partial<StepTotals> = {}): StepTotals {
  return {
    examples: 100,
    loss: 1,
    accuracy: 0.5,
    stepSeconds: 1,
    computeSeconds: 0.6,
    waitSeconds: 0.1,
    reduceSeconds: 0.05,
    updateSeconds: 0.05,
    overheadSeconds: 0.1,
    ...o,
  };
}

test('a step breaks down into the mean worker compute, the wait for the slowest, and the overhead nobody accounts for', () => {
  const b = stepBreakdown(0.1, [0.04, 0.06], 0.01, 0.005);
  assert.ok(Math.abs(b.computeSeconds - 0.05) < 1e-12);
  assert.ok(Math.abs(b.waitSeconds - 0.01) < 1e-12);
  assert.ok(Math.abs(b.overheadSeconds - 0.025) < 1e-12);
  assert.equal(stepBreakdown(0.05, [0.06], 0, 0).overheadSeconds, 0, 'never negative');
});

test("throughput is a rate over the sliding 10 s window, anchored at the first step's start", () => {
  let now = 1_000;
  const stats = new StepStats(() => now);
  now += 1_000;
  assert.equal(stats.add(step({ stepSeconds: 1 })), 100, 'the first step already has a rate: its own');
  // 100 examples every second for 20 s: 100/s throughout.
  let eps = 0;
  for (let i = 1; i < 20; i++) {
    now += 1_000;
    eps = stats.add(step());
  }
  assert.equal(eps, 100);
  // Then 400 a second: after 5 s the window holds 5 s at 100/s and 5 s at 400/s; after 10 s only the new rate.
  for (let i = 0; i < 5; i++) {
    now += 1_000;
    eps = stats.add(step({ examples: 400 }));
  }
  assert.equal(eps, 250);
  for (let i = 0; i < 5; i++) {
    now += 1_000;
    eps = stats.add(step({ examples: 400 }));
  }
  assert.equal(eps, 400);
});

test('takeEpoch gives the example-weighted train loss and accuracy since the last call, then starts over', () => {
  const stats = new StepStats(() => 0);
  stats.add(step({ examples: 100, loss: 2, accuracy: 0.2, stepSeconds: 1 }));
  stats.add(step({ examples: 300, loss: 1, accuracy: 0.6, stepSeconds: 1 }));
  assert.deepEqual(stats.takeEpoch(), { loss: 1.25, accuracy: 0.5, examplesPerSecond: 200 });
  const empty = stats.takeEpoch();
  assert.ok(Number.isNaN(empty.loss) && Number.isNaN(empty.accuracy));
  assert.equal(empty.examplesPerSecond, 0);
});

test('overall() is the mean breakdown per step over the run, and overall throughput counts step time only', () => {
  const stats = new StepStats(() => 0);
  stats.add(step({ stepSeconds: 1, computeSeconds: 0.5, overheadSeconds: 0.2 }));
  stats.add(step({ stepSeconds: 3, computeSeconds: 1.5, overheadSeconds: 0.4 }));
  const t = stats.overall();
  assert.equal(t.steps, 2);
  assert.equal(t.step_s, 2);
  assert.equal(t.compute_s, 1);
  assert.ok(Math.abs(t.overhead_s - 0.3) < 1e-12);
  assert.equal(stats.overallExamplesPerSecond(), 50);
  assert.equal(new StepStats().overall().steps, 0);
});
