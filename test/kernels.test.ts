/**
 * PixelSense wasm kernels: every kernel's output and gradient match the cpu
 * backend (within 1e-4 relative to the largest reference magnitude), and the
 * ANN/CNN train steps leak neither tensors nor wasm data ids.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-layers registers the gradient functions of every core op.
import '@tensorflow/tfjs-layers';
import { installWasmKernels, wasmKernelNames } from '../src/shared/kernels/index.js';
import { filterGradComposed } from '../src/shared/kernels/conv.js';
import { makeFixture } from '../src/shared/kernels/fixtures.js';
import { setSimdEnabled, simdFor } from '../src/shared/kernels/simd.js';

const installed = installWasmKernels();
await tf.setBackend('wasm');
await tf.setBackend('cpu');

type Pad = 'valid' | 'same' | [[number, number], [number, number], [number, number], [number, number]];

/** Deterministic values in [-1, 1) (mulberry32), identical on both backends. */
function values(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

function rand(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(
    values(
      shape.reduce((p, d) => p * d, 1),
      seed,
    ),
    shape,
  );
}

/** Runs `fn` on cpu and on wasm and returns both results, read back. */
async function onBoth(fn: () => tf.Tensor | tf.Tensor[]): Promise<{ cpu: Float32Array[]; wasm: Float32Array[]; shapes: number[][][] }> {
  const run = async (backend: string): Promise<{ data: Float32Array[]; shapes: number[][] }> => {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const out = fn();
      const list = Array.isArray(out) ? out : [out];
      return { data: list.map((t) => t.dataSync() as Float32Array), shapes: list.map((t) => t.shape) };
    });
  };
  const c = await run('cpu');
  const w = await run('wasm');
  await tf.setBackend('cpu');
  return { cpu: c.data, wasm: w.data, shapes: [c.shapes, w.shapes] };
}

function assertClose(actual: Float32Array, expected: Float32Array, label: string, tol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let scale = 0;
  for (const v of expected) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `${label}: expected NaN at ${i}, got ${a}`);
      continue;
    }
    const d = Math.abs(a - e);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  assert.ok(
    worst <= tol * Math.max(scale, 1e-6),
    `${label}: max error ${worst} at ${at} (wasm ${actual[at]}, cpu ${expected[at]}, scale ${scale})`,
  );
}

async function assertSame(label: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<void> {
  const r = await onBoth(fn);
  assert.deepEqual(r.shapes[1], r.shapes[0], `${label}: shapes`);
  r.cpu.forEach((c, i) => {
    assertClose(r.wasm[i]!, c, `${label} #${i}`);
  });
}

interface ConvCase {
  x: number[];
  f: number[];
  s: number | [number, number];
  pad: Pad;
}

const convCases: ConvCase[] = [
  { x: [2, 9, 9, 3], f: [3, 3, 3, 4], s: 1, pad: 'valid' },
  { x: [2, 9, 9, 3], f: [3, 3, 3, 4], s: 2, pad: 'valid' },
  { x: [2, 10, 7, 3], f: [3, 3, 3, 4], s: 2, pad: 'same' },
  { x: [1, 7, 8, 1], f: [3, 2, 1, 5], s: 1, pad: 'same' },
  { x: [3, 8, 8, 2], f: [2, 2, 2, 3], s: [2, 1], pad: 'valid' },
  { x: [1, 11, 12, 2], f: [3, 3, 2, 2], s: 3, pad: 'valid' },
  { x: [2, 13, 13, 32], f: [3, 3, 32, 64], s: 1, pad: 'valid' },
  { x: [4, 28, 28, 1], f: [3, 3, 1, 32], s: 1, pad: 'valid' },
  // Strided with Ci % 4 == 0: the col2im input-gradient route.
  { x: [2, 9, 9, 4], f: [3, 3, 4, 8], s: 2, pad: 'same' },
  { x: [1, 10, 11, 8], f: [2, 2, 8, 4], s: 2, pad: 'valid' },
];

/** Gradients of sum(conv2d(x, f) * dy) with respect to x and f. */
function convGrads(c: ConvCase, seed: number): () => tf.Tensor[] {
  return () => {
    const x = rand(c.x, seed) as tf.Tensor4D;
    const f = rand(c.f, seed + 1) as tf.Tensor4D;
    const yShape = tf.conv2d(x, f, c.s, c.pad).shape;
    const dy = rand(yShape, seed + 2);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), dy)));
    return g([x, f]);
  };
}

