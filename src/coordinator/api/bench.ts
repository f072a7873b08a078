/**
 * bench(): steady-state training throughput across worker counts with the
 * single-thread model.fit reference, the step-time breakdown, memory, and
 * optionally the gradient-transfer micro-benchmark and the uncoordinated
 * ceiling. Prints nothing: progress leaves through `log`, the result is
 * bench.json's object, and the files are written only when `out` is given.
 *
 * Every (model, repeat, W) gets a fresh Trainer (fresh pool, fresh weights,
 * the same batches from step 0) in a throw-away run directory; the bench
 * runs Trainer.trainSteps, the loop as training runs it between
 * evaluations (no evaluation, checkpoints or export), and reads each step's
 * StepEvent: `warmup` steps, then `steps` measured steps, then it closes. With `ceiling`, a second pool computes the same W shards
 * uncoordinated (bench/ceiling.ts), in turns of CEILING_SEGMENT_STEPS with
 * the training, so each repeat's ratio compares the two at the same
 * moments. Within a repeat the order
 * is model.fit, W=1, W=2, ...: configurations interleave, so a burst of load
 * from elsewhere on the machine spreads over all of them instead of one.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, platform, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type Config } from '../../shared/config.js';
import type { SharedDataset } from '../../shared/dataset.js';
import { UsageError } from '../../shared/errors.js';
import { planModel } from '../../shared/modelPlan.js';
import { aggregate, benchMarkdown, sampleFromSteps, scalingSpec } from '../bench/bench.js';
import type { BenchReport, BenchSample, ClusterSample, FitSample, ModelKind } from '../bench/benchReport.js';
import { clusterMarkdown } from '../bench/clusterBench.js';
import { openCluster, type ClusterSession } from '../cluster/clusterSession.js';
import { CEILING_SEGMENT_STEPS, UncoordinatedPool } from '../bench/ceiling.js';
import { measureComm } from '../bench/commBench.js';
import { measureFit } from '../bench/fitBaseline.js';
import { loadFashionMnist } from '../data/fashionMnist.js';
import { TrainingMetrics } from '../metrics/metrics.js';
import { renderFigure } from '../report/charts.js';
import { createReporter } from '../training/progress.js';
import { RunDir, writeFileAtomic } from '../training/runDir.js';
import type { StepEvent } from '../training/stepEvent.js';
import { Trainer } from '../training/trainer.js';
import type { BackendChoice } from './options.js';
import type { BenchOptions } from './toolOptions.js';

const CONFIG_LABEL = '<pixelsense bench>';
/** The scaling chart's base name: `<out>/bench-scaling.svg` and `.png`, linked from bench.md. */
export const BENCH_CHART = 'bench-scaling';

/**
 * Micro-batch size per model, as in the shipped configs (configs/ann.yaml,
 * configs/cnn.yaml): the ANN's step is so small that per-op overhead favours
 * fewer, larger micro-batches.
 */
export const BENCH_MICRO_BATCH: Readonly<Record<ModelKind, number>> = { ann: 64, cnn: 32 };

/** The config a bench run trains with: the model's defaults, metrics off, evaluation never due within the run. */
export function benchConfig(
  kind: ModelKind,
  o: { batchSize: number; steps: number; warmup: number; workers: number; backend: BackendChoice; stockKernels: boolean },
): Config {
  return parseConfig(
    {
      model: { kind },
      train: {
        batchSize: o.batchSize,
        microBatchSize: Math.min(BENCH_MICRO_BATCH[kind], o.batchSize),
        maxSteps: o.warmup + o.steps,
        epochs: 1,
      },
      runtime: { workers: o.workers, backend: o.backend, stockKernels: o.stockKernels },
      metrics: { enabled: false },
    },
    CONFIG_LABEL,
  );
}

/** `total` as consecutive counts of at most `size`. */
function segments(total: number, size: number): number[] {
  return Array.from({ length: Math.ceil(total / size) }, (_, k) => Math.min(size, total - k * size));
}

