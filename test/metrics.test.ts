/**
 * Unit tests for the metrics registry (names, types, help, labels, the
 * throughput window) and the endpoint (routes, bind errors, port 0,
 * Pushgateway push). Everything binds 127.0.0.1 port 0 and synchronises on
 * promises/events, never on sleeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { register as globalRegistry, type MetricObjectWithValues, type MetricValueWithName } from 'prom-client';
import { METRIC_PREFIX, TrainingMetrics, type RunLabels, type StepObservation } from '../src/coordinator/metrics/metrics.js';
import { pushMetrics, startMetricsServer } from '../src/coordinator/metrics/metricsServer.js';
import { MetricsError, exitCodeOf } from '../src/shared/errors.js';

const LABELS: RunLabels = { runId: 'run-1', model: 'cnn', backend: 'wasm', workers: 2, configFile: 'configs/cnn.yaml' };

/** name -> [type, extra label names beyond model and run_id]. The contract with the dashboard and docs. */
const EXPECTED: Record<string, [string, string[]]> = {
  pixelsense_examples_total: ['counter', []],
  pixelsense_steps_total: ['counter', []],
  pixelsense_epoch: ['gauge', []],
  pixelsense_train_loss: ['gauge', []],
  pixelsense_train_accuracy: ['gauge', []],
  pixelsense_eval_loss: ['gauge', ['split']],
  pixelsense_eval_accuracy: ['gauge', ['split']],
  pixelsense_throughput_examples_per_second: ['gauge', []],
  pixelsense_step_duration_seconds: ['histogram', []],
  pixelsense_worker_compute_seconds: ['histogram', ['shard']],
  pixelsense_gradient_reduce_seconds: ['histogram', []],
  pixelsense_optimizer_update_seconds: ['histogram', []],
  pixelsense_weight_broadcast_seconds: ['histogram', []],
  pixelsense_active_workers: ['gauge', []],
  pixelsense_worker_failures_total: ['counter', ['shard', 'kind']],
  pixelsense_learning_rate: ['gauge', []],
  pixelsense_pool_queue_size: ['gauge', []],
  pixelsense_pool_utilization_ratio: ['gauge', []],
  pixelsense_run_info: ['gauge', ['backend', 'workers', 'config_file']],
  pixelsense_time_to_target_seconds: ['gauge', []],
  pixelsense_hosts_connected: ['gauge', []],
  pixelsense_host_compute_seconds_total: ['counter', ['host']],
  pixelsense_host_micro_batches_total: ['counter', ['host']],
  pixelsense_cluster_bytes_sent_total: ['counter', ['host']],
  pixelsense_cluster_bytes_received_total: ['counter', ['host']],
  pixelsense_cluster_bad_messages_total: ['counter', ['host']],
  pixelsense_hosts_lost_total: ['counter', ['host']],
};

/** One step as the trainer reports it: two shards, 20 and 30 ms of compute. */
function step(o: Partial<StepObservation> = {}): StepObservation {
  return {
    examples: 64,
    loss: 2.1,
    accuracy: 0.25,
    lr: 0.01,
    epoch: 1,
    examplesPerSecond: 128,
    stepSeconds: 0.5,
    reduceSeconds: 0.001,
    updateSeconds: 0.002,
    shards: [
      { shard: 0, computeSeconds: 0.02, weightCopySeconds: 0.001 },
      { shard: 1, computeSeconds: 0.03, weightCopySeconds: 0.002 },
    ],
    ...o,
  };
}

/** A metrics object with every metric touched once. */
function exercised(): TrainingMetrics {
  const m = new TrainingMetrics(LABELS);
  m.recordStep(step());
  m.recordEval('test', 0.9, 0.7);
  m.recordEval('train', 0.8, 0.75);
  m.recordWorkerFailure(1, 'throw');
  m.setHostsConnected(2);
  m.recordHostMicroBatch('b1', 0.04);
  m.recordClusterBytes('b1', 900_000, 900_100);
  m.recordBadMessage('unknown');
  m.recordHostLost('b1');
  m.watchPool(() => ({ queueSize: 3, utilization: 0.5 }));
  m.setTimeToTarget(12.5);
  return m;
}

