/**
 * Benchmarks the PixelSense wasm kernels against stock tfjs-backend-wasm 4.22.
 *
 *   npm run bench:kernels -- [--repeats 5] [--batch 128] [--quick] [--clock wall|cpu]
 *
 * Kernels must be registered before the wasm backend initialises, so stock
 * and ours each live in a child process (one thread each: the non-threaded
 * wasm build). Both children stay up and the parent asks them for one
 * measurement at a time, alternating stock/ours, so load from other
 * processes hits both sides alike. Reported numbers are medians over
 * `--repeats`: per-kernel ms at the models' shapes (fresh input tensors
 * each time, as in training, so XNNPACK re-packs weights as it does there),
 * and train-step examples/s for the ANN and the CNN (forward +
 * variableGrads + SGD update). `--clock cpu` times with this process's CPU
 * time instead of wall time, which is steadier on a shared machine.
 */
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

interface Options {
  repeats: number;
  batch: number;
  quick: boolean;
  clock: 'wall' | 'cpu';
  child?: 'stock' | 'ours';
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { repeats: 5, batch: 128, quick: false, clock: 'wall' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`missing value for ${a}`);
      return v;
    };
    if (a === '--repeats') opts.repeats = Math.max(1, Number.parseInt(next(), 10));
    else if (a === '--batch') opts.batch = Math.max(1, Number.parseInt(next(), 10));
    else if (a === '--quick') opts.quick = true;
    else if (a === '--clock') opts.clock = next() === 'cpu' ? 'cpu' : 'wall';
    else if (a === '--child') opts.child = next() === 'stock' ? 'stock' : 'ours';
    else if (a === '--help' || a === '-h') {
      console.log('usage: bench-kernels [--repeats N] [--batch B] [--quick] [--clock wall|cpu]');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (opts.quick) opts.repeats = Math.min(opts.repeats, 3);
  return opts;
}

interface Case {
  label: string;
  shape: string;
  unit: 'ms' | 'ex/s';
}

function kernelCases(B: number): Array<Case & { kernel: string; inputs: Record<string, number[]>; attrs: Record<string, unknown> }> {
  const k = (label: string, kernel: string, inputs: Record<string, number[]>, attrs: Record<string, unknown>) => ({
    label,
    kernel,
    inputs,
    attrs,
    unit: 'ms' as const,
    shape: Object.values(inputs)
      .map((s) => `[${s.join(',')}]`)
      .join(' '),
  });
  return [
    k(
      'Conv2DBackpropFilter conv1 (Ci=1)',
      'Conv2DBackpropFilter',
      { x: [B, 28, 28, 1], dy: [B, 26, 26, 32] },
      { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 1, 32] },
    ),
    k(
      'Conv2DBackpropFilter conv2',
      'Conv2DBackpropFilter',
      { x: [B, 13, 13, 32], dy: [B, 11, 11, 64] },
      { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 32, 64] },
    ),
    k(
      'Conv2DBackpropInput conv2',
      'Conv2DBackpropInput',
      { dy: [B, 11, 11, 64], filter: [3, 3, 32, 64] },
      { strides: 1, pad: 'valid', dataFormat: 'NHWC', inputShape: [B, 13, 13, 32] },
    ),
    k(
      'Conv2D conv2 (stock on both, reference)',
      'Conv2D',
      { x: [B, 13, 13, 32], filter: [3, 3, 32, 64] },
      { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1 },
    ),
    k(
      'MaxPoolGrad pool1',
      'MaxPoolGrad',
      { dy: [B, 13, 13, 32], input: [B, 26, 26, 32], output: [B, 13, 13, 32] },
      { filterSize: 2, strides: 2, pad: 'valid' },
    ),
    k(
      'MaxPoolGrad pool2',
      'MaxPoolGrad',
      { dy: [B, 5, 5, 64], input: [B, 11, 11, 64], output: [B, 5, 5, 64] },
      { filterSize: 2, strides: 2, pad: 'valid' },
    ),
    k('BatchMatMul x*W', 'BatchMatMul', { a: [B, 784], b: [784, 256] }, { transposeA: false, transposeB: false }),
    k('BatchMatMul transposeA (dW)', 'BatchMatMul', { a: [B, 784], b: [B, 256] }, { transposeA: true, transposeB: false }),
    k('BatchMatMul transposeB (dx)', 'BatchMatMul', { a: [B, 128], b: [1600, 128] }, { transposeA: false, transposeB: true }),
    k('Sum bias grad conv1', 'Sum', { x: [B, 26, 26, 32] }, { axis: [0, 1, 2], keepDims: false }),
    k('Relu gradient conv1 (Step+Cast+Mul / fused)', 'ReluGrad', { dy: [B, 26, 26, 32], x: [B, 26, 26, 32] }, {}),
    // Evaluation and predict (moving statistics); the variance's random sign makes some outputs NaN, which costs nothing extra.
    k(
      'FusedBatchNorm conv1 (inference)',
      'FusedBatchNorm',
      { x: [B, 26, 26, 32], mean: [32], variance: [32], offset: [32], scale: [32] },
      { varianceEpsilon: 1e-3 },
    ),
  ];
}

