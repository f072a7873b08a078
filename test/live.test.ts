/**
 * The live page's server side: RunState's bounded history, the routes on the
 * real metrics server (127.0.0.1, port 0), and `pixelsense runs`' listing.
 * The page itself is exercised in Chromium by test/e2e/browser.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile, type TopLevelSpec } from 'vega-lite';
import { TrainingMetrics } from '../src/coordinator/metrics/metrics.js';
import { startMetricsServer, type MetricsEndpoint } from '../src/coordinator/metrics/metricsServer.js';
import { liveRoutes } from '../src/coordinator/live/liveRoutes.js';
import { LIVE_HTML } from '../src/coordinator/live/livePage.js';
import { MAX_STEP_POINTS, pushBounded, RunState, SHARD_WINDOW, type RunSnapshot } from '../src/coordinator/live/runState.js';
import { listRuns, startRunsServer } from '../src/coordinator/live/runsServer.js';
import { TrainerEmitter, type EpochRecord, type StepEvent } from '../src/coordinator/training/stepEvent.js';

const INFO = {
  runId: 'r1',
  model: 'cnn',
  architecture: 'CNN [test]',
  backend: 'wasm',
  workers: 2,
  configFile: 'configs/smoke.yaml',
  outDir: 'runs/x',
  started: '2026-01-01T00:00:00.000Z',
  stepsPerEpoch: 10,
  config: { 'train.batchSize': 128 },
};

function stepEvent(step: number, lastStep = 100000): StepEvent {
  return {
    step,
    epoch: Math.ceil(step / 10),
    epochs: 10000,
    lastStep,
    examples: 128,
    loss: 1 / step,
    accuracy: 0.5,
    lr: 0.001,
    examplesPerSecond: 1000,
    elapsedSeconds: step * 0.1,
    stepSeconds: 0.1,
    computeSeconds: 0.06,
    waitSeconds: 0.01,
    reduceSeconds: 0.01,
    updateSeconds: 0.01,
    overheadSeconds: 0.01,
    shards: [
      { shard: 0, threadId: 1, computeSeconds: 0.05, waitSeconds: 0.02, examples: 64, tensors: 0, weightCopySeconds: 0 },
      { shard: 1, threadId: 2, computeSeconds: 0.07, waitSeconds: 0, examples: 64, tensors: 0, weightCopySeconds: 0 },
    ],
  };
}

/** An evaluation at `step` (test accuracy 0.7): the eval tests vary only when it happened. */
function epochRecord(epoch: number, step: number): EpochRecord {
  return {
    epoch,
    step,
    wall_s: 1,
    train_loss: 1,
    train_accuracy: 0.5,
    test_loss: 0.9,
    test_accuracy: 0.7,
    lr: 0.001,
    examples_per_sec: 1000,
  };
}

test('pushBounded never holds more than max points and merges only the older half', () => {
  const list: { n: number; first: number }[] = [];
  for (let i = 1; i <= 10_000; i++) {
    pushBounded(list, { n: 1, first: i }, 100, (a, b) => ({ n: a.n + b.n, first: a.first }));
    assert.ok(list.length <= 100);
  }
  assert.equal(
    list.reduce((s, p) => s + p.n, 0),
    10_000,
    'every point is accounted for in some merged point',
  );
  assert.deepEqual(
    list.slice(-10).map((p) => p.n),
    Array(10).fill(1),
    'the newest points stay at full resolution',
  );
  assert.equal(list.at(-1)?.first, 10_000);
});

test('a long run keeps at most MAX_STEP_POINTS step points, the latest step last and at full resolution', () => {
  const state = new RunState(INFO);
  const events = new TrainerEmitter();
  state.follow(events);
  const n = 3 * MAX_STEP_POINTS + 17;
  for (let s = 1; s <= n; s++) events.emit('step', stepEvent(s));
  const snap = state.snapshot();
  assert.ok(snap.steps.length <= MAX_STEP_POINTS, `${snap.steps.length} points`);
  assert.equal(snap.steps.at(-1)?.step, n);
  assert.equal(snap.steps.at(-1)?.steps, 1);
  assert.equal(
    snap.steps.reduce((s, p) => s + p.steps, 0),
    n,
    'merged points stand for every step',
  );
  assert.ok(
    snap.steps.every((p, i) => i === 0 || p.step > (snap.steps[i - 1] as { step: number }).step),
    'steps stay in order',
  );
  assert.equal(snap.progress.step, n);
});

