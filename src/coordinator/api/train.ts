/**
 * train(): config -> data -> backend -> metrics endpoint -> run directory ->
 * trainer -> metrics.json. Every check that can fail (config, data, port)
 * runs before the run directory is touched. Prints nothing and installs no
 * signal handlers: progress leaves through the callbacks and `log`, and an
 * AbortSignal stops the run.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { configHash, type Config, type Overrides } from '../../shared/config.js';
import { initBackend, tfjsNodeUnavailableReason } from '../../shared/backend.js';
import { UsageError } from '../../shared/errors.js';
import { describePlan, planModel } from '../../shared/modelPlan.js';
import { latestCheckpoint } from '../training/checkpoint.js';
import { datasetHash } from '../data/datasetHash.js';
import { checkResumeIdentity } from '../training/resumeIdentity.js';
import { loadFashionMnist } from '../data/fashionMnist.js';
import { TrainingMetrics } from '../metrics/metrics.js';
import { pushMetrics, startMetricsServer, type MetricsEndpoint } from '../metrics/metricsServer.js';
import { liveRoutes } from '../live/liveRoutes.js';
import { RunState } from '../live/runState.js';
import { createReporter, type Reporter } from '../training/progress.js';
import { defaultRunDir, RunDir } from '../training/runDir.js';
import { Trainer } from '../training/trainer.js';
import { resolveWorkerCount } from '../training/workerPool.js';
import { openCluster, type ClusterSession } from '../cluster/clusterSession.js';
import { withoutNatsSecrets, withoutUrlSecrets } from '../cluster/natsConnection.js';
import { checkAutoBackend } from './backendCheck.js';
import { configLabel, loadConfig } from './config.js';
import type { ConfigSource, TrainOptions, TrainResult } from './options.js';

/** What the CLI adds to a library call: its progress bar (the library's default reporter is silent). */
export interface TrainHooks {
  readonly reporter?: Reporter;
  /**
   * Config overrides (dotted paths) on top of the options': the CLI's flag
   * table (cli/args.ts trainOverrides), so a flag added there reaches the
   * config without a matching library option. Undefined values are skipped.
   */
  readonly overrides?: Overrides;
  /** The result, as soon as it is on disk: before the metrics push and linger, so the summary is not held back by them. */
  readonly onResult?: (result: TrainResult) => void;
  /**
   * The trainer, once it exists: the CLI's second Ctrl-C checkpoints the last
   * completed step through it before the process exits at once.
   */
  readonly onTrainer?: (trainer: Trainer) => void;
  /** The CLI's --verbose: also log why `auto` did not pick tfjs-node. */
  readonly verbose?: boolean;
}

/** Options that may change on resume: they do not alter the weights a run produces. */
const RESUMABLE = new Set([
  'nats',
  'hosts',
  'natsCreds',
  'cluster',
  'workers',
  'maxSteps',
  'backend',
  'stockKernels',
  'dataDir',
  'metrics',
  'overwrite',
  'resume',
  'signal',
  'onStep',
  'onEval',
  'onStart',
  'log',
]);

/**
 * Train a model. Resolves when the run ends (completed, max steps, target
 * accuracy, or aborted through `signal`: then with stopReason 'interrupted'
 * after a checkpoint). Rejects with a PixelSenseError subclass for bad input
 * (ConfigError, DataError, RunDirError, MetricsError, CheckpointError, ...).
 */
export function train(config: ConfigSource | undefined, options: TrainOptions = {}): Promise<TrainResult> {
  return runTraining(config, options, {});
}

