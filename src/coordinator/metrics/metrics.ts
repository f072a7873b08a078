/**
 * Prometheus metrics for one training run.
 *
 * Each run gets its own prom-client Registry rather than the global one, so a
 * process that trains twice (tests, sweeps) never mixes runs or trips over
 * "metric already registered", and so the registry can be pushed to a
 * Pushgateway as one unit when the run ends.
 *
 * Every series carries `model` and `run_id` as ordinary labels (declared on
 * each metric, not via registry default labels): a metric with labels has no
 * series until it is first set, so e.g. pixelsense_time_to_target_seconds is
 * absent until the target is reached instead of reading a misleading 0.
 * Counters are touched with inc(0) up front so rate() has a starting point.
 *
 * Names follow Prometheus conventions: base units (seconds, ratios),
 * `_total` counters, `_seconds` histograms. docs/metrics.md is the reference
 * table; test/metrics.test.ts checks the two agree.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, exponentialBuckets, type LabelValues } from 'prom-client';

export interface RunLabels {
  runId: string;
  model: string;
  backend: string;
  workers: number;
  configFile: string;
}

/**
 * What the metrics read of a finished step: the fields of the trainer's
 * StepEvent (training/stepEvent.ts) under the same names, declared here so
 * that the metrics room does not import the training room. The trainer
 * passes its StepEvent as it is.
 */
export interface StepObservation {
  /** Examples processed by this step, summed over workers. */
  readonly examples: number;
  /** Training loss and accuracy (0..1) of this step's batch. */
  readonly loss: number;
  readonly accuracy: number;
  readonly lr: number;
  readonly epoch: number;
  /** Throughput over the trainer's window of THROUGHPUT_WINDOW_SECONDS: the gauge shows it as it is. */
  readonly examplesPerSecond: number;
  readonly stepSeconds: number;
  readonly reduceSeconds: number;
  readonly updateSeconds: number;
  /** Per shard of the step: its index, its worker's compute, and the part of it spent copying the weights in. */
  readonly shards: readonly { readonly shard: number; readonly computeSeconds: number; readonly weightCopySeconds: number }[];
}

/** The metric name prefix, shared with the dashboard and docs. */
export const METRIC_PREFIX = 'pixelsense_';

/** Width of the trainer's sliding throughput window (training/stepStats.ts), which the gauge, the progress bar and the StepEvent share. */
export const THROUGHPUT_WINDOW_SECONDS = 10;

type Base = 'model' | 'run_id';

/** The worker pool's load, as the pool gauges report it. */
export interface PoolStats {
  readonly queueSize: number;
  readonly utilization: number;
}

// A whole step on the wasm/cpu backends takes ~5 ms (small ANN batch) to a
// few seconds (CNN on the cpu backend): 1 ms .. ~16 s.
const STEP_BUCKETS = exponentialBuckets(0.001, 2, 15);
// Reduce, update and broadcast are memory-bound and much shorter: 0.1 ms .. ~3 s.
const PHASE_BUCKETS = exponentialBuckets(0.0001, 2, 16);

export class TrainingMetrics {
  readonly registry: Registry;
  readonly labels: Readonly<RunLabels>;

  private readonly base: LabelValues<Base>;

  private readonly examples: Counter<Base>;
  private readonly steps: Counter<Base>;
  private readonly epoch: Gauge<Base>;
  private readonly trainLoss: Gauge<Base>;
  private readonly trainAccuracy: Gauge<Base>;
  private readonly evalLoss: Gauge<Base | 'split'>;
  private readonly evalAccuracy: Gauge<Base | 'split'>;
  private readonly throughput: Gauge<Base>;
  private readonly stepDuration: Histogram<Base>;
  private readonly workerCompute: Histogram<Base | 'shard'>;
  private readonly reduceDuration: Histogram<Base>;
  private readonly updateDuration: Histogram<Base>;
  private readonly broadcastDuration: Histogram<Base>;
  private readonly activeWorkers: Gauge<Base>;
  private readonly workerFailures: Counter<Base | 'shard' | 'kind'>;
  private readonly learningRate: Gauge<Base>;
  /** Where the pool gauges read from at scrape time (watchPool). */
  private readonly pool: { read?: () => PoolStats } = {};
  private readonly runInfo: Gauge<Base | 'backend' | 'workers' | 'config_file'>;
  private readonly timeToTarget: Gauge<Base>;
  private readonly hostsConnected: Gauge<Base>;
  private readonly hostCompute: Counter<Base | 'host'>;
  private readonly hostMicroBatches: Counter<Base | 'host'>;
  private readonly clusterBytesSent: Counter<Base | 'host'>;
  private readonly clusterBytesReceived: Counter<Base | 'host'>;
  private readonly clusterBadMessages: Counter<Base | 'host'>;
  private readonly hostsLost: Counter<Base | 'host'>;