test('per-worker timings keep the last SHARD_WINDOW steps, idle being the step minus compute and wait', () => {
  const state = new RunState(INFO);
  for (let s = 1; s <= SHARD_WINDOW + 25; s++) state.onStep(stepEvent(s));
  const { shards } = state.snapshot();
  assert.equal(shards.length, 2 * SHARD_WINDOW);
  assert.equal(shards[0]?.step, 26);
  const w0 = shards.find((x) => x.worker === 0);
  assert.ok(w0 && Math.abs(w0.idleSeconds - (0.1 - 0.05 - 0.02)) < 1e-12, JSON.stringify(w0));
});

test("in a multi-host step each host is one row: its micro-batches' compute summed, its wait the gap to the busiest", () => {
  const state = new RunState(INFO);
  const shard = (n: number, host: string | undefined, computeSeconds: number) => ({
    shard: n,
    threadId: n,
    computeSeconds,
    waitSeconds: 0,
    examples: 32,
    tensors: 0,
    weightCopySeconds: 0,
    ...(host !== undefined ? { host } : {}),
  });
  state.onStep({
    ...stepEvent(1),
    stepSeconds: 0.2,
    shards: [shard(0, 'a', 0.05), shard(1, 'b', 0.04), shard(2, 'a', 0.06), shard(3, 'b', 0.03)],
  });
  const rows = state
    .snapshot()
    .shards.map((p) => [p.host, Number(p.computeSeconds.toFixed(3)), Number(p.waitSeconds.toFixed(3)), Number(p.idleSeconds.toFixed(3))]);
  assert.deepEqual(rows, [
    ['a', 0.11, 0, 0.09],
    ['b', 0.07, 0.04, 0.09],
  ]);
});

test("an eval event's confusion matrix becomes the snapshot's latest confusion, and the ETA follows the step rate", () => {
  const state = new RunState(INFO);
  const events = new TrainerEmitter();
  state.follow(events);
  for (let s = 1; s <= 10; s++) events.emit('step', stepEvent(s, 30));
  const matrix = Array.from({ length: 10 }, (_, t) => Array.from({ length: 10 }, (_, p) => (t === p ? 9 : 0)));
  const record = epochRecord(1, 10);
  events.emit('eval', record, { confusion: matrix, macroF1: 0.7 });
  const snap = state.snapshot();
  assert.deepEqual(snap.confusion, { step: 10, epoch: 1, accuracy: 0.7, matrix });
  assert.deepEqual(snap.evals, [record]);
  assert.equal(snap.progress.testAccuracy, 0.7);
  assert.ok(Math.abs((snap.progress.etaSeconds ?? NaN) - 20 * 0.1) < 1e-9, `eta ${snap.progress.etaSeconds}`);
  state.finish('finished');
  assert.equal(state.snapshot().progress.etaSeconds, null);
  assert.equal(state.snapshot().status, 'finished');
});

async function withLiveServer(fn: (e: MetricsEndpoint, state: RunState) => Promise<void>): Promise<void> {
  const state = new RunState(INFO);
  const metrics = new TrainingMetrics({ runId: 'r1', model: 'cnn', backend: 'wasm', workers: 2, configFile: 'x' });
  const e = await startMetricsServer({ host: '127.0.0.1', port: 0, registry: metrics.registry, routes: liveRoutes(state) });
  try {
    await fn(e, state);
  } finally {
    await e.close();
  }
}

test('GET / serves the live page beside /metrics and /healthz, which answer as before', async () => {
  await withLiveServer(async (e) => {
    assert.equal(e.baseUrl, `http://127.0.0.1:${e.port}/`);
    const page = await fetch(e.baseUrl);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await page.text(), /PixelSense live/);
    const m = await fetch(e.url);
    assert.equal(m.status, 200);
    assert.match(await m.text(), /pixelsense_examples_total/);
    assert.equal(await (await fetch(`${e.baseUrl}healthz`)).text(), 'ok\n');
  });
});