/** The config overrides (dotted paths) that the options stand for; undefined ones keep the file's value. */
export function trainConfigOverrides(o: TrainOptions): Overrides {
  const m = o.metrics;
  const metrics = typeof m === 'object' ? m : undefined;
  return {
    'runtime.workers': o.workers,
    'runtime.backend': o.backend,
    'runtime.stockKernels': o.stockKernels,
    'data.dir': o.dataDir,
    'train.epochs': o.epochs,
    'train.maxSteps': o.resume !== undefined ? (o.maxSteps ?? null) : o.maxSteps,
    'train.batchSize': o.batchSize,
    'optimizer.lr': o.lr,
    'train.seed': o.seed,
    'train.targetAccuracy': o.targetAccuracy,
    'metrics.enabled': typeof m === 'boolean' ? m : metrics?.enabled,
    'metrics.host': metrics?.host,
    'metrics.port': metrics?.port,
    'metrics.lingerSeconds': metrics?.lingerSeconds,
    'metrics.pushgateway': metrics?.pushgateway,
    'cluster.nats': o.nats,
    'cluster.hosts': o.hosts,
    'cluster.credsFile': o.natsCreds,
    'cluster.name': o.cluster,
  };
}

export async function runTraining(source: ConfigSource | undefined, o: TrainOptions, hooks: TrainHooks): Promise<TrainResult> {
  const resumeDir = o.resume;
  if (resumeDir !== undefined && source !== undefined) {
    throw new UsageError('give either a config or resume (a run directory, which holds its config), not both');
  }
  if (resumeDir === undefined && source === undefined) throw new UsageError('a config is required (a YAML path or an object), or resume');
  if (resumeDir !== undefined) {
    const bad = Object.keys(o).filter((k) => !RESUMABLE.has(k) && (o as Record<string, unknown>)[k] !== undefined);
    if (bad.length > 0) throw new UsageError(`resume continues the run as configured; it does not take ${bad.join(', ')}`);
    if (o.out !== undefined) throw new UsageError('resume writes into the run directory it resumes; drop out');
  }
  const configSource: ConfigSource = resumeDir !== undefined ? join(resumeDir, 'config.yaml') : (source as ConfigSource);
  const configFile = configLabel(configSource);
  // A resume continues to the end of the configured epochs unless maxSteps
  // says where to stop: the stopping step of the first leg does not carry over.
  const overrides = { ...trainConfigOverrides(o), ...definedOnly(hooks.overrides ?? {}) };
  let cfg = loadConfig(configSource, overrides);
  const plan = planModel(cfg.model);
  // The checkpoint's sizes are checked against this config's model before anything is restored.
  const resume =
    resumeDir !== undefined
      ? latestCheckpoint(resumeDir, configHash(cfg), { weights: plan.paramCount + plan.stateCount, params: plan.paramCount })
      : undefined;
  const reporter = hooks.reporter ?? createReporter({ quiet: true });
  const log = o.log ?? (() => {});

  // 0 = remote hosts only (cluster.nats): no local training threads.
  const workers = cfg.runtime.workers === 0 ? 0 : resolveWorkerCount(cfg.runtime.workers);
  const dataset = await loadFashionMnist({
    dataDir: o.dataDir,
    configDataDir: cfg.data.dir ?? undefined,
    download: cfg.data.download,
    trainLimit: cfg.data.trainLimit ?? undefined,
    testLimit: cfg.data.testLimit ?? undefined,
    log,
  });
  const written = cfg;
  // `auto` on tfjs-node: its gradient must match wasm's before we train on it, else wasm.
  cfg = await checkAutoBackend(cfg, dataset, log);
  // The coordinator exports the model with tfjs-layers; same backend as the workers.
  const backend = await initBackend(cfg.runtime.backend, { stockKernels: cfg.runtime.stockKernels });
  const fallback = backend !== 'tensorflow' && cfg.runtime.backend === 'auto' ? tfjsNodeUnavailableReason() : undefined;
  if (fallback !== undefined && hooks.verbose === true)
    log(`backend: auto chose ${backend}: @tensorflow/tfjs-node did not load (${fallback})`);
  // A resume must continue the same run: the same data (by content, not path) and the same backend.
  const dataHash = datasetHash(dataset);
  if (resume && resumeDir !== undefined)
    for (const note of checkResumeIdentity(resumeDir, resume, { dataHash, backend, dataSource: dataset.source })) log(`note: ${note}`);
  const runId = randomUUID().slice(0, 8);
  const metrics = new TrainingMetrics({ runId, model: cfg.model.kind, backend, workers, configFile });
  // The live page (GET / beside /metrics) follows the trainer's events; it is read-only.
  const live = RunState.forConfig(cfg, {
    runId,
    architecture: describePlan(plan),
    backend,
    workers,
    configFile,
    trainCount: dataset.train.count,
    outDir: resumeDir ?? o.out ?? '',
  });
  const endpoint = cfg.metrics.enabled
    ? await startMetricsServer({ host: cfg.metrics.host, port: cfg.metrics.port, registry: metrics.registry, routes: liveRoutes(live) })
    : null;
  let trainer: Trainer | undefined;
  let cluster: ClusterSession | null = null;
  // Declared out here so `finally` closes its log.jsonl.
  let opened: RunDir | undefined;
  try {
    if (endpoint) log(`metrics: ${endpoint.url}`);
    if (endpoint) log(`live: ${endpoint.baseUrl}`);
    const runDir =
      resumeDir !== undefined ? RunDir.open(resumeDir) : RunDir.create(o.out ?? defaultRunDir(cfg.model.kind), o.overwrite === true);
    opened = runDir;
    // overwrite: RunDir.create has removed the previous run's model, checkpoints and records.
    if (resumeDir === undefined) runDir.writeConfig(withoutNatsSecrets(written));
    live.info.outDir = runDir.path;
    runDir.writeRunLeg({
      run_id: runId,
      model: cfg.model.kind,
      architecture: describePlan(plan),
      backend,
      backend_requested: written.runtime.backend,
      workers,
      config_file: configFile,
      config_hash: configHash(cfg),
      data: dataset.source,
      data_hash: dataHash,
      argv: process.argv.slice(2).map(withoutUrlSecrets),
      metrics_url: endpoint?.url ?? null,
      resumed_from_step: resume?.step ?? null,
      started: new Date().toISOString(),
    });
    if (endpoint) runDir.writeJson('endpoint.json', { host: endpoint.host, port: endpoint.port, url: endpoint.url });
    o.onStart?.({
      runId,
      outDir: runDir.path,
      config: withoutNatsSecrets(written),
      configFile,
      backend,
      workers,
      architecture: describePlan(plan),
      dataSource: dataset.source,
      trainExamples: dataset.train.count,
      testExamples: dataset.test.count,
      metricsUrl: endpoint?.url ?? null,
      resumedFromStep: resume?.step ?? null,
    });
    if (resume && cfg.train.maxSteps !== null && resume.step >= cfg.train.maxSteps) {
      log(
        `the run is already at step ${resume.step} and --max-steps is ${cfg.train.maxSteps}: nothing to train; pass a larger --max-steps, or none to finish the run`,
      );
    }

    if (cfg.cluster.nats !== null) {
      cluster = await openCluster(cfg, { runId, dataset, metrics, log: (r) => runDir.log(r), say: log });
      log(
        `cluster '${cfg.cluster.name}' on NATS ${cluster.servers}: ${workers} local workers${cfg.cluster.hosts > 0 ? `, waiting for ${cfg.cluster.hosts} hosts` : ''}`,
      );
    }
    const executor = cluster?.factory;
    const signal = o.signal;
    trainer = await Trainer.create({
      cfg,
      configFile,
      runDir,
      dataset,
      dataHash,
      workers,
      metrics,
      reporter,
      resume,
      stopRequested: () => signal?.aborted === true,
      ...(executor ? { executor } : {}),
    });
    // An abort puts the last completed step on disk at once (a few ms to ~100 ms):
    // a SIGKILL may follow within a container's grace period, and the step in
    // flight may hang until the task timeout. The trainer checkpoints again
    // after that step, before its final evaluation.
    const t = trainer;
    signal?.addEventListener('abort', () => t.checkpointIfBehind(), { once: true });
    hooks.onTrainer?.(t);
    const { onStep, onEval } = o;
    if (onStep) {
      trainer.events.on('step', (s) =>
        onStep({
          step: s.step,
          epoch: s.epoch,
          epochs: s.epochs,
          lastStep: s.lastStep,
          loss: s.loss,
          accuracy: s.accuracy,
          examplesPerSecond: s.examplesPerSecond,
          lr: s.lr,
          elapsedSeconds: s.elapsedSeconds,
        }),
      );
    }
    if (onEval) trainer.events.on('eval', (r) => onEval({ ...r }));
    live.follow(trainer.events);
    let r: Awaited<ReturnType<Trainer['run']>>;
    try {
      r = await trainer.run();
    } catch (err) {
      live.finish('failed');
      throw err;
    }
    live.finish(r.stopReason === 'interrupted' ? 'interrupted' : 'finished');

    const result: TrainResult = {
      stopReason: r.stopReason,
      testAccuracy: r.test.accuracy,
      testLoss: r.test.loss,
      examplesPerSecond: r.examplesPerSecond,
      timeToTargetSeconds: r.timeToTarget ? Number(r.timeToTarget.seconds.toFixed(2)) : null,
      timeToTargetEpochs: r.timeToTarget?.epochs ?? null,
      outDir: runDir.path,
      modelDir: join(runDir.path, 'model'),
      runId,
      model: cfg.model.kind,
      backend: r.backend,
      workers,
      hosts: cluster?.hostsUsed() ?? 0,
      steps: r.steps,
      epochs: r.epochs,
      wallSeconds: r.wallSeconds,
      test: r.test,
      history: r.history,
    };
    runDir.writeJson('metrics.json', {
      model: cfg.model.kind,
      backend: r.backend,
      workers,
      config_file: configFile,
      epochs: Number(r.epochs.toFixed(3)),
      steps: r.steps,
      examples_per_sec: r.examplesPerSecond,
      wall_s: r.wallSeconds,
      time_to_target_s: result.timeToTargetSeconds,
      time_to_target_epochs: result.timeToTargetEpochs,
      stop_reason: r.stopReason,
      step_timing: r.timing,
      test: r.test,
      history: r.history,
    });
    runDir.log({ event: 'end', ...trainSummary(result) });
    hooks.onResult?.(result);
    await finishMetrics(cfg, metrics, endpoint, runId, log, o.signal);
    return result;
  } finally {
    await trainer?.close();
    await cluster?.close();
    // An error before the normal finish must not leave the port bound (closing twice is harmless).
    await endpoint?.close().catch(() => {});
    opened?.close();
  }
}