test('installWasmKernels is idempotent and returns the kernels it registered', () => {
  assert.deepEqual(installWasmKernels().installed, installed.installed);
  assert.deepEqual(installed.installed, wasmKernelNames());
  for (const name of ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad', 'BatchMatMul', 'Sum']) {
    assert.ok(installed.installed.includes(name), name);
  }
});

test('conv2d filter and input gradients match cpu for strides 1/2/3, valid/same, odd sizes and batch 1', async () => {
  let seed = 10;
  for (const c of convCases) {
    seed += 3;
    await assertSame(`conv ${JSON.stringify(c)}`, convGrads(c, seed));
  }
});

test('conv2d gradients with explicit numeric pads match cpu', async () => {
  const c: ConvCase = {
    x: [2, 7, 6, 3],
    f: [3, 2, 3, 2],
    s: 1,
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  };
  await assertSame('explicit pads', convGrads(c, 5));
});

test('the composed (stock-mode) filter gradient matches cpu', async () => {
  for (const c of convCases.slice(0, 6)) {
    const r = await onBoth(() => {
      const x = rand(c.x, 3);
      const f = rand(c.f, 4) as tf.Tensor4D;
      const dy = rand(tf.conv2d(x as tf.Tensor4D, f, c.s, c.pad).shape, 5);
      if (tf.getBackend() === 'cpu') {
        return tf.grad((ff: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, ff as tf.Tensor4D, c.s, c.pad), dy)))(f);
      }
      const out = filterGradComposed({
        inputs: { x, dy },
        attrs: { strides: c.s, pad: c.pad as 'valid', dataFormat: 'NHWC', filterShape: c.f },
        backend: tf.backend(),
      });
      return tf.engine().makeTensorFromTensorInfo(out);
    });
    assertClose(r.wasm[0]!, r.cpu[0]!, `composed ${JSON.stringify(c)}`);
  }
});

test('max-pool gradient matches cpu for 2x2/2, 3x3/2 same, overlapping 3x3/1 and odd sizes', async () => {
  const cases: Array<{ x: number[]; k: number | [number, number]; s: number | [number, number]; pad: 'valid' | 'same' }> = [
    { x: [2, 8, 8, 3], k: 2, s: 2, pad: 'valid' },
    { x: [2, 13, 13, 5], k: 2, s: 2, pad: 'valid' },
    { x: [1, 11, 9, 4], k: 3, s: 2, pad: 'same' },
    { x: [2, 7, 7, 3], k: 3, s: 1, pad: 'valid' },
    { x: [1, 6, 9, 2], k: [2, 3], s: [1, 2], pad: 'same' },
    // Channels a multiple of 4 take the SIMD path (full and clipped windows).
    { x: [2, 13, 13, 8], k: 2, s: 2, pad: 'valid' },
    { x: [1, 9, 10, 4], k: 3, s: 2, pad: 'same' },
    { x: [2, 7, 7, 4], k: 3, s: 1, pad: 'valid' },
  ];
  let seed = 100;
  for (const c of cases) {
    seed += 2;
    await assertSame(`maxPool ${JSON.stringify(c)}`, () => {
      const x = rand(c.x, seed) as tf.Tensor4D;
      const dy = rand(tf.maxPool(x, c.k, c.s, c.pad).shape, seed + 1);
      return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, c.k, c.s, c.pad), dy)))(x);
    });
  }
});