test('the page loads only from this server: vega and vega-lite from node_modules, no outside URL', async () => {
  const urls = [...LIVE_HTML.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1] as string);
  assert.deepEqual(
    urls.filter((u) => /^[a-z]+:\/\//i.test(u) || u.startsWith('//')),
    [],
  );
  await withLiveServer(async (e) => {
    for (const [path, global] of [
      ['vendor/vega.min.js', 'vega'],
      ['vendor/vega-lite.min.js', 'vegaLite'],
    ] as const) {
      const res = await fetch(`${e.baseUrl}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', /javascript/);
      assert.ok((await res.text()).includes(`.${global}=`), `${path} is the UMD build defining ${global}`);
    }
    assert.match((await fetch(`${e.baseUrl}live.js`)).headers.get('content-security-policy') ?? '', /default-src 'self'/);
  });
});

test('paths outside the allow-list are 404, traversal included', async () => {
  await withLiveServer(async (e) => {
    for (const path of [
      '/package.json',
      '/vendor/',
      '/vendor/../package.json',
      '/vendor/%2e%2e/package.json',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/api',
      '/__proto__',
      '/constructor',
    ]) {
      // fetch() would normalise the dots away; fetchRaw sends the path as written.
      assert.equal(await fetchRaw(e.port, path), 404, path);
    }
  });
});

function fetchRaw(port: number, path: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test('no endpoint changes the run: anything but GET and HEAD is refused', async () => {
  await withLiveServer(async (e, state) => {
    state.onStep(stepEvent(1));
    const before = JSON.stringify(state.snapshot());
    for (const path of ['/', '/api/run', '/api/charts', '/live.js']) {
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) assert.equal(await fetchRaw(e.port, path, method), 405, `${method} ${path}`);
    }
    assert.equal(JSON.stringify(state.snapshot()), before);
  });
});

test('/api/run follows the run and /api/charts holds Vega-Lite specs that compile', async () => {
  await withLiveServer(async (e, state) => {
    const empty = (await (await fetch(`${e.baseUrl}api/run`)).json()) as RunSnapshot;
    assert.equal(empty.progress.step, 0);
    assert.deepEqual(await (await fetch(`${e.baseUrl}api/charts`)).json(), {});
    for (let s = 1; s <= 5; s++) state.onStep(stepEvent(s));
    state.onEval(epochRecord(0.5, 5), {
      confusion: Array.from({ length: 10 }, () => Array(10).fill(1)),
      macroF1: 0.1,
    });
    const snap = (await (await fetch(`${e.baseUrl}api/run`)).json()) as RunSnapshot;
    assert.equal(snap.progress.step, 5);
    assert.ok(snap.version > empty.version);
    const charts = (await (await fetch(`${e.baseUrl}api/charts`)).json()) as Record<string, TopLevelSpec>;
    assert.deepEqual(Object.keys(charts).sort(), ['confusion', 'curves', 'throughput', 'workers']);
    for (const [name, spec] of Object.entries(charts)) assert.ok(compile(spec).spec, name);
  });
});

test('pixelsense runs lists run directories and refuses a report of anything it did not list', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pixelsense-runs-'));
  try {
    mkdirSync(join(root, 'done'));
    writeFileSync(join(root, 'done', 'run.json'), JSON.stringify({ model: 'ann', started: '2026-01-02T00:00:00Z' }));
    writeFileSync(
      join(root, 'done', 'metrics.json'),
      JSON.stringify({ model: 'ann', steps: 7, examples_per_sec: 900, wall_s: 3, test: { accuracy: 0.8 } }),
    );
    mkdirSync(join(root, 'going'));
    writeFileSync(join(root, 'going', 'run.json'), JSON.stringify({ model: 'cnn', started: '2026-01-03T00:00:00Z' }));
    writeFileSync(join(root, 'going', 'endpoint.json'), JSON.stringify({ url: 'http://127.0.0.1:9400/metrics' }));
    mkdirSync(join(root, 'not-a-run'));
    const runs = listRuns(root);
    assert.deepEqual(
      runs.map((r) => [r.name, r.model, r.finished, r.testAccuracy, r.liveUrl]),
      [
        ['going', 'cnn', false, null, 'http://127.0.0.1:9400/'],
        ['done', 'ann', true, 0.8, null],
      ],
    );
    const server = await startRunsServer({ root, host: '127.0.0.1', port: 0 });
    try {
      const index = await (await fetch(server.url)).text();
      assert.match(index, /value="done"/);
      assert.doesNotMatch(index, /value="going"/, 'only finished runs can be compared');
      const port = Number(new URL(server.url).port);
      for (const q of ['run=going', 'run=..%2F..%2Fetc', 'run=not-a-run', '']) assert.equal(await fetchRaw(port, `/report?${q}`), 400, q);
      assert.equal(await fetchRaw(port, '/', 'POST'), 405);
      assert.equal(await fetchRaw(port, '/done/metrics.json'), 404);
    } finally {
      await server.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
