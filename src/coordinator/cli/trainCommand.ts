/**
 * `pixelsense train`: the library's train() (src/coordinator/api/train.ts)
 * plus what only a process has: the progress bar on stderr, SIGINT/SIGTERM
 * turned into an AbortSignal, the run summary, and the exit code.
 */
import { join } from 'node:path';
import { configToYaml, type Config } from '../../shared/config.js';
import { InterruptedError } from '../../shared/errors.js';
import { parseFaults } from '../../shared/faults.js';
import { checkpointDir } from '../training/checkpoint.js';
import type { Trainer } from '../training/trainer.js';
import { formatEvalReport } from '../report/classification.js';
import { createReporter } from '../training/progress.js';
import { runTraining, trainSummary, type TrainSummary } from '../api/train.js';
import type { RunStart, TrainOptions, TrainResult } from '../api/options.js';
import { trainOverrides, type TrainArgs } from './args.js';

export type { TrainSummary } from '../api/train.js';

/**
 * The CLI flags as library options. Flags that set config fields reach the
 * config through trainOverrides (args.ts), the one flag-to-field table.
 */
export function trainOptionsFromArgs(argv: TrainArgs): TrainOptions {
  return { dataDir: argv['data-dir'], maxSteps: argv['max-steps'], out: argv.out, overwrite: argv.overwrite, resume: argv.resume };
}

export async function runTrain(argv: TrainArgs): Promise<number> {
  checkFaultSpec();
  const reporter = createReporter();
  const log = (line: string) => reporter.log(line);
  const controller = new AbortController();
  let outDir = '';
  let trainer: Trainer | undefined;
  /** Set once the run is on disk (before the metrics linger). */
  let result: TrainResult | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      // A second signal: put the last completed step on disk, then leave now,
      // even with a worker stuck mid-task.
      const file = trainer?.checkpointIfBehind() ?? null;
      log(`${signal} again: exiting now; newest checkpoint ${file ?? '(none)'}; resume with: pixelsense train --resume ${outDir}`);
      process.exit(130);
    }
    if (result !== undefined) log(`${signal}: closing the metrics endpoint and the live page`);
    else log(`${signal}: stopping after the current step and saving a checkpoint to ${checkpointDir(outDir)} (again to quit at once)`);
    controller.abort(); // the library checkpoints the last completed step at once
  };
  const options: TrainOptions = {
    ...trainOptionsFromArgs(argv),
    signal: controller.signal,
    log,
    onStart: (run) => {
      outDir = run.outDir;
      logRunStart(run, log, argv.verbose === true);
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    },
  };
  try {
    await runTraining(argv.resume !== undefined ? undefined : (argv.config as string), options, {
      reporter,
      overrides: trainOverrides(argv),
      verbose: argv.verbose === true,
      onTrainer: (t) => {
        trainer = t;
      },
      onResult: (r) => {
        result = r;
        log(formatEvalReport(r.test));
        log(
          `done: test accuracy ${(100 * r.testAccuracy).toFixed(2)}% loss ${r.testLoss.toFixed(4)} | ${Math.round(r.examplesPerSecond)} ex/s | ${r.wallSeconds.toFixed(1)} s | ${r.stopReason} | model ${join(r.outDir, 'model', 'model.json')}`,
        );
      },
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const r = result as TrainResult;
  const summary: TrainSummary = trainSummary(r);
  if (argv.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (r.stopReason === 'interrupted')
    throw new InterruptedError(`interrupted at step ${r.steps}; resume with: pixelsense train --resume ${r.outDir}`);
  return 0;
}

/** A malformed PIXELSENSE_FAULT (test hook) is a UsageError here rather than a worker start-up failure. */
function checkFaultSpec(): void {
  parseFaults(process.env['PIXELSENSE_FAULT']);
}

/**
 * The run's opening lines: a one-line config summary and the plan line. The
 * full resolved config is in <out>/config.yaml; --verbose also prints it.
 */
function logRunStart(run: RunStart, log: (line: string) => void, verbose: boolean): void {
  log(configSummary(run.config, run.configFile, run.outDir, run.workers));
  if (verbose) log(`config ${run.configFile} (resolved):\n${configToYaml(run.config).trimEnd()}`);
  log(
    `${run.architecture} | backend ${run.backend} | ${run.workers} workers | data ${run.dataSource} | out ${run.outDir}${run.resumedFromStep !== null ? ` | resuming at step ${run.resumedFromStep}` : ''}`,
  );
}

/** `config <file>: model cnn | data 2048 train / 1000 test | 2 workers | 2 epochs | batch 128 (micro 32) | adam lr 0.001 | out <dir>` */
export function configSummary(cfg: Config, file: string, out: string, workers: number): string {
  const limit = (n: number | null, split: string) => (n === null ? `all ${split}` : `${n} ${split}`);
  return (
    `config ${file}: model ${cfg.model.kind} | data ${limit(cfg.data.trainLimit, 'train')} / ${limit(cfg.data.testLimit, 'test')} | ${workers} workers | ` +
    `${cfg.train.epochs} epochs${cfg.train.maxSteps !== null ? ` (max ${cfg.train.maxSteps} steps)` : ''} | batch ${cfg.train.batchSize} (micro ${cfg.train.microBatchSize}) | ` +
    `${cfg.optimizer.name} lr ${cfg.optimizer.lr} | out ${out}`
  );
}