/** One repeat of one (model, W): a fresh Trainer, warm-up steps, measured steps. */
async function measureTraining(
  cfg: Config,
  dataset: SharedDataset,
  workers: number,
  o: { warmup: number; steps: number; repeat: number; ceiling: boolean; log: (line: string) => void },
): Promise<{ sample: BenchSample; backend: string; bytesPerStep?: { sent: number; received: number } }> {
  const { warmup, steps, repeat } = o;
  const dir = mkdtempSync(join(tmpdir(), 'pixelsense-bench-'));
  const metrics = new TrainingMetrics({
    runId: 'bench',
    model: cfg.model.kind,
    backend: cfg.runtime.backend,
    workers,
    configFile: CONFIG_LABEL,
  });
  const runId = `bench${Math.random().toString(36).slice(2, 8)}`;
  let cluster: ClusterSession | null = null;
  const runDir = RunDir.create(dir, false);
  try {
    if (cfg.cluster.nats !== null) cluster = await openCluster(cfg, { runId, dataset, metrics, log: () => undefined, say: o.log });
    const trainer = await Trainer.create({
      cfg,
      configFile: CONFIG_LABEL,
      runDir,
      dataset,
      workers,
      metrics,
      reporter: createReporter({ quiet: true }),
      stopRequested: () => false,
      ...(cluster ? { executor: cluster.factory } : {}),
    });
    let sample: BenchSample;
    let bytesPerStep: { sent: number; received: number } | undefined;
    let backend: string;
    let uncoordinated: UncoordinatedPool | null = null;
    try {
      // --ceiling: the same W uncoordinated, on a second pool that idles while the trainer's runs and the other way round.
      if (o.ceiling) uncoordinated = await UncoordinatedPool.start(cfg, dataset, workers, warmup);
      const measured: StepEvent[] = [];
      trainer.events.on('step', (e) => {
        if (e.step > warmup) measured.push(e);
      });
      await trainer.trainSteps(warmup);
      // The measured steps as training runs them (each next step sent before the previous update). With --ceiling,
      // in segments that alternate with as many uncoordinated steps: each pays one unpipelined first step.
      let wall = 0;
      let ceiling = { examples: 0, seconds: 0 };
      const before = cluster?.traffic();
      for (const n of segments(steps, uncoordinated ? CEILING_SEGMENT_STEPS : steps)) {
        const t0 = performance.now();
        await trainer.trainSteps(n);
        wall += (performance.now() - t0) / 1000;
        if (uncoordinated) {
          const u = await uncoordinated.measure(n);
          ceiling = { examples: ceiling.examples + u.examples, seconds: ceiling.seconds + u.seconds };
        }
      }
      const after = cluster?.traffic();
      if (before && after)
        bytesPerStep = { sent: (after.sent - before.sent) / steps, received: (after.received - before.received) / steps };
      sample = sampleFromSteps({ model: cfg.model.kind, workers, repeat }, measured, wall, process.memoryUsage().rss);
      if (uncoordinated) sample.uncoordinated_examples_per_sec = ceiling.seconds > 0 ? ceiling.examples / ceiling.seconds : null;
      backend = trainer.backend;
    } finally {
      await uncoordinated?.close();
      await trainer.close();
    }
    return { sample, backend, ...(bytesPerStep ? { bytesPerStep } : {}) };
  } finally {
    await cluster?.close();
    runDir.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The options with their defaults, checked: a UsageError names the option. */
function settings(o: BenchOptions) {
  const models: ModelKind[] = [...new Set<ModelKind>(o.models ?? ['ann', 'cnn'])];
  if (models.length === 0 || models.some((m) => m !== 'ann' && m !== 'cnn'))
    throw new UsageError(`models must be a non-empty list of 'ann' and 'cnn' (got ${JSON.stringify(o.models)})`);
  const requested = [...(o.workers ?? [1, 2])];
  if (requested.length === 0 || requested.some((n) => !Number.isInteger(n) || n < 1 || n > 256)) {
    throw new UsageError(`workers must be a non-empty list of integers from 1 to 256 (got ${JSON.stringify(o.workers)})`);
  }
  const steps = o.steps ?? 30;
  const warmup = o.warmup ?? 5;
  const repeats = o.repeats ?? 3;
  const batchSize = o.batchSize ?? 128;
  for (const [k, v] of [
    ['steps', steps],
    ['repeats', repeats],
    ['batchSize', batchSize],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`${k} must be a positive integer (got ${v})`);
  }
  if (!Number.isInteger(warmup) || warmup < 0) throw new UsageError(`warmup must be an integer >= 0 (got ${warmup})`);
  const counts = [...new Set([1, ...requested])].sort((a, b) => a - b);
  return {
    models,
    requested,
    counts,
    steps,
    warmup,
    repeats,
    batchSize,
    backend: o.backend ?? 'auto',
    stockKernels: o.stockKernels === true,
  };
}

/**
 * Run the scaling benchmark and resolve with bench.json's object. With `out`,
 * also writes bench.json, bench.md and the scaling chart there. Rejects with
 * UsageError (bad options) or DataError before anything is measured.
 */
export async function bench(o: BenchOptions = {}): Promise<BenchReport> {
  const log = o.log ?? (() => {});
  const { models, requested, counts, steps, warmup, repeats, batchSize, backend: backendChoice, stockKernels } = settings(o);
  if (!requested.includes(1)) log('bench: adding W=1, the reference for speed-up and efficiency');
  const cores = availableParallelism();
  if (o.out !== undefined) mkdirSync(o.out, { recursive: true });
  const started = new Date().toISOString();
  const loadStart = loadavg()[0] ?? 0;

  const dataset = await loadFashionMnist({ dataDir: o.dataDir, testLimit: 100, log });
  if (dataset.train.count < batchSize)
    throw new UsageError(`batch size ${batchSize} is larger than the training set (${dataset.train.count})`);
  const over = counts.filter((w) => w > cores);
  log(
    `bench: ${models.join(', ')} | workers ${counts.join(', ')}${over.length ? ` (${over.join(', ')} oversubscribed: ${cores} cores)` : ''} | ${warmup} + ${steps} steps x ${repeats} | batch ${batchSize}` +
      (o.out !== undefined ? ` | out ${o.out}` : ''),
  );

  const microBatch = Object.fromEntries(models.map((m) => [m, Math.min(BENCH_MICRO_BATCH[m], batchSize)])) as Record<ModelKind, number>;
  for (const m of models) {
    const perStep = Math.ceil(batchSize / microBatch[m]);
    const idle = counts.filter((w) => w > perStep);
    if (idle.length)
      log(`bench: a ${m} step has ${perStep} micro-batches of ${microBatch[m]}: at W=${idle.join(', ')} only ${perStep} workers get work`);
  }

  const clusterSamples: ClusterSample[] = [];
  const hosts = o.hosts ?? 1;
  if (o.nats !== undefined) {
    if (o.ceiling === true) throw new UsageError('ceiling measures local threads only; run it without nats');
    if (!Number.isInteger(hosts) || hosts < 1) throw new UsageError(`hosts must be a positive integer (got ${hosts})`);
    log(`bench: also a multi-host run per model and repeat: ${hosts} host${hosts === 1 ? '' : 's'} on NATS, no local training workers`);
  }
  const samples: BenchSample[] = [];
  const fits: FitSample[] = [];
  let backend = backendChoice as string;
  for (const model of models) {
    for (let repeat = 1; repeat <= repeats; repeat++) {
      const base = { batchSize, steps, warmup, backend: backendChoice, stockKernels };
      const fit = await measureFit({
        config: benchConfig(model, { ...base, workers: 1 }),
        backend: backendChoice,
        stockKernels,
        dataset,
        warmup,
        steps,
      });
      fits.push({ model, repeat, examples_per_sec: fit.examplesPerSecond, step_ms: fit.stepSeconds * 1000 });
      log(
        `${model} model.fit   repeat ${repeat}/${repeats}: ${Math.round(fit.examplesPerSecond)} ex/s (${(fit.stepSeconds * 1000).toFixed(1)} ms/step)`,
      );
      for (const workers of counts) {
        const cfg = benchConfig(model, { ...base, workers });
        const m = await measureTraining(cfg, dataset, workers, { warmup, steps, repeat, ceiling: o.ceiling === true, log });
        backend = m.backend;
        samples.push(m.sample);
        const s = m.sample;
        log(
          `${model} W=${workers}${workers > cores ? '*' : ''} repeat ${repeat}/${repeats}: ${Math.round(s.examples_per_sec)} ex/s | step ${s.step_ms.toFixed(1)} ms = ` +
            `compute ${s.compute_ms.toFixed(1)} + broadcast ${s.broadcast_ms.toFixed(2)} + wait ${s.wait_ms.toFixed(1)} + reduce ${s.reduce_ms.toFixed(2)} + update ${s.update_ms.toFixed(2)} + overhead ${s.overhead_ms.toFixed(2)}` +
            (s.uncoordinated_examples_per_sec !== null
              ? ` | uncoordinated ${Math.round(s.uncoordinated_examples_per_sec)} ex/s (training / uncoordinated ${(s.examples_per_sec / s.uncoordinated_examples_per_sec).toFixed(2)})`
              : ''),
        );
      }
      if (o.nats !== undefined) {
        const raw = benchConfig(model, { ...base, workers: 1 });
        const cluster = { ...raw.cluster, nats: o.nats, credsFile: o.natsCreds ?? null, hosts, name: o.cluster ?? raw.cluster.name };
        const cfg = parseConfig({ ...raw, runtime: { ...raw.runtime, workers: 0 }, cluster }, CONFIG_LABEL);
        const m = await measureTraining(cfg, dataset, 0, { warmup, steps, repeat, ceiling: false, log });
        const s = m.sample;
        const b = m.bytesPerStep ?? { sent: 0, received: 0 };
        clusterSamples.push({
          model,
          repeat,
          hosts,
          examples_per_sec: s.examples_per_sec,
          step_ms: s.step_ms,
          bytes_sent_per_step: b.sent,
          bytes_received_per_step: b.received,
        });
        log(
          `${model} ${hosts} hosts (no local workers) repeat ${repeat}/${repeats}: ${Math.round(s.examples_per_sec)} ex/s | step ${s.step_ms.toFixed(1)} ms | ` +
            `${(b.sent / 1e6).toFixed(2)} MB sent + ${(b.received / 1e6).toFixed(2)} MB received per step`,
        );
      }
    }
  }

  let comm = null;
  if (o.comm) {
    const params = planModel(
      benchConfig('cnn', { batchSize, steps, warmup, workers: 1, backend: backendChoice, stockKernels }).model,
    ).paramCount;
    log(`bench --comm: moving a ${((params * 4) / 1e6).toFixed(2)} MB gradient between threads`);
    comm = await measureComm(params);
  }

  const { rows, baseline } = aggregate(samples, fits, cores);
  const report: BenchReport = {
    machine: {
      cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
      cores,
      node: process.version,
      backend,
      platform: `${platform()} ${release()}`,
      load_start: loadStart,
      load_end: loadavg()[0] ?? 0,
    },
    settings: { models, workers: counts, steps, warmup, batch_size: batchSize, micro_batch_size: microBatch, repeats },
    started,
    results: rows,
    baseline_fit: baseline,
    comm,
    samples,
    fit_samples: fits,
    ...(clusterSamples.length ? { cluster: clusterSamples } : {}),
  };
  if (o.out !== undefined) await writeBenchFiles(report, o.out);
  return report;
}

/** bench.json, bench.md and the scaling chart (SVG and PNG) in `outDir`. */
export async function writeBenchFiles(report: BenchReport, outDir: string): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  await renderFigure(scalingSpec(report.results), outDir, BENCH_CHART);
  writeFileAtomic(join(outDir, 'bench.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(outDir, 'bench.md'), benchDocument(report));
}

/** bench.md's text: the tables, and the multi-host table when the run had one. */
export function benchDocument(report: BenchReport): string {
  return benchMarkdown(report, `${BENCH_CHART}.png`) + (report.cluster?.length ? clusterMarkdown(report.cluster, report.samples) : '');
}
