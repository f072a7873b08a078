/**
 * `pixelsense bench`: steady-state training throughput across worker counts
 * (issue #6), with the single-thread model.fit reference, the step-time
 * breakdown, memory, and optionally the gradient-transfer micro-benchmark.
 *
 * Every (model, repeat, W) gets a fresh Trainer (fresh pool, fresh weights,
 * the same batches from step 0) in a throw-away run directory; it runs
 * `warmup` steps, then `steps` measured steps through Trainer.runSteps (no
 * evaluation, checkpoints or export), then closes. Within a repeat the order
 * is model.fit, W=1, W=2, ...: configurations interleave, so a burst of load
 * from elsewhere on the machine spreads over all of them instead of one.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, platform, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendChoice } from '../../shared/backend.js';
import { parseConfig, type Config } from '../../shared/config.js';
import type { SharedDataset } from '../../shared/dataset.js';
import { UsageError } from '../../shared/errors.js';
import { planModel } from '../../shared/modelPlan.js';
import { parseWorkerList } from './args.js';
import { aggregate, benchMarkdown, jsonSummary, machineLine, sampleFromSteps, scalingSpec, type BenchReport, type BenchSample, type FitSample, type ModelKind } from '../bench/bench.js';
import { renderFigure } from '../report/charts.js';
import { measureComm } from '../bench/commBench.js';
import { loadFashionMnist } from '../data/fashionMnist.js';
import { measureFit } from '../bench/fitBaseline.js';
import { TrainingMetrics } from '../metrics/metrics.js';
import { createReporter } from '../training/progress.js';
import { RunDir, writeFileAtomic } from '../training/runDir.js';
import { Trainer } from '../training/trainer.js';
import { openCluster, type ClusterSession } from '../cluster/clusterSession.js';
import { clusterMarkdown, type ClusterSample } from '../bench/clusterBench.js';

export interface BenchArgs {
  model?: 'ann' | 'cnn' | 'both';
  workers?: string;
  steps?: number;
  warmup?: number;
  'batch-size'?: number;
  repeats?: number;
  backend?: string;
  'stock-kernels'?: boolean;
  'data-dir'?: string;
  comm?: boolean;
  ceiling?: boolean;
  out?: string;
  json?: boolean;
  nats?: string;
  'nats-creds'?: string;
  hosts?: number;
  cluster?: string;
}

const CONFIG_LABEL = '<pixelsense bench>';
const CHART = 'bench-scaling';

/**
 * Micro-batch size per model, as in the shipped configs (configs/ann.yaml,
 * configs/cnn.yaml): the ANN's step is so small that per-op overhead favours
 * fewer, larger micro-batches.
 */
export const BENCH_MICRO_BATCH: Readonly<Record<ModelKind, number>> = { ann: 64, cnn: 32 };

/** The config a bench run trains with: the model's defaults, metrics off, evaluation never due within the run. */
export function benchConfig(kind: ModelKind, o: { batchSize: number; steps: number; warmup: number; workers: number; backend: BackendChoice; stockKernels: boolean }): Config {
  return parseConfig(
    {
      model: { kind },
      train: { batchSize: o.batchSize, microBatchSize: Math.min(BENCH_MICRO_BATCH[kind], o.batchSize), maxSteps: o.warmup + o.steps, epochs: 1 },
      runtime: { workers: o.workers, backend: o.backend, stockKernels: o.stockKernels },
      metrics: { enabled: false },
    },
    CONFIG_LABEL,
  );
}

export function defaultBenchDir(now = new Date()): string {
  return join('runs', `bench-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-')}`);
}

