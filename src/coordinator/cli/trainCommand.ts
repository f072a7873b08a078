/**
 * `pixelsense train`: config -> data -> metrics endpoint -> run directory ->
 * trainer -> summary. Every check that can fail (config, data, port) runs
 * before the run directory is touched.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { configHash, loadConfig, type Config } from '../../shared/config.js';
import { initBackend, tfjsNodeUnavailableReason } from '../../shared/backend.js';
import { InterruptedError, UsageError } from '../../shared/errors.js';
import { parseFaults } from '../../worker/faults.js';
import { describePlan, planModel } from '../../shared/modelPlan.js';
import { checkpointDir, latestCheckpoint } from '../training/checkpoint.js';
import { formatEvalReport } from '../report/classification.js';
import { loadFashionMnist } from '../data/fashionMnist.js';
import { datasetHash } from '../data/datasetHash.js';
import { checkResumeIdentity } from '../training/resumeIdentity.js';
import { TrainingMetrics } from '../metrics/metrics.js';
import { pushMetrics, startMetricsServer, type MetricsEndpoint } from '../metrics/metricsServer.js';
import { createReporter } from '../training/progress.js';
import { defaultRunDir, RunDir } from '../training/runDir.js';
import { Trainer, type TrainResult } from '../training/trainer.js';
import { trainOverrides, type TrainArgs } from './args.js';
import { resolveWorkerCount } from '../training/workerPool.js';

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
}

export async function runTrain(argv: TrainArgs): Promise<number> {
  const resumeDir = argv.resume;
  const configFile = resumeDir ? join(resumeDir, 'config.yaml') : (argv.config as string);
  // A resume continues to the end of the configured epochs unless --max-steps
  // says where to stop: the stopping step of the first leg does not carry over.
  const overrides = { ...trainOverrides(argv), ...(resumeDir ? { 'train.maxSteps': argv['max-steps'] ?? null } : {}) };
  const cfg = loadConfig(configFile, overrides);
  checkFaultSpec();
  const plan = planModel(cfg.model);
  const resume = resumeDir ? latestCheckpoint(resumeDir, configHash(cfg), { weights: plan.paramCount + plan.stateCount, params: plan.paramCount }) : undefined;
  const reporter = createReporter();
  const log = (line: string) => reporter.log(line);

  const workers = resolveWorkerCount(cfg.runtime.workers);
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
  const fallback = backend !== 'tensorflow' && cfg.runtime.backend === 'auto' ? tfjsNodeUnavailableReason() : undefined;
  if (argv.verbose && fallback !== undefined) log(`backend: auto chose ${backend}: @tensorflow/tfjs-node did not load (${fallback})`);
  const dataHash = datasetHash(dataset);
  if (resume && resumeDir) for (const note of checkResumeIdentity(resumeDir, resume, { dataHash, backend, dataSource: dataset.source })) log(`note: ${note}`);
  const runId = randomUUID().slice(0, 8);
  const metrics = new TrainingMetrics({ runId, model: cfg.model.kind, backend, workers, configFile });
  const endpoint = cfg.metrics.enabled ? await startMetricsServer({ host: cfg.metrics.host, port: cfg.metrics.port, registry: metrics.registry }) : null;
  if (endpoint) log(`metrics: ${endpoint.url}`);

  const runDir = resumeDir ? RunDir.open(resumeDir) : RunDir.create(argv.out ?? defaultRunDir(cfg.model.kind), argv.overwrite === true);
  // --overwrite: RunDir.create has removed the previous run's model, checkpoints and records.
  if (!resumeDir) runDir.writeConfig(cfg);
  runDir.writeRunLeg({
    run_id: runId,
    model: cfg.model.kind,
    architecture: describePlan(plan),
    backend,
    workers,
    config_file: configFile,
    config_hash: configHash(cfg),
    data: dataset.source,
    data_hash: dataHash,
    argv: process.argv.slice(2),
    metrics_url: endpoint?.url ?? null,
    resumed_from_step: resume?.step ?? null,
    started: new Date().toISOString(),
  });
  if (endpoint) runDir.writeJson('endpoint.json', { host: endpoint.host, port: endpoint.port, url: endpoint.url });
  logResolvedConfig(cfg, configFile, log);
  log(`${describePlan(plan)} | backend ${backend} | ${workers} workers | data ${dataset.source} | out ${runDir.path}${resume ? ` | resuming at step ${resume.step}` : ''}`);
  if (resume && cfg.train.maxSteps !== null && resume.step >= cfg.train.maxSteps) {
    log(`the run is already at step ${resume.step} and --max-steps is ${cfg.train.maxSteps}: nothing to train; pass a larger --max-steps, or none to finish the run`);
  }

  let stop = false;
  let trainer: Trainer | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    // Each signal first puts the last completed step on disk (synchronous; a
    // few ms to ~100 ms): a SIGKILL may follow, and the step in flight may
    // hang until the task timeout.
    const file = trainer?.checkpointIfBehind() ?? null;
    if (stop) {
      // A second signal: leave now, even with a worker stuck mid-task.
      log(`${signal} again: exiting now; newest checkpoint ${file ?? '(none)'}; resume with: pixelsense train --resume ${runDir.path}`);
      process.exit(130);
    }
    stop = true;
    log(`${signal}: stopping after the current step and saving a checkpoint to ${checkpointDir(runDir.path)} (again to quit at once)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  trainer = await Trainer.create({ cfg, configFile, runDir, dataset, dataHash, workers, metrics, reporter, resume, stopRequested: () => stop });
  let result: TrainResult;
  try {
    result = await trainer.run();
  } finally {
    await trainer.close();
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