  constructor(labels: RunLabels) {
    this.labels = Object.freeze({ ...labels });
    this.base = { model: labels.model, run_id: labels.runId };
    const registry = new Registry();
    this.registry = registry;
    // Process metrics (CPU, RSS, heap, event-loop lag, GC) of the coordinator,
    // labelled like ours so several runs can share one Prometheus.
    collectDefaultMetrics({ register: registry, labels: { ...this.base } });

    const name = (s: string): string => METRIC_PREFIX + s;
    const counter = <L extends string>(n: string, help: string, extra: readonly L[] = []): Counter<Base | L> =>
      new Counter({ name: name(n), help, labelNames: ['model', 'run_id', ...extra], registers: [registry] });
    const gauge = <L extends string>(n: string, help: string, extra: readonly L[] = []): Gauge<Base | L> =>
      new Gauge({ name: name(n), help, labelNames: ['model', 'run_id', ...extra], registers: [registry] });
    const histogram = <L extends string>(n: string, help: string, buckets: number[], extra: readonly L[] = []): Histogram<Base | L> =>
      new Histogram({ name: name(n), help, buckets, labelNames: ['model', 'run_id', ...extra], registers: [registry] });

    this.examples = counter('examples_total', 'Training examples processed (summed over workers).');
    this.steps = counter('steps_total', 'Optimizer steps taken.');
    this.epoch = gauge('epoch', 'Current epoch, counting from 1.');
    this.trainLoss = gauge('train_loss', 'Training loss of the most recent step.');
    this.trainAccuracy = gauge('train_accuracy', 'Training accuracy (0..1) of the most recent step.');
    this.evalLoss = gauge('eval_loss', 'Loss of the most recent evaluation, per data split.', ['split']);
    this.evalAccuracy = gauge('eval_accuracy', 'Accuracy (0..1) of the most recent evaluation, per data split.', ['split']);
    this.throughput = gauge(
      'throughput_examples_per_second',
      `Training examples per second over the last ${THROUGHPUT_WINDOW_SECONDS} s of steps.`,
    );
    this.stepDuration = histogram(
      'step_duration_seconds',
      'Wall time of one training step (dispatch, compute, reduce, update, broadcast).',
      STEP_BUCKETS,
    );
    this.workerCompute = histogram(
      'worker_compute_seconds',
      'Time a worker spent computing gradients for its shard of one step, by shard index within the step.',
      STEP_BUCKETS,
      ['shard'],
    );
    this.reduceDuration = histogram(
      'gradient_reduce_seconds',
      'Time to average the workers’ gradients on the coordinator (with Adam, the update reduces them).',
      PHASE_BUCKETS,
    );
    this.updateDuration = histogram('optimizer_update_seconds', 'Time to apply the optimizer update to the weights.', PHASE_BUCKETS);
    this.broadcastDuration = histogram(
      'weight_broadcast_seconds',
      "Time to get the updated weights into the workers: the parameter server updates shared memory in place, so this is the slowest worker's copy of the weights into fresh tensors at the start of its task.",
      PHASE_BUCKETS,
    );
    this.activeWorkers = gauge('active_workers', 'Worker threads currently alive in the pool.');
    this.workerFailures = counter(
      'worker_failures_total',
      'Worker task failures, by shard index within the step (-1: an evaluation task) and kind (throw, exit, ...).',
      ['shard', 'kind'],
    );
    this.learningRate = gauge('learning_rate', 'Learning rate used by the most recent step.');
    // Read at scrape time, not per step: Piscina's utilization summarises a
    // histogram on every read (0.36 ms, measured with --cpu-prof), which
    // per step was 3% of an ANN step on the coordinator's critical path.
    const pool = this.pool;
    const base = this.base;
    const poolGauge = (n: string, help: string, field: keyof PoolStats) =>
      new Gauge({
        name: name(n),
        help,
        labelNames: ['model', 'run_id'],
        registers: [registry],
        collect() {
          if (pool.read) this.set(base, pool.read()[field]);
        },
      });
    poolGauge('pool_queue_size', 'Tasks waiting in the Piscina queue.', 'queueSize');
    poolGauge('pool_utilization_ratio', 'Piscina pool utilisation (0..1).', 'utilization');
    this.runInfo = gauge('run_info', 'Constant 1; the labels describe the run.', ['backend', 'workers', 'config_file']);
    this.timeToTarget = gauge(
      'time_to_target_seconds',
      'Seconds from the start of training until test accuracy first reached --target-accuracy; absent until then.',
    );

    this.hostsConnected = gauge('hosts_connected', 'Remote hosts admitted to this run and alive (multi-host runs).');
    this.hostCompute = counter(
      'host_compute_seconds_total',
      'Seconds remote hosts spent computing micro-batches whose gradients were used, per host.',
      ['host'],
    );
    this.hostMicroBatches = counter('host_micro_batches_total', 'Micro-batches whose gradients came from each remote host.', ['host']);
    this.clusterBytesSent = counter(
      'cluster_bytes_sent_total',
      'Bytes this coordinator published to each host over NATS (weights, tasks, control); the weights, published once per step for all hosts, count for every host they reach.',
      ['host'],
    );
    this.clusterBytesReceived = counter('cluster_bytes_received_total', 'Bytes received from each host over NATS (gradients, control).', [
      'host',
    ]);
    this.clusterBadMessages = counter(
      'cluster_bad_messages_total',
      'Malformed or unexpected messages received over NATS, per sending host (or subject), dropped.',
      ['host'],
    );
    this.hostsLost = counter('hosts_lost_total', 'Hosts lost mid-run (silent past cluster.taskTimeoutSeconds, left, or misbehaving).', [
      'host',
    ]);

    this.runInfo.set({ ...this.base, backend: labels.backend, workers: String(labels.workers), config_file: labels.configFile }, 1);
    this.examples.inc(this.base, 0);
    this.steps.inc(this.base, 0);
    this.setActiveWorkers(labels.workers);
  }