async function json(m: TrainingMetrics): Promise<Map<string, MetricObjectWithValues<MetricValueWithName<string>>>> {
  const all = (await m.registry.getMetricsAsJSON()) as MetricObjectWithValues<MetricValueWithName<string>>[];
  return new Map(all.map((x) => [x.name, x]));
}

test('registry has exactly the documented pixelsense_ metrics, with types, help and labels', async () => {
  const metrics = await json(exercised());
  const ours = [...metrics.keys()].filter((n) => n.startsWith(METRIC_PREFIX)).sort();
  assert.deepEqual(ours, Object.keys(EXPECTED).sort());
  for (const [name, [type, extra]] of Object.entries(EXPECTED)) {
    const metric = metrics.get(name);
    assert.ok(metric, name);
    assert.equal(metric.type, type, `${name} type`);
    assert.ok(metric.help.length > 10 && !metric.help.includes('\n'), `${name} help text`);
    // Prometheus naming conventions.
    if (type === 'counter') assert.match(name, /_total$/, `${name}: counters end in _total`);
    if (type === 'histogram') assert.match(name, /_seconds$/, `${name}: histograms measure seconds`);
    assert.ok(metric.values.length > 0, `${name} has a series once exercised`);
    for (const v of metric.values) {
      assert.equal(v.labels['model'], 'cnn', `${name} model label`);
      assert.equal(v.labels['run_id'], 'run-1', `${name} run_id label`);
      // Histogram bucket series add `le`; everything else has exactly the declared labels.
      const names = Object.keys(v.labels)
        .filter((l) => l !== 'le')
        .sort();
      assert.deepEqual(names, ['model', 'run_id', ...extra].sort(), `${name} label names`);
    }
  }
});

test('label values: run_info, eval split, shard, failure kind', async () => {
  const metrics = await json(exercised());
  const info = metrics.get('pixelsense_run_info')!.values;
  assert.deepEqual(info, [
    {
      value: 1,
      labels: { model: 'cnn', run_id: 'run-1', backend: 'wasm', workers: '2', config_file: 'configs/cnn.yaml' },
    },
  ]);
  const splits = metrics.get('pixelsense_eval_accuracy')!.values.map((v) => [v.labels['split'], v.value]);
  assert.deepEqual(splits.sort(), [
    ['test', 0.7],
    ['train', 0.75],
  ]);
  const workers = metrics
    .get('pixelsense_worker_compute_seconds')!
    .values.filter((v) => v.metricName === 'pixelsense_worker_compute_seconds_count')
    .map((v) => v.labels['shard']);
  assert.deepEqual(workers.sort(), ['0', '1']);
  const failure = metrics.get('pixelsense_worker_failures_total')!.values;
  assert.deepEqual(
    failure.map((v) => [v.labels['shard'], v.labels['kind'], v.value]),
    [['1', 'throw', 1]],
  );
  assert.equal(metrics.get('pixelsense_time_to_target_seconds')!.values[0]?.value, 12.5);
  assert.equal(metrics.get('pixelsense_active_workers')!.values[0]?.value, 2);
});

test('default process metrics are collected on the run registry, labelled, not on the global one', async () => {
  const m = new TrainingMetrics(LABELS);
  const metrics = await json(m);
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes']) {
    const metric = metrics.get(name);
    assert.ok(metric, `${name} present`);
    assert.equal(metric.values[0]?.labels['run_id'], 'run-1');
  }
  assert.equal(globalRegistry.getSingleMetric('pixelsense_examples_total'), undefined);
  // A second run in the same process gets its own registry: no "already registered".
  const other = new TrainingMetrics({ ...LABELS, runId: 'run-2' });
  assert.notEqual(other.registry, m.registry);
});

