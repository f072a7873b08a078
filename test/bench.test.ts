/**
 * `pixelsense bench`: a tiny real run through the CLI (outputs and
 * the --json contract), and the arithmetic behind the table on made-up
 * numbers. Throughput itself is never asserted: it is a benchmark.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { aggregate, benchMarkdown, sampleFromSteps } from '../src/coordinator/bench/bench.js';
import type { BenchReport, BenchSample } from '../src/coordinator/bench/benchReport.js';
import type { StepEvent } from '../src/coordinator/training/stepEvent.js';
import { fashionMnistDir } from './support/data.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url)); // dist/test -> repo root
const CLI = join(ROOT, 'dist/src/coordinator/cli/cli.js');

test('a tiny bench run writes bench.json, bench.md, the SVG and PNG chart, and ends stdout with the JSON summary', async () => {
  const out = mkdtempSync(join(tmpdir(), 'pixelsense-bench-test-'));
  try {
    await fashionMnistDir(); // the child finds it in the cache, as a user's bench would
    const args = [
      'bench',
      '--steps',
      '2',
      '--warmup',
      '1',
      '--repeats',
      '1',
      '--workers',
      '1,2',
      '--model',
      'ann',
      '--comm',
      '--ceiling',
      '--out',
      out,
      '--json',
    ];
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, ...args], { cwd: ROOT, timeout: 120_000 });
    for (const f of ['bench.json', 'bench.md', 'bench-scaling.svg', 'bench-scaling.png']) {
      assert.ok(existsSync(join(out, f)) && statSync(join(out, f)).size > 0, `${f} is written`);
    }
    const png = readFileSync(join(out, 'bench-scaling.png'));
    assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
    assert.match(readFileSync(join(out, 'bench-scaling.svg'), 'utf8'), /<svg/);

    const last = stdout.trim().split('\n').at(-1) ?? '';
    const summary = JSON.parse(last) as { results: Record<string, unknown>[]; baseline_fit_examples_per_sec: Record<string, number> };
    assert.equal(summary.results.length, 2);
    for (const r of summary.results) {
      for (const k of ['model', 'workers', 'examples_per_sec', 'speedup', 'efficiency', 'compute_fraction'])
        assert.ok(k in r, `result has ${k}`);
      assert.equal(r['model'], 'ann');
      assert.ok((r['examples_per_sec'] as number) > 0);
    }
    assert.deepEqual(
      summary.results.map((r) => r['workers']),
      [1, 2],
    );
    assert.equal(summary.results[0]?.['speedup'], 1);
    assert.equal(summary.results[0]?.['ceiling_speedup'], 1, '--ceiling adds the uncoordinated speed-up');
    assert.ok((summary.results[1]?.['ceiling_speedup'] as number) > 0);
    for (const r of summary.results) {
      assert.ok((r['uncoordinated_examples_per_sec'] as number) > 0, '--ceiling adds uncoordinated_examples_per_sec to every row');
      assert.ok((r['training_over_uncoordinated'] as number) > 0);
    }
    assert.ok(summary.baseline_fit_examples_per_sec['ann']! > 0, 'model.fit baseline measured');

    const json = JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8')) as BenchReport;
    assert.equal(json.machine.node, process.version);
    assert.deepEqual(
      json.comm?.rows.map((r) => r.method),
      ['empty', 'shared', 'msgpackr', 'clone'],
    );
    const md = readFileSync(join(out, 'bench.md'), 'utf8');
    assert.match(md, /^machine: .+ \| \d+ cores \| Node\.js v\d+.* \| backend \w+$/m);
    assert.match(md, /\| model\.fit \(1 thread\) \|/);
    assert.match(md, /## Moving one gradient between threads/);
    assert.match(md, /## Uncoordinated ceiling \(--ceiling\)\n[\s\S]*\| ANN \| 2 \| \d+ \[/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

function step(stepMs: number, computes: number[], copyMs: number): StepEvent {
  const max = Math.max(...computes);
  const mean = computes.reduce((a, b) => a + b, 0) / computes.length;
  const [reduce, update] = [1, 2];
  return {
    step: 1,
    epoch: 1,
    epochs: 1,
    lastStep: 2,
    examples: 128,
    loss: 1,
    accuracy: 0.5,
    lr: 1e-3,
    examplesPerSecond: 0,
    elapsedSeconds: 0,
    stepSeconds: stepMs / 1e3,
    computeSeconds: mean / 1e3,
    waitSeconds: (max - mean) / 1e3,
    reduceSeconds: reduce / 1e3,
    updateSeconds: update / 1e3,
    overheadSeconds: (stepMs - max - reduce - update) / 1e3,
    shards: computes.map((c, i) => ({
      shard: i,
      threadId: i + 1,
      computeSeconds: c / 1e3,
      waitSeconds: (max - c) / 1e3,
      examples: 128 / computes.length,
      tensors: 0,
      weightCopySeconds: copyMs / 1e3,
      memory: { heapUsed: 10e6, heapTotal: 20e6, external: 0, tfBytes: 0, wasmHeap: 16e6 },
    })),
  };
}

test('the step-time columns of a sample add up to the step, with the weight copy moved out of compute', () => {
  const s = sampleFromSteps({ model: 'cnn', workers: 2, repeat: 1 }, [step(50, [30, 40], 1), step(50, [30, 40], 1)], 0.1, 300e6);
  const parts = s.compute_ms + s.broadcast_ms + s.wait_ms + s.reduce_ms + s.update_ms + s.overhead_ms;
  assert.ok(Math.abs(parts - s.step_ms) < 1e-9, `${parts} vs ${s.step_ms}`);
  assert.ok(Math.abs(s.broadcast_ms - 1) < 1e-9 && Math.abs(s.compute_ms - 34) < 1e-9);
  assert.equal(s.examples_per_sec, 2560);
  assert.equal(s.heap_per_worker_mb, 10);
  assert.equal(s.wasm_per_worker_mb, 16);
});

/** A sample with fixed timings and memory: the aggregation tests vary only who ran it and how fast. */
function benchSample(fields: Pick<BenchSample, 'model' | 'workers' | 'examples_per_sec'> & Partial<BenchSample>): BenchSample {
  return {
    repeat: 1,
    step_ms: 10,
    compute_ms: 8,
    broadcast_ms: 0,
    wait_ms: 1,
    reduce_ms: 0.5,
    update_ms: 0.5,
    overhead_ms: 0,
    compute_fraction: 0.8,
    rss_mb: 300,
    heap_per_worker_mb: 20,
    tf_per_worker_mb: 0,
    wasm_per_worker_mb: null,
    uncoordinated_examples_per_sec: null,
    ...fields,
  };
}

