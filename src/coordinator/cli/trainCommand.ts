/**
 * `pixelsense train`: config -> data -> metrics endpoint -> run directory ->
 * trainer -> summary. Every check that can fail (config, data, port) runs
 * before the run directory is touched.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { configHash, loadConfig, type Config } from '../../shared/config.js';
import { initBackend } from '../../shared/backend.js';
import { InterruptedError, UsageError } from '../../shared/errors.js';
import { parseFaults } from '../../worker/faults.js';
import { describePlan, planModel } from '../../shared/modelPlan.js';
import { checkpointDir, latestCheckpoint } from '../training/checkpoint.js';
import { formatEvalReport } from '../report/classification.js';
import { loadFashionMnist } from '../data/fashionMnist.js';
import { TrainingMetrics } from '../metrics/metrics.js';
import { pushMetrics, startMetricsServer, type MetricsEndpoint } from '../metrics/metricsServer.js';
import { createReporter } from '../training/progress.js';
import { defaultRunDir, RunDir } from '../training/runDir.js';
import { Trainer, type TrainResult } from '../training/trainer.js';
import { trainOverrides, type TrainArgs } from './args.js';
import { resolveWorkerCount } from '../training/workerPool.js';
import { openCluster, type ClusterSession } from '../cluster/clusterSession.js';
import { withoutNatsSecrets, withoutUrlSecrets } from '../cluster/natsConnection.js';

/** The --json summary: the last line of stdout. */
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