const stepCases = (B: number): Case[] => [
  { label: 'ANN train step', shape: `batch ${B}`, unit: 'ex/s' },
  { label: 'CNN train step', shape: `batch ${B}`, unit: 'ex/s' },
];

type Msg = { type: 'ready'; installed: string[] } | { type: 'result'; wall: number; cpu: number };

/** Child: sets up its kernels, then answers one measurement per request. */
async function runChild(opts: Options): Promise<void> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-layers'); // registers gradient functions
  const { installWasmKernels } = await import('../src/shared/kernels/index.js');
  const { makeFixture } = await import('../src/shared/kernels/fixtures.js');
  const { installed } = installWasmKernels({ stock: opts.child === 'stock' });
  await tf.setBackend('wasm');
  const B = opts.batch;
  const kcases = kernelCases(B);
  const fixtures = new Map<string, ReturnType<typeof makeFixture>>();
  const cpuMs = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const warmed = new Set<number>();

  const measureKernel = (i: number): { wall: number; cpu: number } => {
    const c = kcases[i]!;
    const base = Object.fromEntries(Object.entries(c.inputs).map(([name, s], j) => [name, tf.randomUniform(s, -1, 1, 'float32', j + 1)]));
    let res = { wall: 0, cpu: 0 };
    for (let r = warmed.has(i) ? 0 : 2; r >= 0; r--) {
      // Fresh buffers (new tensor ids) each run, like activations in training.
      const inputs = tf.tidy(() => Object.fromEntries(Object.entries(base).map(([name, t]) => [name, tf.mul(t, 1)])));
      // Wasm kernels are synchronous: the work is done when the call returns.
      const c0 = cpuMs();
      const t0 = performance.now();
      const out =
        c.kernel === 'ReluGrad'
          ? // The relu gradient exactly as training dispatches it.
            tf.grad((x: import('@tensorflow/tfjs-core').Tensor) => tf.relu(x))(inputs.x!, inputs.dy)
          : (tf.engine().runKernel(c.kernel, inputs, c.attrs as never) as import('@tensorflow/tfjs-core').Tensor);
      res = { wall: performance.now() - t0, cpu: cpuMs() - c0 };
      tf.dispose([out, ...Object.values(inputs)]);
    }
    warmed.add(i);
    tf.dispose(Object.values(base));
    return res;
  };

  const measureStep = (kind: 'ann' | 'cnn'): { wall: number; cpu: number } => {
    let f = fixtures.get(kind);
    if (f === undefined) {
      f = makeFixture(kind, B);
      for (let i = 0; i < 3; i++) f.step();
      fixtures.set(kind, f);
    }
    const steps = kind === 'ann' ? (opts.quick ? 5 : 20) : opts.quick ? 2 : 5;
    const c0 = cpuMs();
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) f.step();
    const wall = performance.now() - t0;
    const cpu = cpuMs() - c0;
    return { wall: (B * steps * 1000) / wall, cpu: (B * steps * 1000) / cpu };
  };

  process.on('message', (m: { type: string; index?: number }) => {
    if (m.type === 'exit') process.exit(0);
    const i = m.index ?? 0;
    const r = i < kcases.length ? measureKernel(i) : measureStep(i === kcases.length ? 'ann' : 'cnn');
    process.send?.({ type: 'result', ...r } satisfies Msg);
  });
  process.send?.({ type: 'ready', installed } satisfies Msg);
}

