/**
 * The parameter server's WebAssembly SIMD reduce and optimizer updates
 * against their plain-JS reference: the same bits, element for element,
 * including the last count % 4 elements that the JS finishes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Optimizer } from '../src/coordinator/training/optimizer.js';
import { allocateBuffers, reduceRange } from '../src/coordinator/training/parameterServer.js';
import { UpdateKernels } from '../src/coordinator/training/updateKernels.js';
import { parseConfig } from '../src/shared/config.js';
import { InternalError } from '../src/shared/errors.js';
import { planModel } from '../src/shared/modelPlan.js';
import { Rng } from '../src/shared/rng.js';

// 784-13 -> 10: 10,343 parameters, not a multiple of 4.
const plan = planModel(parseConfig({ model: { kind: 'ann', dense: [13] } }, 'test').model);
const P = plan.paramCount;

function kernelsFor(slots: number) {
  const buffers = allocateBuffers(plan, slots);
  const kernels = UpdateKernels.create(buffers.memory, buffers.scratch, buffers.slots);
  assert.ok(kernels, 'WebAssembly SIMD kernels are available in this Node.js');
  return { buffers, kernels };
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function firstDifference(a: Float32Array, b: Float32Array): string {
  const i = a.findIndex((x, j) => !Object.is(x, b[j]));
  return i < 0 ? 'none' : `index ${i}: ${a[i]} vs ${b[i]}`;
}

test('P is not a multiple of 4, so the JS tail is exercised too', () => {
  assert.notEqual(P % 4, 0);
});

for (const n of [1, 2, 3, 4, 7]) {
  test(`the SIMD reduce over ${n} slot(s) gives the JS reference's bits`, () => {
    const { buffers, kernels } = kernelsFor(n);
    const rng = new Rng(n);
    const slotsView = buffers.gradients;
    for (let i = 0; i < slotsView.length; i++) slotsView[i] = rng.uniform(-1, 1) * 10 ** rng.uniform(-6, 2);
    const counts = Array.from({ length: n }, (_, i) => 32 - 5 * (i % 3));
    const total = counts.reduce((a, b) => a + b, 0);
    const weights = counts.map((c) => c / total);
    const slots = Array.from({ length: n }, (_, i) => slotsView.subarray(i * P, (i + 1) * P));
    const expected = new Float32Array(P);
    reduceRange(slots, weights, expected, 0, P);
    const out = buffers.gradient;
    const whole = P - (P % 4);
    kernels.reduce(slots, weights, out, whole / 4);
    reduceRange(slots, weights, out, whole, P);
    assert.ok(bits(out).equals(bits(expected)), firstDifference(out, expected));
  });
}

const optimizers: Array<Record<string, unknown>> = [
  { name: 'sgd', weightDecay: 0.01 },
  { name: 'momentum', momentum: 0.9 },
  { name: 'nesterov', momentum: 0.9, weightDecay: 1e-4 },
  { name: 'adam' },
  { name: 'adamw', weightDecay: 0.05, beta2: 0.98, epsilon: 1e-7 },
];

for (const o of optimizers) {
  test(`the SIMD ${String(o.name)} update gives the JS reference's weights and state bits over 5 steps`, () => {
    const cfg = parseConfig({ optimizer: o }, 'test').optimizer;
    const { buffers, kernels } = kernelsFor(1);
    const fast = new Optimizer(cfg, P, { m: buffers.moments.subarray(0, P), v: buffers.moments.subarray(P) }, kernels);
    const reference = new Optimizer(cfg, P);
    const rng = new Rng(42);
    const params = buffers.weights.subarray(0, P);
    for (let i = 0; i < P; i++) params[i] = rng.uniform(-0.3, 0.3);
    const refParams = params.slice();
    const grad = buffers.gradient;
    for (let step = 0; step < 5; step++) {
      for (let i = 0; i < P; i++) grad[i] = rng.uniform(-1, 1) * 10 ** rng.uniform(-8, 1);
      const lr = 0.01 / (step + 1);
      fast.apply(params, grad, lr);
      reference.apply(refParams, grad.slice(), lr);
    }
    assert.ok(bits(params).equals(bits(refParams)), `weights: ${firstDifference(params, refParams)}`);
    assert.ok(bits(fast.state.m).equals(bits(reference.state.m)), `m: ${firstDifference(fast.state.m, reference.state.m)}`);
    assert.ok(bits(fast.state.v).equals(bits(reference.state.v)), `v: ${firstDifference(fast.state.v, reference.state.v)}`);
  });
}

for (const o of [{ name: 'adam' }, { name: 'adamw', weightDecay: 0.05, beta1: 0.85 }]) {
  for (const n of [1, 3]) {
    test(`the fused reduce and ${o.name} update over ${n} slot(s) give the bits of the JS reduce, then the JS update, over 5 steps`, () => {
      const cfg = parseConfig({ optimizer: o }, 'test').optimizer;
      const { buffers, kernels } = kernelsFor(n);
      const moments = { m: buffers.moments.subarray(0, P), v: buffers.moments.subarray(P) };
      const fast = new Optimizer(cfg, P, moments, kernels);
      const reference = new Optimizer(cfg, P);
      const rng = new Rng(7 + n);
      const params = buffers.weights.subarray(0, P);
      for (let i = 0; i < P; i++) params[i] = rng.uniform(-0.3, 0.3);
      const refParams = params.slice();
      const slots = Array.from({ length: n }, (_, i) => buffers.gradients.subarray(i * P, (i + 1) * P));
      const shares = Array.from({ length: n }, (_, i) => (i + 1) / ((n * (n + 1)) / 2));
      assert.ok(fast.fusesReduce(params, { slots, shares }), 'the fused path runs');
      for (let step = 0; step < 5; step++) {
        for (const slot of slots) for (let i = 0; i < P; i++) slot[i] = rng.uniform(-1, 1) * 10 ** rng.uniform(-8, 1);
        const lr = 0.01 / (step + 1);
        const tail = buffers.gradient;
        reduceRange(slots, shares, tail, P - (P % 4), P);
        fast.apply(params, tail, lr, 0.9, { slots, shares });
        const g = new Float32Array(P);
        reduceRange(slots, shares, g, 0, P);
        reference.apply(refParams, g, lr, 0.9);
      }
      assert.ok(bits(params).equals(bits(refParams)), `weights: ${firstDifference(params, refParams)}`);
      assert.ok(bits(fast.state.m).equals(bits(reference.state.m)), `m: ${firstDifference(fast.state.m, reference.state.m)}`);
      assert.ok(bits(fast.state.v).equals(bits(reference.state.v)), `v: ${firstDifference(fast.state.v, reference.state.v)}`);
    });
  }
}

test('an optimizer that cannot fuse a reduction refuses it rather than update from a partial gradient', () => {
  const { buffers, kernels } = kernelsFor(1);
  const sgd = new Optimizer(parseConfig({ optimizer: { name: 'sgd' } }, 'test').optimizer, P, undefined, kernels);
  const reduction = { slots: [buffers.gradients.subarray(0, P)], shares: [1] };
  assert.throws(() => sgd.apply(buffers.weights.subarray(0, P), buffers.gradient, 0.1, undefined, reduction), InternalError);
});

test("the optimizer falls back to JS for arrays outside the kernels' memory", () => {
  const cfg = parseConfig({ optimizer: { name: 'adam' } }, 'test').optimizer;
  const { kernels } = kernelsFor(1);
  const o = new Optimizer(cfg, 6, undefined, kernels);
  const p = new Float32Array([1, 2, 3, 4, 5, 6]);
  o.apply(p, new Float32Array([1, 1, 1, -1, -1, -1]), 0.1);
  assert.deepEqual(
    Array.from(p, (x) => Math.round(x * 10) / 10),
    [0.9, 1.9, 2.9, 4.1, 5.1, 6.1],
  );
});

test('a step whose gradient slots exceed one shared memory is refused with the config field to change', () => {
  const cnn = planModel(parseConfig({ model: { kind: 'cnn' } }, 'test').model);
  assert.throws(
    () => allocateBuffers(cnn, 5000, 'configs/huge.yaml'),
    (err: Error) => {
      assert.equal(err.name, 'ConfigError');
      assert.match(err.message, /^configs\/huge\.yaml: train\.microBatchSize: 5000 micro-batches per step need 4\.\d GiB/);
      return true;
    },
  );
});
