#!/usr/bin/env node
/**
 * The `pixelsense` command: yargs commands over the option tables in args.ts.
 * A PixelSenseError prints one line and exits with its code (2 for bad
 * input); anything else is a bug: one line and exit 70. --verbose adds the
 * stack.
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { exitCodeOf, PixelSenseError, UsageError } from '../../shared/errors.js';
import {
  benchOptions,
  checkBench,
  checkEval,
  checkHost,
  checkPredict,
  checkTrain,
  evalOptions,
  hostOptions,
  predictOptions,
  trainOptions,
  type HostArgs,
  type TrainArgs,
} from './args.js';

const verbose = process.argv.includes('--verbose');

function report(err: unknown): never {
  const code = exitCodeOf(err);
  const message = err instanceof Error ? err.message : String(err);
  const prefix = err instanceof PixelSenseError ? 'pixelsense: ' : 'pixelsense: internal error: ';
  process.stderr.write(`${prefix}${message}\n`);
  if (verbose && err instanceof Error) {
    process.stderr.write(`${err.stack ?? ''}\n`);
    if (err.cause)
      process.stderr.write(`caused by: ${err.cause instanceof Error ? (err.cause.stack ?? err.cause.message) : String(err.cause)}\n`);
  } else if (!(err instanceof PixelSenseError)) {
    process.stderr.write('(run again with --verbose for the stack trace)\n');
  }
  process.exit(code);
}

/** Run a command handler, turning its outcome into the process exit code. */
const handle =
  <A>(fn: (argv: A) => Promise<number>) =>
  async (argv: A): Promise<void> => {
    try {
      process.exitCode = await fn(argv);
    } catch (err) {
      report(err);
    }
  };

export function buildCli(argv: string[]): Argv {
  return (
    yargs(argv)
      .scriptName('pixelsense')
      .usage('$0 <command> [options]\n\nData-parallel Fashion-MNIST training (ANN and CNN) on every core, with TensorFlow.js.')
      .command(
        'train [config]',
        'train a model from a YAML config on a pool of worker threads',
        (y) =>
          y
            .positional('config', { type: 'string', describe: 'YAML config, e.g. configs/cnn.yaml' })
            .options(trainOptions)
            .check((a) => checkTrain(a as TrainArgs)),
        handle(async (a) => (await import('./trainCommand.js')).runTrain(a as TrainArgs)),
      )
      .command(
        'eval <dir>',
        'evaluate a run or model directory: accuracy, per-class P/R/F1, confusion matrix',
        (y) =>
          y
            .positional('dir', { type: 'string', demandOption: true, describe: 'run directory or model directory' })
            .options(evalOptions)
            .check((a) => checkEval(a as never)),
        handle(async (a) => (await import('./evalCommand.js')).runEval(a as never)),
      )
      .command(
        'predict <dir> <images..>',
        'classify PNG/JPEG/WebP images with a trained model',
        (y) =>
          y
            .positional('dir', { type: 'string', demandOption: true, describe: 'run directory or model directory' })
            .positional('images', { type: 'string', array: true, describe: 'image files' })
            .options(predictOptions)
            .check((a) => checkPredict(a as never)),
        handle(async (a) => (await import('./predictCommand.js')).runPredict(a as never)),
      )
      .command(
        'report <runs..>',
        'write an HTML and Markdown report comparing runs (e.g. the ANN and the CNN)',
        (y) =>
          y
            .positional('runs', { type: 'string', array: true, describe: 'run directories' })
            .option('out', { type: 'string', default: 'runs/report', describe: 'output directory' })
            .option('data-dir', { type: 'string', describe: 'Fashion-MNIST directory (for the most-confused images)' }),
        handle(async (a) => (await import('./reportCommand.js')).runReport(a as never)),
      )
      .command(
        'runs [dir]',
        'serve a page listing the runs in a directory, opening their reports side by side',
        (y) =>
          y
            .positional('dir', { type: 'string', default: 'runs', describe: 'directory holding run directories' })
            .option('host', { type: 'string', default: '127.0.0.1', describe: 'bind address (the page has no auth)' })
            .option('port', { type: 'number', default: 9500, describe: 'port (0 picks a free one)' })
            .option('data-dir', { type: 'string', describe: 'Fashion-MNIST directory (for the most-confused images)' }),
        handle(async (a) => (await import('./runsCommand.js')).runRuns(a as never)),
      )
      .command(
        'data <action>',
        'Fashion-MNIST data: info (where it is), verify (checksums), download',
        (y) =>
          y
            .positional('action', { type: 'string', choices: ['info', 'verify', 'download'], demandOption: true })
            .option('data-dir', { type: 'string', describe: 'directory with the IDX files' })
            .option('force', { type: 'boolean', default: false, describe: 'download even if the cache has the files' })
            .option('json', { type: 'boolean', default: false, describe: 'print JSON' }),
        handle(async (a) => (await import('./dataCommand.js')).runData(a as never)),
      )
      .command(
        'bench',
        'benchmark training throughput across worker counts',
        (y) => y.options(benchOptions).check((a) => checkBench(a as never)),
        handle(async (a) => (await import('./benchCommand.js')).runBench(a as never)),
      )
      .command(
        'host',
        'serve training runs as a remote worker host: join a coordinator through NATS (docs/multi-host.md)',
        (y) => y.options(hostOptions).check((a) => checkHost(a as unknown as HostArgs)),
        handle(async (a) => (await import('./hostCommand.js')).runHost(a as unknown as HostArgs)),
      )
      .option('verbose', {
        type: 'boolean',
        default: false,
        describe: 'print stack traces on errors; train also prints the full resolved config',
      })
      .demandCommand(1, 'choose a command: train, eval, predict, report, runs, data, bench or host')
      .strict()
      .recommendCommands()
      .wrap(Math.min(120, process.stdout.columns || 100))
      // Reached for parse errors and check() rules only: handlers catch their own errors.
      .fail((msg, err) => {
        if (err instanceof PixelSenseError) report(err);
        const usage = new UsageError(msg ?? err?.message ?? 'invalid usage');
        process.stderr.write(`pixelsense: ${usage.message}\n(see pixelsense --help)\n`);
        process.exit(usage.exitCode);
      })
      .help()
      .version()
  );
}

await buildCli(hideBin(process.argv)).parseAsync();