test('rows report the median over repeats, speed-up and efficiency against W=1, and mark oversubscription', () => {
  const sample = (workers: number, repeat: number, eps: number) => benchSample({ model: 'ann', workers, repeat, examples_per_sec: eps });
  const samples = [
    sample(1, 1, 1000),
    sample(1, 2, 1200),
    sample(1, 3, 1100),
    sample(2, 1, 1900),
    sample(2, 2, 2100),
    sample(2, 3, 2000),
    sample(4, 1, 2000),
  ];
  const fits = [{ model: 'ann' as const, repeat: 1, examples_per_sec: 1000, step_ms: 128 }];
  const { rows, baseline } = aggregate(samples, fits, 2);
  assert.deepEqual(rows[0]?.examples_per_sec, { median: 1100, min: 1000, max: 1200 });
  assert.ok(Math.abs((rows[1]?.speedup ?? 0) - 2000 / 1100) < 1e-12);
  assert.ok(Math.abs((rows[1]?.efficiency ?? 0) - 1000 / 1100) < 1e-12);
  assert.deepEqual(
    rows.map((r) => r.oversubscribed),
    [false, false, true],
  );
  assert.ok(Math.abs((baseline[0]?.w1_over_fit ?? 0) - 1.1) < 1e-12);
  const md = benchMarkdown(
    {
      machine: { cpu: 'Test CPU', cores: 2, node: 'v20', backend: 'wasm', platform: 'linux', load_start: 0, load_end: 0 },
      settings: { models: ['ann'], workers: [1, 2, 4], steps: 3, warmup: 1, batch_size: 128, micro_batch_size: { ann: 64 }, repeats: 3 },
      started: 'now',
      results: rows,
      baseline_fit: baseline,
      comm: null,
      samples,
      fit_samples: fits,
    },
    'chart.png',
  );
  assert.match(md, /\| 4 \(oversubscribed\) \|/);
  assert.match(md, /ANN W=1 vs model\.fit: 1\.10x \(target >= 0\.95x\): met/);
});

test("the ceiling speed-up is the uncoordinated throughput over W=1's, and the table shows how much of it training keeps", () => {
  const sample = (workers: number, eps: number, uncoordinated: number) =>
    benchSample({ model: 'cnn', workers, examples_per_sec: eps, uncoordinated_examples_per_sec: uncoordinated });
  const { rows } = aggregate([sample(1, 1000, 1100), sample(2, 1600, 2000)], [], 2);
  assert.ok(Math.abs((rows[1]?.ceiling_speedup ?? 0) - 2000 / 1100) < 1e-12);
  const md = benchMarkdown(
    {
      machine: { cpu: 'Test CPU', cores: 2, node: 'v20', backend: 'wasm', platform: 'linux', load_start: 0, load_end: 0 },
      settings: { models: ['cnn'], workers: [1, 2], steps: 3, warmup: 1, batch_size: 128, micro_batch_size: { cnn: 32 }, repeats: 1 },
      started: 'now',
      results: rows,
      baseline_fit: [],
      comm: null,
      samples: [],
      fit_samples: [],
    },
    'chart.png',
  );
  // 1,600 of 2,000 uncoordinated: 0.80; 1.60x of a 1.82x ceiling: 88%.
  assert.equal(rows[1]?.training_over_uncoordinated, 0.8);
  assert.equal(rows[1]?.uncoordinated_examples_per_sec, 2000);
  assert.match(md, /\| CNN \| 2 \| 1600 \[1600–1600\] \| 2000 \[2000–2000\] \| \*\*0\.80\*\* \| 1\.82x \| 1\.60x \| 88% \|/);
});