  /** Record one finished step: counters, per-step gauges and histograms, the throughput the trainer measured. */
  recordStep(s: StepObservation): void {
    this.examples.inc(this.base, s.examples);
    this.steps.inc(this.base, 1);
    this.epoch.set(this.base, s.epoch);
    this.trainLoss.set(this.base, s.loss);
    this.trainAccuracy.set(this.base, s.accuracy);
    this.learningRate.set(this.base, s.lr);
    this.throughput.set(this.base, s.examplesPerSecond);
    this.stepDuration.observe(this.base, s.stepSeconds);
    this.reduceDuration.observe(this.base, s.reduceSeconds);
    this.updateDuration.observe(this.base, s.updateSeconds);
    // Workers time their own compute (their clock, their thread); the broadcast is the slowest worker's weight copy.
    for (const w of s.shards) this.workerCompute.observe({ ...this.base, shard: String(w.shard) }, w.computeSeconds);
    this.broadcastDuration.observe(this.base, Math.max(0, ...s.shards.map((w) => w.weightCopySeconds)));
  }

  recordEval(split: 'train' | 'test', loss: number, accuracy: number): void {
    this.evalLoss.set({ ...this.base, split }, loss);
    this.evalAccuracy.set({ ...this.base, split }, accuracy);
  }

  setActiveWorkers(n: number): void {
    this.activeWorkers.set(this.base, n);
  }

  /** `shard` is the failed task's shard index within its step, -1 for an evaluation task. */
  recordWorkerFailure(shard: number, kind: 'throw' | 'exit' | string): void {
    this.workerFailures.inc({ ...this.base, shard: String(shard), kind }, 1);
  }

  /** The pool gauges read `read()` whenever they are scraped. */
  watchPool(read: () => PoolStats): void {
    this.pool.read = read;
  }

  setHostsConnected(n: number): void {
    this.hostsConnected.set(this.base, n);
  }

  recordHostMicroBatch(host: string, computeSeconds: number): void {
    this.hostCompute.inc({ ...this.base, host }, computeSeconds);
    this.hostMicroBatches.inc({ ...this.base, host }, 1);
  }

  recordClusterBytes(host: string, sent: number, received: number): void {
    if (sent > 0) this.clusterBytesSent.inc({ ...this.base, host }, sent);
    if (received > 0) this.clusterBytesReceived.inc({ ...this.base, host }, received);
  }

  recordBadMessage(host: string): void {
    this.clusterBadMessages.inc({ ...this.base, host }, 1);
  }

  recordHostLost(host: string): void {
    this.hostsLost.inc({ ...this.base, host }, 1);
  }

  setTimeToTarget(seconds: number): void {
    this.timeToTarget.set(this.base, seconds);
  }

  /** The registry in Prometheus text format (what /metrics serves). */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
