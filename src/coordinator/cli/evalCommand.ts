/**
 * `pixelsense eval <run-or-model-dir>`: the library's evaluate()
 * (src/coordinator/api/evaluate.ts), printed: one info line on stderr, the
 * report (or --json) on stdout.
 */
import type { BackendChoice } from '../../shared/backend.js';
import { formatEvalReport } from '../report/classification.js';
import { evaluate } from '../api/evaluate.js';

export interface EvalArgs {
  dir: string;
  split?: string;
  workers?: number;
  backend?: string;
  'stock-kernels'?: boolean;
  'data-dir'?: string;
  json?: boolean;
}

export async function runEval(argv: EvalArgs): Promise<number> {
  const { split, workers, backend, seconds, ...report } = await evaluate(argv.dir, {
    split: (argv.split ?? 'test') as 'test' | 'train',
    workers: argv.workers,
    backend: argv.backend as BackendChoice | undefined,
    stockKernels: argv['stock-kernels'],
    dataDir: argv['data-dir'],
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stderr.write(
    `${argv.dir}: ${split} split, ${report.count} examples, ${workers} workers, backend ${backend}, ${seconds.toFixed(2)} s\n`,
  );
  if (argv.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(`${formatEvalReport(report)}\n`);
  return 0;
}