export async function runTrain(argv: TrainArgs): Promise<number> {
  const resumeDir = argv.resume;
  const configFile = resumeDir ? join(resumeDir, 'config.yaml') : (argv.config as string);
  // A resume continues to the end of the configured epochs unless --max-steps
  // says where to stop: the stopping step of the first leg does not carry over.
  const overrides = { ...trainOverrides(argv), ...(resumeDir ? { 'train.maxSteps': argv['max-steps'] ?? null } : {}) };
  const cfg = loadConfig(configFile, overrides);
  checkFaultSpec();
  const resume = resumeDir ? latestCheckpoint(resumeDir, configHash(cfg)) : undefined;
  const reporter = createReporter();
  const log = (line: string) => reporter.log(line);

  // 0 = remote hosts only (cluster.nats): no local training threads.
  const workers = cfg.runtime.workers === 0 ? 0 : resolveWorkerCount(cfg.runtime.workers);
  const dataset = await loadFashionMnist({
    dataDir: argv['data-dir'],
    configDataDir: cfg.data.dir ?? undefined,
    download: cfg.data.download,
    trainLimit: cfg.data.trainLimit ?? undefined,
    testLimit: cfg.data.testLimit ?? undefined,
    log,
  });
  // The coordinator exports the model with tfjs-layers; same backend as the workers.
  const backend = await initBackend(cfg.runtime.backend, { stockKernels: cfg.runtime.stockKernels });
  const runId = randomUUID().slice(0, 8);
  const metrics = new TrainingMetrics({ runId, model: cfg.model.kind, backend, workers, configFile });
  const endpoint = cfg.metrics.enabled ? await startMetricsServer({ host: cfg.metrics.host, port: cfg.metrics.port, registry: metrics.registry }) : null;
  if (endpoint) log(`metrics: ${endpoint.url}`);

  const runDir = resumeDir ? RunDir.open(resumeDir) : RunDir.create(argv.out ?? defaultRunDir(cfg.model.kind), argv.overwrite === true);
  if (!resumeDir) {
    // --overwrite: a previous run's checkpoints must not outlive it, or a later
    // --resume of this directory could pick one of them up as the newest.
    if (argv.overwrite === true) rmSync(checkpointDir(runDir.path), { recursive: true, force: true });
    runDir.writeConfig(withoutNatsSecrets(cfg));
  }
  const plan = planModel(cfg.model);
  runDir.writeJson('run.json', {
    run_id: runId,
    model: cfg.model.kind,
    architecture: describePlan(plan),
    backend,
    workers,
    config_file: configFile,
    config_hash: configHash(cfg),
    data: dataset.source,
    argv: process.argv.slice(2).map(withoutUrlSecrets),
    metrics_url: endpoint?.url ?? null,
    resumed_from_step: resume?.step ?? null,
    started: new Date().toISOString(),
  });
  if (endpoint) runDir.writeJson('endpoint.json', { host: endpoint.host, port: endpoint.port, url: endpoint.url });
  logResolvedConfig(withoutNatsSecrets(cfg), configFile, log);
  log(`${describePlan(plan)} | backend ${backend} | ${workers} workers | data ${dataset.source} | out ${runDir.path}${resume ? ` | resuming at step ${resume.step}` : ''}`);
  if (resume && cfg.train.maxSteps !== null && resume.step >= cfg.train.maxSteps) {
    log(`the run is already at step ${resume.step} and --max-steps is ${cfg.train.maxSteps}: nothing to train; pass a larger --max-steps, or none to finish the run`);
  }

  let stop = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop) process.exit(130); // a second Ctrl-C: leave now
    stop = true;
    log(`${signal}: stopping after the current step and saving a checkpoint to ${checkpointDir(runDir.path)} (again to quit at once)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let cluster: ClusterSession | null = null;
  let result: TrainResult;
  try {
    if (cfg.cluster.nats !== null) {
      cluster = await openCluster(cfg, { runId, dataset, metrics, log: (r) => runDir.log(r), say: log });
      log(`cluster '${cfg.cluster.name}' on NATS ${cluster.servers}: ${workers} local workers${cfg.cluster.hosts > 0 ? `, waiting for ${cfg.cluster.hosts} hosts` : ''}`);
    }
    const executor = cluster?.factory;
    const trainer = await Trainer.create({ cfg, configFile, runDir, dataset, workers, metrics, reporter, resume, stopRequested: () => stop, ...(executor ? { executor } : {}) });
    try {
      result = await trainer.run();
    } finally {
      await trainer.close();
    }
  } finally {
    await cluster?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const summary: TrainSummary = {
    model: cfg.model.kind,
    backend: result.backend,
    workers,
    epochs: Number(result.epochs.toFixed(3)),
    steps: result.steps,
    examples_per_sec: Math.round(result.examplesPerSecond),
    test_accuracy: result.test.accuracy,
    test_loss: result.test.loss,
    out_dir: runDir.path,
    time_to_target_s: result.timeToTarget ? Number(result.timeToTarget.seconds.toFixed(2)) : null,
    stop_reason: result.stopReason,
    hosts: cluster?.hostsUsed() ?? 0,
  };
  runDir.writeJson('metrics.json', {
    model: cfg.model.kind,
    backend: result.backend,
    workers,
    config_file: configFile,
    epochs: summary.epochs,
    steps: result.steps,
    examples_per_sec: result.examplesPerSecond,
    wall_s: result.wallSeconds,
    time_to_target_s: summary.time_to_target_s,
    time_to_target_epochs: result.timeToTarget?.epochs ?? null,
    stop_reason: result.stopReason,
    step_timing: result.timing,
    test: result.test,
    history: result.history,
  });
  runDir.log({ event: 'end', ...summary });
  log(formatEvalReport(result.test));
  log(`done: test accuracy ${(100 * result.test.accuracy).toFixed(2)}% loss ${result.test.loss.toFixed(4)} | ${summary.examples_per_sec} ex/s | ${result.wallSeconds.toFixed(1)} s | ${result.stopReason} | model ${join(runDir.path, 'model', 'model.json')}`);

  await finishMetrics(cfg, metrics, endpoint, runId, log);
  if (argv.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (result.stopReason === 'interrupted') throw new InterruptedError(`interrupted at step ${result.steps}; resume with: pixelsense train --resume ${runDir.path}`);
  return 0;
}

/** A malformed PIXELSENSE_FAULT (test hook) would otherwise surface as a worker start-up failure. */
function checkFaultSpec(): void {
  try {
    parseFaults(process.env['PIXELSENSE_FAULT']);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function logResolvedConfig(cfg: Config, file: string, log: (line: string) => void): void {
  log(`config ${file} (resolved): ${JSON.stringify(cfg)}`);
}

async function finishMetrics(cfg: Config, metrics: TrainingMetrics, endpoint: MetricsEndpoint | null, runId: string, log: (line: string) => void): Promise<void> {
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
      log(`metrics: keeping ${endpoint.url} up for ${cfg.metrics.lingerSeconds} s`);
      await new Promise((resolve) => setTimeout(resolve, cfg.metrics.lingerSeconds * 1000));
    }
    await endpoint.close();
  }
}
