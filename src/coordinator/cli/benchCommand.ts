/**
 * `pixelsense bench`: the library's bench() (src/coordinator/api/bench.ts),
 * printed: progress lines on stderr, bench.md (or the --json line) on
 * stdout, and the files in --out (default runs/bench-<timestamp>).
 */
import { join } from 'node:path';
import type { BackendChoice } from '../../shared/backend.js';
import { parseWorkerList } from './args.js';
import { BENCH_CHART, bench, benchDocument } from '../api/bench.js';
import { jsonSummary, machineLine } from '../bench/bench.js';
import type { ModelKind } from '../bench/benchReport.js';

// Importers of these from here before the bench moved into the library keep working.
export { BENCH_MICRO_BATCH, benchConfig } from '../api/bench.js';

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

export function defaultBenchDir(now = new Date()): string {
  return join(
    'runs',
    `bench-${now
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z')
      .replace('T', '-')}`,
  );
}

export async function runBench(argv: BenchArgs): Promise<number> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const models: ModelKind[] = argv.model === 'ann' || argv.model === 'cnn' ? [argv.model] : ['ann', 'cnn'];
  const outDir = argv.out ?? defaultBenchDir();
  const report = await bench({
    models,
    workers: parseWorkerList(argv.workers ?? '1,2'),
    steps: argv.steps ?? 30,
    warmup: argv.warmup ?? 5,
    repeats: argv.repeats ?? 3,
    batchSize: argv['batch-size'] ?? 128,
    backend: (argv.backend ?? 'auto') as BackendChoice,
    stockKernels: argv['stock-kernels'] === true,
    dataDir: argv['data-dir'],
    comm: argv.comm === true,
    ceiling: argv.ceiling === true,
    ...(argv.nats !== undefined ? { nats: argv.nats, hosts: argv.hosts ?? 1 } : {}),
    ...(argv['nats-creds'] !== undefined ? { natsCreds: argv['nats-creds'] } : {}),
    ...(argv.cluster !== undefined ? { cluster: argv.cluster } : {}),
    out: outDir,
    log,
  });
  log(machineLine(report.machine));
  log(`bench: wrote ${join(outDir, 'bench.md')}, bench.json, ${BENCH_CHART}.svg, ${BENCH_CHART}.png`);
  if (argv.json) process.stdout.write(`${JSON.stringify(jsonSummary(report, outDir))}\n`);
  else process.stdout.write(benchDocument(report));
  return 0;
}