function definedOnly(o: Overrides): Overrides {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** The --json summary (the last line of `pixelsense train --json`) and the log's 'end' event. */
export interface TrainSummary {
  model: string;
  backend: string;
  workers: number;
  epochs: number;
  steps: number;
  examples_per_sec: number;
  test_accuracy: number;
  test_loss: number;
  out_dir: string;
  time_to_target_s: number | null;
  stop_reason: TrainResult['stopReason'];
  /** Remote hosts that computed at least one micro-batch (0 without cluster.nats). */
  hosts: number;
}

export function trainSummary(r: TrainResult): TrainSummary {
  return {
    model: r.model,
    backend: r.backend,
    workers: r.workers,
    epochs: Number(r.epochs.toFixed(3)),
    steps: r.steps,
    examples_per_sec: Math.round(r.examplesPerSecond),
    test_accuracy: r.testAccuracy,
    test_loss: r.testLoss,
    out_dir: r.outDir,
    time_to_target_s: r.timeToTargetSeconds,
    stop_reason: r.stopReason,
    hosts: r.hosts,
  };
}

async function finishMetrics(
  cfg: Config,
  metrics: TrainingMetrics,
  endpoint: MetricsEndpoint | null,
  runId: string,
  log: (line: string) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (cfg.metrics.pushgateway) {
    try {
      await pushMetrics(cfg.metrics.pushgateway, metrics.registry, 'pixelsense', { run_id: runId });
      log(`metrics pushed to ${cfg.metrics.pushgateway}`);
    } catch (err) {
      log(`warning: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (endpoint) {
    if (cfg.metrics.lingerSeconds > 0) {
      log(`metrics: keeping ${endpoint.url} and the live page ${endpoint.baseUrl} up for ${cfg.metrics.lingerSeconds} s`);
      // The abort signal ends the linger early: the run is already on disk.
      await sleep(cfg.metrics.lingerSeconds * 1000, undefined, signal ? { signal } : {}).catch(() => undefined);
    }
    await endpoint.close();
  }
}