test('before any step: counters read 0, time to target and eval gauges are absent', async () => {
  const text = await new TrainingMetrics(LABELS).text();
  assert.match(text, /^pixelsense_examples_total\{model="cnn",run_id="run-1"\} 0$/m);
  assert.match(text, /^pixelsense_steps_total\{model="cnn",run_id="run-1"\} 0$/m);
  assert.match(text, /^# HELP pixelsense_time_to_target_seconds .+$/m);
  assert.doesNotMatch(text, /^pixelsense_time_to_target_seconds/m);
  assert.doesNotMatch(text, /^pixelsense_eval_loss/m);
  assert.doesNotMatch(text, /^pixelsense_throughput_examples_per_second/m);
});

test('recordStep: counters add up, gauges follow the latest step', async () => {
  const m = new TrainingMetrics(LABELS);
  for (let i = 1; i <= 3; i++)
    m.recordStep(step({ examples: 32, loss: 1 / i, accuracy: 0.1 * i, lr: 0.001, epoch: 2, examplesPerSecond: 100 * i }));
  const metrics = await json(m);
  const value = (n: string): number | undefined => metrics.get(n)!.values[0]?.value;
  assert.equal(value('pixelsense_examples_total'), 96);
  assert.equal(value('pixelsense_steps_total'), 3);
  assert.equal(value('pixelsense_epoch'), 2);
  assert.equal(value('pixelsense_train_loss'), 1 / 3);
  assert.ok(Math.abs(value('pixelsense_train_accuracy')! - 0.3) < 1e-12);
  assert.equal(value('pixelsense_learning_rate'), 0.001);
  const count = metrics
    .get('pixelsense_step_duration_seconds')!
    .values.find((v) => v.metricName === 'pixelsense_step_duration_seconds_count');
  assert.equal(count?.value, 3);
});

test("the throughput gauge shows the trainer's own number, so it agrees with the progress bar", async () => {
  const m = new TrainingMetrics(LABELS);
  m.recordStep(step({ examplesPerSecond: 1234.5 }));
  const metrics = await json(m);
  assert.equal(metrics.get('pixelsense_throughput_examples_per_second')!.values[0]?.value, 1234.5);
});

test("a step observes each shard's compute under its shard label and the slowest weight copy as the broadcast", async () => {
  const metrics = await json(exercised());
  const sums = metrics
    .get('pixelsense_worker_compute_seconds')!
    .values.filter((v) => v.metricName === 'pixelsense_worker_compute_seconds_sum');
  assert.deepEqual(sums.map((v) => [v.labels['shard'], v.value]).sort(), [
    ['0', 0.02],
    ['1', 0.03],
  ]);
  const broadcast = metrics
    .get('pixelsense_weight_broadcast_seconds')!
    .values.find((v) => v.metricName === 'pixelsense_weight_broadcast_seconds_sum');
  assert.equal(broadcast?.value, 0.002);
});

test('docs/metrics.md documents every pixelsense_ metric', () => {
  // dist/test/metrics.test.js -> repo root
  const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  for (const name of Object.keys(EXPECTED)) assert.ok(doc.includes(`\`${name}\``), `${name} in docs/metrics.md`);
});

// ---------------------------------------------------------------- server

async function get(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url, { method });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

test('server: /metrics, /healthz, 404, 405 on port 0', async () => {
  const m = exercised();
  const ep = await startMetricsServer({ host: '127.0.0.1', port: 0, registry: m.registry });
  try {
    assert.equal(ep.host, '127.0.0.1');
    assert.ok(ep.port > 0, 'port 0 resolves to the bound port');
    assert.equal(ep.url, `http://127.0.0.1:${ep.port}/metrics`);

    const metrics = await get(ep.url);
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
    assert.match(metrics.body, /^# TYPE pixelsense_examples_total counter$/m);
    assert.match(metrics.body, /^pixelsense_examples_total\{model="cnn",run_id="run-1"\} 64$/m);
    assert.match(metrics.body, /^pixelsense_step_duration_seconds_bucket\{le="\+Inf",model="cnn",run_id="run-1"\} 1$/m);
    assert.match(metrics.body, /^process_cpu_seconds_total\{model="cnn",run_id="run-1"\} /m);
    assert.equal((await get(`${ep.url}?x=1`)).status, 200, 'query strings are ignored');

    const health = await get(`http://127.0.0.1:${ep.port}/healthz`);
    assert.deepEqual([health.status, health.body], [200, 'ok\n']);
    assert.equal((await get(`http://127.0.0.1:${ep.port}/`)).status, 404);
    assert.equal((await get(`http://127.0.0.1:${ep.port}/metricsx`)).status, 404);
    assert.equal((await get(ep.url, 'POST')).status, 405);
    const head = await get(ep.url, 'HEAD');
    assert.deepEqual([head.status, head.body], [200, '']);
  } finally {
    await ep.close();
  }
  await ep.close(); // idempotent
  await assert.rejects(fetch(ep.url), 'closed endpoint refuses connections');
});

test('server: a port in use is a MetricsError (exit 2) naming the port and the way out', async () => {
  const m = new TrainingMetrics(LABELS);
  const first = await startMetricsServer({ host: '127.0.0.1', port: 0, registry: m.registry });
  try {
    const err = await startMetricsServer({ host: '127.0.0.1', port: first.port, registry: m.registry }).then(
      () => assert.fail('second bind should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof MetricsError);
    assert.equal(exitCodeOf(err), 2);
    assert.equal(err.message, `metrics port ${first.port} on 127.0.0.1 is already in use; pass --metrics-port 0 or --no-metrics`);
  } finally {
    await first.close();
  }
});

test('server: bad port and unresolvable host are MetricsErrors', async () => {
  const { registry } = new TrainingMetrics(LABELS);
  await assert.rejects(startMetricsServer({ host: '127.0.0.1', port: 70000, registry }), MetricsError);
  await assert.rejects(startMetricsServer({ host: '127.0.0.1', port: 1.5, registry }), MetricsError);
  await assert.rejects(startMetricsServer({ host: 'no-such-host.invalid', port: 0, registry }), {
    name: 'MetricsError',
    message: /metrics host no-such-host\.invalid/,
  });
});

test('server: close() does not wait for keep-alive scrapers', async () => {
  const { registry } = new TrainingMetrics(LABELS);
  const ep = await startMetricsServer({ host: '127.0.0.1', port: 0, registry });
  const agent = new http.Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    http.get(ep.url, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
  });
  // The socket is idle in the agent's pool; close() must still resolve promptly.
  await ep.close();
  agent.destroy();
});

// ---------------------------------------------------------------- pushgateway

interface Received {
  method: string;
  url: string;
  body: string;
}

/** A fake Pushgateway: records one request and answers with `status`. */
async function fakeGateway(status: number): Promise<{ url: string; received: Promise<Received>; close(): void }> {
  let deliver!: (r: Received) => void;
  const received = new Promise<Received>((resolve) => (deliver = resolve));
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      res.writeHead(status).end(status >= 400 ? 'bad push' : '');
      deliver({ method: req.method ?? '', url: req.url ?? '', body });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, received, close: () => server.close() };
}

test('pushMetrics PUTs the final values under job and grouping key', async () => {
  const gw = await fakeGateway(200);
  try {
    const m = exercised();
    await pushMetrics(gw.url, m.registry, 'pixelsense', { run_id: 'run-1', model: 'cnn' });
    const r = await gw.received;
    assert.equal(r.method, 'PUT');
    assert.equal(r.url, '/metrics/job/pixelsense/run_id/run-1/model/cnn');
    assert.match(r.body, /^pixelsense_examples_total\{model="cnn",run_id="run-1"\} 64$/m);
    assert.match(r.body, /^pixelsense_time_to_target_seconds\{model="cnn",run_id="run-1"\} 12\.5$/m);
    assert.match(r.body, /^# HELP pixelsense_steps_total /m);
  } finally {
    gw.close();
  }
});

test('pushMetrics: gateway errors and bad URLs are MetricsErrors', async () => {
  const { registry } = new TrainingMetrics(LABELS);
  const gw = await fakeGateway(400);
  try {
    await assert.rejects(pushMetrics(gw.url, registry, 'pixelsense'), {
      name: 'MetricsError',
      message: new RegExp(`push to ${gw.url} failed: push failed with status 400, bad push`),
    });
  } finally {
    gw.close();
  }
  await assert.rejects(pushMetrics('not a url', registry, 'pixelsense'), MetricsError);
  await assert.rejects(pushMetrics('ftp://127.0.0.1/', registry, 'pixelsense'), MetricsError);
  // A port nobody listens on: take a free one from the OS, then release it.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  await assert.rejects(pushMetrics(`http://127.0.0.1:${port}`, registry, 'pixelsense'), {
    name: 'MetricsError',
    message: /ECONNREFUSED/,
  });
});