class Child {
  private readonly proc: ChildProcess;
  private pending: ((m: Msg) => void) | undefined;
  readonly ready: Promise<string[]>;

  constructor(mode: 'stock' | 'ours', opts: Options) {
    const args = ['--child', mode, '--batch', String(opts.batch)];
    if (opts.quick) args.push('--quick');
    this.proc = fork(fileURLToPath(import.meta.url), args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.ready = new Promise((resolve, reject) => {
      this.pending = (m) => {
        if (m.type === 'ready') resolve(m.installed);
      };
      this.proc.once('exit', (code) => reject(new Error(`bench child '${mode}' exited (${code})`)));
    });
    this.proc.on('message', (m: Msg) => this.pending?.(m));
  }

  measure(index: number): Promise<{ wall: number; cpu: number }> {
    return new Promise((resolve) => {
      this.pending = (m) => {
        if (m.type === 'result') resolve({ wall: m.wall, cpu: m.cpu });
      };
      this.proc.send({ type: 'measure', index });
    });
  }

  close(): void {
    this.proc.send({ type: 'exit' });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function fmt(v: number, unit: 'ms' | 'ex/s'): string {
  return unit === 'ms' ? `${v.toFixed(2)} ms` : `${Math.round(v).toLocaleString('en-US')} ex/s`;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.child !== undefined) {
    await runChild(opts);
    return;
  }
  const cases: Case[] = [...kernelCases(opts.batch), ...stepCases(opts.batch)];
  const stock = new Child('stock', opts);
  const ours = new Child('ours', opts);
  const [stockInstalled, oursInstalled] = await Promise.all([stock.ready, ours.ready]);
  const values = cases.map(() => ({ stock: [] as number[], ours: [] as number[] }));
  for (let r = 0; r < opts.repeats; r++) {
    for (let i = 0; i < cases.length; i++) {
      // Alternate who goes first, so drifting load favours neither side.
      const order: Array<['stock' | 'ours', Child]> =
        r % 2 === 0
          ? [
              ['stock', stock],
              ['ours', ours],
            ]
          : [
              ['ours', ours],
              ['stock', stock],
            ];
      for (const [name, child] of order) {
        const m = await child.measure(i);
        values[i]![name].push(opts.clock === 'cpu' ? m.cpu : m.wall);
      }
    }
  }
  stock.close();
  ours.close();
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  console.log(
    `Machine: ${cpu}, ${os.cpus().length} cores, Node ${process.version}; tfjs-backend-wasm 4.22, ` +
      `one thread; batch ${opts.batch}; median of ${opts.repeats}${opts.quick ? ' (quick)' : ''}; ${opts.clock} clock`,
  );
  console.log('');
  console.log('| Kernel / step | Shapes | Stock | Ours | Speed-up |');
  console.log('|---|---|---:|---:|---:|');
  cases.forEach((c, i) => {
    const s = median(values[i]!.stock);
    const o = median(values[i]!.ours);
    const speed = c.unit === 'ms' ? s / o : o / s;
    console.log(`| ${c.label} | ${c.shape} | ${fmt(s, c.unit)} | ${fmt(o, c.unit)} | ${speed.toFixed(1)}x |`);
  });
  console.log('');
  console.log(`Stock mode installs: ${stockInstalled.join(', ')}`);
  console.log(`Ours installs: ${oursInstalled.join(', ')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