test('max-pool gradient reaches windows whose values are all negative', async () => {
  await tf.setBackend('wasm');
  const [total, expected] = tf.tidy(() => {
    const x = tf.sub(tf.mul(rand([2, 6, 6, 3], 7), 0.5), 1) as tf.Tensor4D; // all in [-1.5, -0.5)
    const dy = tf.add(tf.abs(rand([2, 3, 3, 3], 8)), 0.1);
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'), dy)))(x);
    return [tf.sum(g).dataSync()[0]!, tf.sum(dy).dataSync()[0]!];
  });
  await tf.setBackend('cpu');
  assert.ok(Math.abs(total - expected) <= 1e-4 * Math.abs(expected), `${total} vs ${expected}`);
});

test('max-pool gradient goes to the first maximum of a window with ties, as on cpu', async () => {
  await assertSame('ties after relu', () => {
    const x = tf.relu(rand([2, 10, 10, 4], 9)) as tf.Tensor4D; // ~half zeros: many all-zero windows
    const dy = rand([2, 5, 5, 4], 10);
    return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'), dy)))(x);
  });
});

test('matMul and its gradients match cpu for every transposeA/transposeB combination', async () => {
  for (const [tA, tB] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    await assertSame(`matMul tA=${tA} tB=${tB}`, () => {
      const a = rand(tA ? [37, 19] : [19, 37], 20);
      const b = rand(tB ? [23, 37] : [37, 23], 21);
      const dy = rand([19, 23], 22);
      const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q, tA, tB), dy)))([a, b]);
      return [tf.matMul(a, b, tA, tB), ga!, gb!];
    });
  }
});

test('a*b^T matches cpu whichever of a or b is the larger operand', async () => {
  await assertSame('tB routes', () => [
    tf.matMul(rand([5, 16], 34), rand([64, 16], 35), false, true),
    tf.matMul(rand([64, 16], 36), rand([5, 16], 37), false, true),
  ]);
});

test('batched matMul with transposes and a broadcast batch matches cpu', async () => {
  await assertSame('batched', () => [
    tf.matMul(rand([3, 5, 7], 30), rand([3, 6, 7], 31), false, true),
    tf.matMul(rand([2, 3, 7, 5], 32), rand([1, 7, 4], 33), true, false),
  ]);
});

test('sum over leading axes (bias gradient) matches cpu, with and without keepDims', async () => {
  await assertSame('sum', () => {
    const x = rand([5, 13, 11, 12], 40);
    return [tf.sum(x, [0, 1, 2]), tf.sum(x, [0, 1], true), tf.sum(x, 0), tf.sum(rand([7, 3], 41), 0)];
  });
});

test('sums over other axes still match cpu (stock fallback)', async () => {
  await assertSame('sum other', () => {
    const x = rand([4, 6, 5], 42);
    return [tf.sum(x, 1), tf.sum(x, [0, 2]), tf.sum(x, -1, true), tf.sum(x), tf.sum(tf.cast(tf.mul(x, 10), 'int32'), 0)];
  });
});

test('bias-add gradient on a conv-shaped tensor matches cpu', async () => {
  await assertSame('bias grad', () => {
    const x = rand([3, 9, 9, 16], 50);
    const b = rand([16], 51);
    const dy = rand([3, 9, 9, 16], 52);
    return tf.grad((q: tf.Tensor) => tf.sum(tf.mul(tf.add(x, q), dy)))(b);
  });
});

test('add, sub and multiply match cpu for same shapes, row broadcasts, odd sizes and fallbacks', async () => {
  await assertSame('binary', () => {
    const a = rand([3, 5, 7, 8], 70);
    const b = rand([3, 5, 7, 8], 71);
    const row = rand([8], 72);
    const odd = rand([7, 3], 73);
    const out: tf.Tensor[] = [];
    for (const f of [tf.add, tf.sub, tf.mul]) {
      out.push(
        f(a, b),
        f(a, row),
        f(row, a),
        f(a, tf.reshape(row, [1, 1, 8])),
        f(odd, rand([7, 3], 74)),
        f(odd, rand([3], 75)),
        f(a, 0.5),
        f(rand([4, 1], 76), rand([1, 4], 77)),
      );
    }
    out.push(tf.cast(tf.mul(tf.cast(tf.mul(a, 10), 'int32'), tf.cast(tf.mul(b, 10), 'int32')), 'float32'));
    return out;
  });
});

