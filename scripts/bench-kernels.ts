/**
 * Benchmarks the PixelSense wasm kernels against stock tfjs-backend-wasm 4.22.
 *
 *   npm run bench:kernels -- [--repeats 5] [--batch 128] [--quick]
 *
 * Kernels must be registered before the wasm backend initialises, so stock
 * and ours each run in a child process (`--child stock|ours`), one thread
 * each (the non-threaded wasm build), one after the other. Reported numbers
 * are medians over `--repeats` runs: per-kernel ms for the hot training
 * kernels at the models' shapes (fresh inputs each run, as in training, so
 * XNNPACK re-packs weights like it does there), and train-step examples/s
 * for the ANN and the CNN (forward + variableGrads + SGD update).
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

interface Options { repeats: number; batch: number; quick: boolean; child?: 'stock' | 'ours' }

function parseArgs(argv: string[]): Options {
  const opts: Options = { repeats: 5, batch: 128, quick: false };
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
    else if (a === '--child') opts.child = next() === 'stock' ? 'stock' : 'ours';
    else if (a === '--help' || a === '-h') {
      console.log('usage: bench-kernels [--repeats N] [--batch B] [--quick]');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (opts.quick) opts.repeats = Math.min(opts.repeats, 3);
  return opts;
}

interface Row { label: string; shape: string; unit: 'ms' | 'ex/s'; value: number }
interface ChildResult { mode: string; installed: string[]; rows: Row[] }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function runChild(opts: Options): Promise<ChildResult> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-layers'); // registers gradient functions
  const { installWasmKernels } = await import('../src/shared/kernels/index.js');
  const { makeFixture } = await import('../src/shared/kernels/fixtures.js');
  const { installed } = installWasmKernels({ stock: opts.child === 'stock' });
  await tf.setBackend('wasm');
  const B = opts.batch;
  const rows: Row[] = [];
  type Inputs = Record<string, number[]>;
  const kernelCases: Array<{ label: string; kernel: string; inputs: Inputs; attrs: Record<string, unknown> }> = [
    { label: 'Conv2DBackpropFilter conv1 (Ci=1)', kernel: 'Conv2DBackpropFilter',
      inputs: { x: [B, 28, 28, 1], dy: [B, 26, 26, 32] },
      attrs: { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 1, 32] } },
    { label: 'Conv2DBackpropFilter conv2', kernel: 'Conv2DBackpropFilter',
      inputs: { x: [B, 13, 13, 32], dy: [B, 11, 11, 64] },
      attrs: { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 32, 64] } },
    { label: 'Conv2DBackpropInput conv2', kernel: 'Conv2DBackpropInput',
      inputs: { dy: [B, 11, 11, 64], filter: [3, 3, 32, 64] },
      attrs: { strides: 1, pad: 'valid', dataFormat: 'NHWC', inputShape: [B, 13, 13, 32] } },
    { label: 'MaxPoolGrad pool1', kernel: 'MaxPoolGrad',
      inputs: { dy: [B, 13, 13, 32], input: [B, 26, 26, 32], output: [B, 13, 13, 32] },
      attrs: { filterSize: 2, strides: 2, pad: 'valid' } },
    { label: 'MaxPoolGrad pool2', kernel: 'MaxPoolGrad',
      inputs: { dy: [B, 5, 5, 64], input: [B, 11, 11, 64], output: [B, 5, 5, 64] },
      attrs: { filterSize: 2, strides: 2, pad: 'valid' } },
    { label: 'BatchMatMul x*W', kernel: 'BatchMatMul',
      inputs: { a: [B, 784], b: [784, 256] }, attrs: { transposeA: false, transposeB: false } },
    { label: 'BatchMatMul transposeA (dW)', kernel: 'BatchMatMul',
      inputs: { a: [B, 784], b: [B, 256] }, attrs: { transposeA: true, transposeB: false } },
    { label: 'BatchMatMul transposeB (dx)', kernel: 'BatchMatMul',
      inputs: { a: [B, 128], b: [1600, 128] }, attrs: { transposeA: false, transposeB: true } },
    { label: 'Sum bias grad conv1', kernel: 'Sum',
      inputs: { x: [B, 26, 26, 32] }, attrs: { axis: [0, 1, 2], keepDims: false } },
  ];
  const reps = opts.repeats;
  for (const c of kernelCases) {
    const base = Object.fromEntries(Object.entries(c.inputs).map(([k, s], i) =>
      [k, tf.randomUniform(s, -1, 1, 'float32', i + 1)]));
    const times: number[] = [];
    for (let r = 0; r < reps + 2; r++) {
      // Fresh buffers (new tensor ids) each run, like activations in training.
      const inputs = tf.tidy(() => Object.fromEntries(Object.entries(base).map(([k, t]) => [k, tf.mul(t, 1)])));
      const t0 = performance.now();
      const out = tf.engine().runKernel(c.kernel, inputs, c.attrs as never) as import('@tensorflow/tfjs-core').Tensor;
      out.dataSync();
      const ms = performance.now() - t0;
      if (r >= 2) times.push(ms);
      tf.dispose([out, ...Object.values(inputs)]);
    }
    tf.dispose(Object.values(base));
    const shape = Object.values(c.inputs).map((s) => `[${s.join(',')}]`).join(' ');
    rows.push({ label: c.label, shape, unit: 'ms', value: median(times) });
  }
  for (const kind of ['ann', 'cnn'] as const) {
    const fixture = makeFixture(kind, B);
    const steps = kind === 'ann' ? (opts.quick ? 5 : 20) : (opts.quick ? 2 : 5);
    for (let i = 0; i < 3; i++) fixture.step();
    const rates: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      for (let i = 0; i < steps; i++) fixture.step();
      fixture.loss();
      rates.push((B * (steps) * 1000) / (performance.now() - t0));
    }
    fixture.dispose();
    rows.push({ label: `${kind.toUpperCase()} train step`, shape: `batch ${B}`, unit: 'ex/s', value: median(rates) });
  }
  return { mode: opts.child ?? 'ours', installed, rows };
}

function spawnChild(mode: 'stock' | 'ours', opts: Options): ChildResult {
  const script = fileURLToPath(import.meta.url);
  const args = [script, '--child', mode, '--repeats', String(opts.repeats), '--batch', String(opts.batch)];
  if (opts.quick) args.push('--quick');
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 16 << 20 });
  const line = r.stdout.split('\n').reverse().find((l) => l.startsWith('{"mode"'));
  if (r.status !== 0 || line === undefined) {
    throw new Error(`bench child '${mode}' failed (status ${r.status}):\n${r.stderr}`);
  }
  return JSON.parse(line) as ChildResult;
}

function fmt(v: number, unit: 'ms' | 'ex/s'): string {
  return unit === 'ms' ? `${v.toFixed(2)} ms` : `${Math.round(v).toLocaleString('en-US')} ex/s`;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.child !== undefined) {
    const res = await runChild(opts);
    process.stdout.write(`${JSON.stringify(res)}\n`);
    return;
  }
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  console.log(`Machine: ${cpu}, ${os.cpus().length} cores, Node ${process.version}, ` +
    `tfjs-backend-wasm one thread, batch ${opts.batch}, median of ${opts.repeats}${opts.quick ? ' (quick)' : ''}`);
  const stock = spawnChild('stock', opts);
  const ours = spawnChild('ours', opts);
  console.log('');
  console.log('| Kernel / step | Shapes | Stock | Ours | Speed-up |');
  console.log('|---|---|---:|---:|---:|');
  for (const row of ours.rows) {
    const s = stock.rows.find((r) => r.label === row.label);
    const speed = s === undefined ? NaN : row.unit === 'ms' ? s.value / row.value : row.value / s.value;
    console.log(`| ${row.label} | ${row.shape} | ${s === undefined ? '-' : fmt(s.value, s.unit)} | ` +
      `${fmt(row.value, row.unit)} | ${Number.isFinite(speed) ? `${speed.toFixed(1)}x` : '-'} |`);
  }
  console.log('');
  console.log(`Stock mode installs: ${stock.installed.join(', ')}`);
  console.log(`Ours installs: ${ours.installed.join(', ')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