/** One repeat of one (model, W): a fresh Trainer, warm-up steps, measured steps. */
async function measureTraining(
  cfg: Config,
  dataset: SharedDataset,
  workers: number,
  o: { warmup: number; steps: number; repeat: number; ceiling: boolean },
): Promise<{ sample: BenchSample; backend: string; bytesPerStep?: { sent: number; received: number } }> {
  const { warmup, steps, repeat } = o;
  const dir = mkdtempSync(join(tmpdir(), 'pixelsense-bench-'));
  const metrics = new TrainingMetrics({ runId: 'bench', model: cfg.model.kind, backend: cfg.runtime.backend, workers, configFile: CONFIG_LABEL });
  const runId = `bench${Math.random().toString(36).slice(2, 8)}`;
  const say = (line: string) => process.stderr.write(`${line}\n`);
  let cluster: ClusterSession | null = null;
  try {
    if (cfg.cluster.nats !== null) cluster = await openCluster(cfg, { runId, dataset, metrics, log: () => undefined, say });
    const trainer = await Trainer.create({
      cfg,
      configFile: CONFIG_LABEL,
      runDir: RunDir.create(dir, false),
      dataset,
      workers,
      metrics,
      reporter: createReporter({ quiet: true }),
      stopRequested: () => false,
      ...(cluster ? { executor: cluster.factory } : {}),
    });
    try {
      await trainer.runSteps(warmup);
      const before = cluster?.traffic();
      const t0 = performance.now();
      const reports = await trainer.runSteps(steps);
      const wall = (performance.now() - t0) / 1000;
      const after = cluster?.traffic();
      const bytesPerStep = before && after ? { sent: (after.sent - before.sent) / steps, received: (after.received - before.received) / steps } : undefined;
      const sample = sampleFromSteps({ model: cfg.model.kind, workers, repeat }, reports, wall, process.memoryUsage().rss);
      if (o.ceiling) {
        // Same pool, already warm: `steps` more steps' worth of work per worker, uncoordinated.
        const u = await trainer.runUncoordinated(steps);
        sample.uncoordinated_examples_per_sec = u.seconds > 0 ? u.examples / u.seconds : null;
      }
      return { sample, backend: trainer.backend, ...(bytesPerStep ? { bytesPerStep } : {}) };
    } finally {
      await trainer.close();
    }
  } finally {
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runBench(argv: BenchArgs): Promise<number> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const models: ModelKind[] = argv.model === 'ann' || argv.model === 'cnn' ? [argv.model] : ['ann', 'cnn'];
  const requested = parseWorkerList(argv.workers ?? '1,2');
  const counts = [...new Set([1, ...requested])].sort((a, b) => a - b);
  if (!requested.includes(1)) log('bench: adding W=1, the reference for speed-up and efficiency');
  const steps = argv.steps ?? 30;
  const warmup = argv.warmup ?? 5;
  const repeats = argv.repeats ?? 3;
  const batchSize = argv['batch-size'] ?? 128;
  const backendChoice = (argv.backend ?? 'auto') as BackendChoice;
  const stockKernels = argv['stock-kernels'] === true;
  for (const [k, v] of [['steps', steps], ['repeats', repeats], ['batch-size', batchSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${k} must be a positive integer`);
  }
  const cores = availableParallelism();
  const outDir = argv.out ?? defaultBenchDir();
  mkdirSync(outDir, { recursive: true });
  const started = new Date().toISOString();
  const loadStart = loadavg()[0] ?? 0;

  const dataset = await loadFashionMnist({ dataDir: argv['data-dir'], testLimit: 100, log });
  if (dataset.train.count < batchSize) throw new UsageError(`--batch-size ${batchSize} is larger than the training set (${dataset.train.count})`);
  const over = counts.filter((w) => w > cores);
  log(`bench: ${models.join(', ')} | workers ${counts.join(', ')}${over.length ? ` (${over.join(', ')} oversubscribed: ${cores} cores)` : ''} | ${warmup} + ${steps} steps x ${repeats} | batch ${batchSize} | out ${outDir}`);

  const microBatch = Object.fromEntries(models.map((m) => [m, Math.min(BENCH_MICRO_BATCH[m], batchSize)])) as Record<ModelKind, number>;
  for (const m of models) {
    const perStep = Math.ceil(batchSize / microBatch[m]);
    const idle = counts.filter((w) => w > perStep);
    if (idle.length) log(`bench: a ${m} step has ${perStep} micro-batches of ${microBatch[m]}: at W=${idle.join(', ')} only ${perStep} workers get work`);
  }

  const clusterSamples: ClusterSample[] = [];
  const hosts = argv.hosts ?? (argv.nats ? 1 : 0);
  if (argv.ceiling && argv.nats) throw new UsageError('--ceiling measures local threads only; run it without --nats');
  if (argv.nats) log(`bench: also a multi-host run per model and repeat: ${hosts} host${hosts === 1 ? '' : 's'} on NATS, no local training workers`);
  const samples: BenchSample[] = [];
  const fits: FitSample[] = [];
  let backend = backendChoice as string;
  for (const model of models) {
    for (let repeat = 1; repeat <= repeats; repeat++) {
      const base = { batchSize, steps, warmup, backend: backendChoice, stockKernels };
      const fit = await measureFit({ config: benchConfig(model, { ...base, workers: 1 }), backend: backendChoice, stockKernels, dataset, warmup, steps });
      fits.push({ model, repeat, examples_per_sec: fit.examplesPerSecond, step_ms: fit.stepSeconds * 1000 });
      log(`${model} model.fit   repeat ${repeat}/${repeats}: ${Math.round(fit.examplesPerSecond)} ex/s (${(fit.stepSeconds * 1000).toFixed(1)} ms/step)`);
      for (const workers of counts) {
        const cfg = benchConfig(model, { ...base, workers });
        const m = await measureTraining(cfg, dataset, workers, { warmup, steps, repeat, ceiling: argv.ceiling === true });
        backend = m.backend;
        samples.push(m.sample);
        const s = m.sample;
        log(
          `${model} W=${workers}${workers > cores ? '*' : ''} repeat ${repeat}/${repeats}: ${Math.round(s.examples_per_sec)} ex/s | step ${s.step_ms.toFixed(1)} ms = ` +
            `compute ${s.compute_ms.toFixed(1)} + broadcast ${s.broadcast_ms.toFixed(2)} + wait ${s.wait_ms.toFixed(1)} + reduce ${s.reduce_ms.toFixed(2)} + update ${s.update_ms.toFixed(2)} + overhead ${s.overhead_ms.toFixed(2)}` +
            (s.uncoordinated_examples_per_sec !== null ? ` | uncoordinated ${Math.round(s.uncoordinated_examples_per_sec)} ex/s` : ''),
        );
      }
      if (argv.nats) {
        const raw = benchConfig(model, { ...base, workers: 1 });
        const cfg = parseConfig({ ...raw, runtime: { ...raw.runtime, workers: 0 }, cluster: { ...raw.cluster, nats: argv.nats, credsFile: argv['nats-creds'] ?? null, hosts, name: argv.cluster ?? 'pixelsense' } }, CONFIG_LABEL);
        const m = await measureTraining(cfg, dataset, 0, { warmup, steps, repeat, ceiling: false });
        const s = m.sample;
        const b = m.bytesPerStep ?? { sent: 0, received: 0 };
        clusterSamples.push({ model, repeat, hosts, examples_per_sec: s.examples_per_sec, step_ms: s.step_ms, bytes_sent_per_step: b.sent, bytes_received_per_step: b.received });
        log(`${model} ${hosts} hosts (no local workers) repeat ${repeat}/${repeats}: ${Math.round(s.examples_per_sec)} ex/s | step ${s.step_ms.toFixed(1)} ms | ${(b.sent / 1e6).toFixed(2)} MB sent + ${(b.received / 1e6).toFixed(2)} MB received per step`);
      }
    }
  }

  let comm = null;
  if (argv.comm) {
    const params = planModel(benchConfig('cnn', { batchSize, steps, warmup, workers: 1, backend: backendChoice, stockKernels }).model).paramCount;
    log(`bench --comm: moving a ${((params * 4) / 1e6).toFixed(2)} MB gradient between threads`);
    comm = await measureComm(params);
  }

  const { rows, baseline } = aggregate(samples, fits, cores);
  const report: BenchReport & { cluster?: ClusterSample[] } = {
    machine: { cpu: cpus()[0]?.model.trim() ?? 'unknown CPU', cores, node: process.version, backend, platform: `${platform()} ${release()}`, load_start: loadStart, load_end: loadavg()[0] ?? 0 },
    settings: { models, workers: counts, steps, warmup, batch_size: batchSize, micro_batch_size: microBatch, repeats },
    started,
    results: rows,
    baseline_fit: baseline,
    comm,
    samples,
    fit_samples: fits,
    ...(clusterSamples.length ? { cluster: clusterSamples } : {}),
  };
  await renderFigure(scalingSpec(rows), outDir, CHART);
  const md = benchMarkdown(report, `${CHART}.png`) + (clusterSamples.length ? clusterMarkdown(clusterSamples, samples) : '');
  writeFileAtomic(join(outDir, 'bench.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(outDir, 'bench.md'), md);
  log(machineLine(report.machine));
  log(`bench: wrote ${join(outDir, 'bench.md')}, bench.json, ${CHART}.svg, ${CHART}.png`);
  if (argv.json) process.stdout.write(`${JSON.stringify(jsonSummary(report, outDir))}\n`);
  else process.stdout.write(md);
  return 0;
}