test('step and relu match cpu, including NaN, zeros and sizes not a multiple of 4', async () => {
  await assertSame('step/relu', () => {
    const x = tf.concat([rand([37], 80), tf.tensor([NaN, 0, -0, -1, 1])]);
    return [tf.relu(x), tf.step(x), tf.step(x, 0.25), tf.relu(rand([2, 4, 4, 8], 81))];
  });
});

test('the relu gradient on wasm runs the fused kernel', async () => {
  await tf.setBackend('wasm');
  const info = await tf.profile(() => tf.grad((a: tf.Tensor) => tf.sum(tf.relu(a)))(rand([8, 8], 90)));
  await tf.setBackend('cpu');
  assert.ok(info.kernelNames.includes('PixelSenseReluGrad'), info.kernelNames.join(','));
  assert.ok(!info.kernelNames.includes('Step'), info.kernelNames.join(','));
});

test('second derivatives through relu match cpu', async () => {
  await assertSame('relu second order', () => {
    const x = tf.concat([rand([21], 91), tf.tensor([0, -0, 1e-30])]);
    const c = rand([24], 92);
    return tf.grad((cc: tf.Tensor) => tf.sum(tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.relu(xx), cc)))(x)))(c);
  });
});

test('relu gradient (NaN, infinities, sizes not a multiple of 4), clone and same-dtype cast match cpu', async () => {
  await assertSame('relu/clone/cast', () => {
    const x = rand([4, 6, 6, 8], 60);
    const xn = tf.concat([tf.reshape(x, [-1]), tf.tensor([NaN, 0, -1, 2, 0.5])]);
    const dn = tf.concat([rand([x.size], 61), tf.tensor([1, Infinity, -Infinity, NaN, -3])]);
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), x)))(x);
    const gn = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), dn)))(xn);
    return [g, gn, tf.clone(x), tf.cast(x, 'float32'), tf.cast(tf.cast(tf.mul(x, 5), 'int32'), 'float32')];
  });
});

/** tf.batchNorm with moving statistics (inference), variance kept positive. */
function inferenceBatchNorm(shape: number[], channels: number, seed: number, opts: { offset?: boolean; scale?: boolean } = {}): tf.Tensor {
  const x = rand(shape, seed);
  const variance = tf.add(tf.abs(rand([channels], seed + 2)), 0.25);
  const offset = opts.offset === false ? undefined : rand([channels], seed + 3);
  const scale = opts.scale === false ? undefined : rand([channels], seed + 4);
  return tf.batchNorm(x, tf.mul(rand([channels], seed + 1), 3), variance, offset, scale, 1e-3);
}

test('inference batch norm matches cpu after a conv and a dense layer, without offset or scale, and for channels not a multiple of 4', async () => {
  await assertSame('batchNorm', () => [
    inferenceBatchNorm([3, 5, 5, 8], 8, 400),
    inferenceBatchNorm([4, 128], 128, 410),
    inferenceBatchNorm([2, 4, 4, 8], 8, 420, { offset: false }),
    inferenceBatchNorm([2, 4, 4, 8], 8, 430, { scale: false }),
    inferenceBatchNorm([2, 3, 3, 6], 6, 440),
  ]);
});

test("inference batch norm with statistics of the input's full shape still matches cpu (stock fallback)", async () => {
  await assertSame('batchNorm full-shape', () => {
    const x = rand([2, 3, 4], 450);
    return tf.batchNorm(x, rand([2, 3, 4], 451), tf.add(tf.abs(rand([2, 3, 4], 452)), 0.5), rand([2, 3, 4], 453), rand([2, 3, 4], 454));
  });
});

