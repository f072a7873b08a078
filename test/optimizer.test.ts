import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Optimizer } from '../src/coordinator/training/optimizer.js';
import { learningRate, momentumAt } from '../src/coordinator/training/schedule.js';
import { parseConfig } from '../src/shared/config.js';
import { exitCodeOf, InternalError } from '../src/shared/errors.js';

const opt = (o: Record<string, unknown>) => new Optimizer(parseConfig({ optimizer: o }, 'test').optimizer, 2);
const close = (a: ArrayLike<number>, b: number[], tol = 1e-6) =>
  b.forEach((v, i) => {
    assert.ok(Math.abs((a[i] as number) - v) < tol, `index ${i}: ${a[i]} vs ${v}`);
  });

test('sgd subtracts lr times the gradient', () => {
  const p = new Float32Array([1, -2]);
  opt({ name: 'sgd', lr: 0.1 }).apply(p, new Float32Array([0.5, -1]), 0.1);
  close(p, [0.95, -1.9]);
});

test('sgd with decoupled weight decay shrinks the weights by lr*wd first', () => {
  const p = new Float32Array([1, -2]);
  opt({ name: 'sgd', lr: 0.1, weightDecay: 0.5 }).apply(p, new Float32Array([0, 0]), 0.1);
  close(p, [0.95, -1.9]);
});

test('momentum accumulates a velocity buffer over two steps', () => {
  const p = new Float32Array([1, 1]);
  const o = opt({ name: 'momentum', momentum: 0.9 });
  const g = new Float32Array([1, -1]);
  o.apply(p, g, 0.1); // buf = g; p = 1 - 0.1*g
  o.apply(p, g, 0.1); // buf = 0.9*g + g = 1.9g; p -= 0.19g
  close(p, [1 - 0.1 - 0.19, 1 + 0.1 + 0.19]);
});

test('nesterov looks ahead: p -= lr*(g + mu*buf)', () => {
  const p = new Float32Array([0, 0]);
  const o = opt({ name: 'nesterov', momentum: 0.9 });
  o.apply(p, new Float32Array([1, 2]), 0.1); // buf = g; step = g + 0.9g = 1.9g
  close(p, [-0.19, -0.38]);
});

test('adam moves each weight by about lr on the first step, whatever the gradient scale', () => {
  const p = new Float32Array([0, 0]);
  opt({ name: 'adam', epsilon: 1e-8 }).apply(p, new Float32Array([1e-3, -50]), 0.01);
  close(p, [-0.01, 0.01], 1e-6);
});

test('adam matches a hand-computed second step', () => {
  const p = new Float32Array([0, 0]);
  const o = opt({ name: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 });
  o.apply(p, new Float32Array([1, 1]), 0.1);
  o.apply(p, new Float32Array([3, 3]), 0.1);
  // m2 = 0.9*0.1 + 0.1*3 = 0.39, mhat = 0.39/0.19; v2 = 0.999*0.001 + 0.001*9 = 0.009999, vhat = 0.009999/0.001999
  const step2 = (0.1 * (0.39 / 0.19)) / (Math.sqrt(0.009999 / 0.001999) + 1e-8);
  close(p, [-0.1 - step2, -0.1 - step2], 1e-5);
});

test('adamw decays the weights independently of the adaptive step', () => {
  const p = new Float32Array([2, 2]);
  opt({ name: 'adamw', weightDecay: 0.1, epsilon: 1e-8 }).apply(p, new Float32Array([1, -1]), 0.01);
  close(p, [2 * (1 - 0.001) - 0.01, 2 * (1 - 0.001) + 0.01], 1e-6);
});

const ctx = { lr: 1, stepsPerEpoch: 10, totalSteps: 100 };
const sched = (s: Record<string, unknown>) => parseConfig({ schedule: s }, 'test').schedule;

test('linear warmup rises to the peak learning rate, then constant holds it', () => {
  const s = sched({ name: 'constant', warmupEpochs: 1 });
  assert.equal(learningRate(s, ctx, 0), 0.1);
  assert.equal(learningRate(s, ctx, 9), 1);
  assert.equal(learningRate(s, ctx, 50), 1);
});

test('the step schedule multiplies by gamma every stepEpochs epochs', () => {
  const s = sched({ name: 'step', stepEpochs: 2, gamma: 0.5 });
  assert.equal(learningRate(s, ctx, 19), 1);
  assert.equal(learningRate(s, ctx, 20), 0.5);
  assert.equal(learningRate(s, ctx, 45), 0.25);
});

test('cosine decays from the peak to minLrFactor at the last step', () => {
  const s = sched({ name: 'cosine', minLrFactor: 0.1 });
  assert.equal(learningRate(s, ctx, 0), 1);
  assert.ok(Math.abs(learningRate(s, ctx, 50) - 0.55) < 1e-9);
  assert.ok(Math.abs(learningRate(s, ctx, 100) - 0.1) < 1e-9);
});

test('one-cycle rises from lr/25 to the peak, then falls', () => {
  const s = sched({ name: 'onecycle', pctStart: 0.3 });
  assert.ok(Math.abs(learningRate(s, ctx, 0) - 0.04) < 1e-9);
  assert.ok(Math.abs(learningRate(s, ctx, 30) - 1) < 1e-9);
  assert.ok(learningRate(s, ctx, 99) < 0.01);
});

test("one-cycle with cycleMomentum moves the momentum opposite to the lr, 0.95 -> 0.85 -> 0.95, as PyTorch's OneCycleLR", () => {
  const s = sched({ name: 'onecycle', pctStart: 0.3, cycleMomentum: true });
  assert.ok(Math.abs((momentumAt(s, ctx, 0) ?? 0) - 0.95) < 1e-12);
  assert.ok(Math.abs((momentumAt(s, ctx, 15) ?? 0) - 0.9) < 1e-12, 'halfway up the lr, halfway down the momentum');
  assert.ok(Math.abs((momentumAt(s, ctx, 30) ?? 0) - 0.85) < 1e-12);
  assert.ok(Math.abs((momentumAt(s, ctx, 100) ?? 0) - 0.95) < 1e-12);
  assert.equal(momentumAt(sched({ name: 'onecycle' }), ctx, 0), null, 'off by default');
  assert.equal(momentumAt(sched({ name: 'cosine', cycleMomentum: true }), ctx, 0), null, 'only one-cycle cycles it');
});

test("adam with a step's momentum uses it as beta1, in the moment and in the bias correction", () => {
  const p = new Float32Array([0, 0]);
  const o = opt({ name: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-8 });
  o.apply(p, new Float32Array([1, 1]), 0.1, 0.85);
  o.apply(p, new Float32Array([3, 3]), 0.1, 0.95);
  // Step 1: m1 = 0.15, mhat = 0.15/0.15 = 1, vhat = 1: -0.1. Step 2 (beta1 0.95): m2 = 0.95*0.15 + 0.05*3 = 0.2925,
  // mhat = 0.2925/(1 - 0.95^2) = 0.2925/0.0975; v2 = 0.009999, vhat = 0.009999/0.001999.
  const step2 = (0.1 * (0.2925 / 0.0975)) / (Math.sqrt(0.009999 / 0.001999) + 1e-8);
  close(p, [-0.1 - step2, -0.1 - step2], 1e-5);
});

test('restoring optimizer state of another model size is an InternalError, not a silent partial copy', () => {
  const o = opt({ name: 'adam' });
  assert.throws(
    () => o.restore({ t: 1, m: new Float32Array(3), v: new Float32Array(3) }),
    (err: unknown) => err instanceof InternalError && exitCodeOf(err) === 70,
  );
});