test('inference batch norm gives the same bits with SIMD and in plain JS', async () => {
  await tf.setBackend('wasm');
  const run = (): Float32Array => tf.tidy(() => inferenceBatchNorm([3, 7, 7, 16], 16, 460).dataSync() as Float32Array);
  const withSimd = run();
  setSimdEnabled(false);
  try {
    assert.deepEqual(run(), withSimd);
  } finally {
    setSimdEnabled(true);
    await tf.setBackend('cpu');
  }
});

test('the SIMD helpers are available on this engine (else kernels use the JS paths)', async () => {
  await tf.setBackend('wasm');
  const ok = simdFor(tf.backend()) !== undefined;
  await tf.setBackend('cpu');
  assert.ok(ok);
});

test('with SIMD disabled the plain-JS paths still match cpu', async () => {
  setSimdEnabled(false);
  try {
    let seed = 300;
    for (const c of [convCases[0]!, convCases[2]!, convCases[6]!, convCases[7]!]) {
      seed += 3;
      await assertSame(`no-simd conv ${JSON.stringify(c)}`, convGrads(c, seed));
    }
    await assertSame('no-simd pool and sum', () => {
      const x = rand([2, 9, 9, 8], 310) as tf.Tensor4D;
      const dy = rand([2, 4, 4, 8], 311);
      return [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, 3, 2, 'valid'), dy)))(x), tf.sum(x, [0, 1, 2])];
    });
  } finally {
    setSimdEnabled(true);
  }
});

test('full CNN gradients on wasm match the cpu backend', async () => {
  const r = await onBoth(() => {
    const f = makeFixture('cnn', 8, 3);
    const g = f.gradients().map((v) => tf.tensor(v));
    f.dispose();
    return g;
  });
  r.cpu.forEach((c, i) => {
    assertClose(r.wasm[i]!, c, `cnn grad #${i}`, 2e-4);
  });
});

test('full ANN gradients on wasm match the cpu backend', async () => {
  const r = await onBoth(() => {
    const f = makeFixture('ann', 16, 4);
    const g = f.gradients().map((v) => tf.tensor(v));
    f.dispose();
    return g;
  });
  r.cpu.forEach((c, i) => {
    assertClose(r.wasm[i]!, c, `ann grad #${i}`);
  });
});

for (const kind of ['cnn', 'ann'] as const) {
  test(`${kind === 'ann' ? 'an' : 'a'} ${kind.toUpperCase()} train step leaks no tensors and no wasm data ids`, async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const f = makeFixture(kind, 32);
    f.step();
    const tensors = tf.memory().numTensors;
    const ids = backend.numDataIds();
    for (let i = 0; i < 3; i++) f.step();
    assert.equal(tf.memory().numTensors, tensors, 'tensors');
    assert.equal(backend.numDataIds(), ids, 'wasm data ids');
    f.dispose();
    await tf.setBackend('cpu');
  });
}

test('stock mode installs only the composed filter gradient, and a CNN step runs with it', () => {
  // Kernels are fixed at backend init, so stock mode needs its own process.
  const index = new URL('../src/shared/kernels/index.js', import.meta.url).href;
  const fixtures = new URL('../src/shared/kernels/fixtures.js', import.meta.url).href;
  const script = `
    import * as tf from '@tensorflow/tfjs-core';
    import '@tensorflow/tfjs-layers';
    const { installWasmKernels } = await import(${JSON.stringify(index)});
    const { makeFixture } = await import(${JSON.stringify(fixtures)});
    const { installed } = installWasmKernels({ stock: true });
    await tf.setBackend('wasm');
    const f = makeFixture('cnn', 4);
    const before = f.loss();
    for (let i = 0; i < 3; i++) f.step();
    console.log(JSON.stringify({ installed, before, after: f.loss() }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    cwd: new URL('..', import.meta.url).pathname,
  });
  assert.equal(r.status, 0, r.stderr);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  const res = JSON.parse(line) as { installed: string[]; before: number; after: number };
  assert.deepEqual(res.installed, ['Conv2DBackpropFilter']);
  assert.ok(Number.isFinite(res.after) && res.after < res.before, `${res.before} -> ${res.after}`);
});
