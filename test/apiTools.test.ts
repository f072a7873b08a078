/**
 * The library's tools from the package entry (src/index.ts), in-process:
 * bench(), writeReport(), dataInfo/verifyData/downloadData and serveRuns(), each
 * on a tiny input, and nothing printed. The CLI over them is tested in
 * bench.test.ts, report.test.ts, fashionMnist.test.ts and live.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fashionMnistDir, writeFixture } from './support/data.js';
import {
  bench,
  DataError,
  dataInfo,
  downloadData,
  RunDirError,
  serveRuns,
  train,
  UsageError,
  verifyData,
  writeReport,
  type BenchOptions,
  type BenchReport,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pixelsense-api-tools-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** One ANN repeat of one measured step at W=1 and 2: the smallest bench that still has a speed-up. */
const TINY: BenchOptions = { models: ['ann'], workers: [2], steps: 1, warmup: 0, repeats: 1, batchSize: 64 };

let data: string;
const run = join(dir, 'runs', 'ann-run');

before(async () => {
  data = await fashionMnistDir();
  await train(
    {
      model: { kind: 'ann', dense: [16] },
      data: { trainLimit: 128, testLimit: 100 },
      train: { epochs: 1, batchSize: 32, microBatchSize: 16 },
      metrics: { enabled: false },
    },
    { workers: 1, out: run, dataDir: data },
  );
});

/**
 * stdout and stderr of a separate process that runs `code` with the package
 * entry as `api` (the test runner itself talks over this process's stdout).
 * The code goes in a file, not `-e`: the bench's worker threads inherit the
 * parent's execArgv, and `--input-type` is refused in a thread.
 */
function inChild(code: string, cwd: string): Promise<{ code: number | null; output: string }> {
  const script = join(dir, `child-${Date.now()}.mjs`);
  writeFileSync(script, `import * as api from ${JSON.stringify(new URL('../src/index.js', import.meta.url).href)};\n${code}\n`);
  const child = spawn(process.execPath, [script], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, output }));
  });
}

test("bench() resolves with bench.json's object, adds W=1, and writes bench.json, bench.md and the chart into `out`", async () => {
  const out = join(dir, 'bench');
  const lines: string[] = [];
  const r: BenchReport = await bench({ ...TINY, dataDir: data, out, log: (l) => lines.push(l) });
  assert.deepEqual(r.settings.workers, [1, 2]);
  assert.deepEqual(
    r.results.map((x) => [x.model, x.workers]),
    [
      ['ann', 1],
      ['ann', 2],
    ],
  );
  assert.equal(r.results[0]?.speedup, 1);
  assert.ok(r.results.every((x) => x.examples_per_sec.median > 0));
  assert.equal(r.baseline_fit.length, 1);
  assert.equal(r.comm, null);
  assert.deepEqual(readdirSync(out).sort(), ['bench-scaling.png', 'bench-scaling.svg', 'bench.json', 'bench.md']);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8')), JSON.parse(JSON.stringify(r)));
  assert.ok(lines.includes('bench: adding W=1, the reference for speed-up and efficiency'), lines.join('\n'));
  assert.ok(
    lines.some((l) => /^ann W=2 repeat 1\/1: \d+ ex\/s/.test(l)),
    lines.join('\n'),
  );
});

test('bench() without `out` prints nothing and writes no file', async () => {
  const cwd = mkdtempSync(join(dir, 'cwd-'));
  const r = await inChild(
    `const b = await api.bench(${JSON.stringify({ ...TINY, workers: [1], dataDir: data })});
if (b.results.length !== 1) process.exitCode = 3;`,
    cwd,
  );
  assert.equal(r.code, 0, r.output);
  assert.equal(r.output, '');
  assert.deepEqual(readdirSync(cwd), []);
});

test('bench() refuses bad options with a UsageError naming the option, before measuring anything', async () => {
  await assert.rejects(bench({ ...TINY, workers: [0] }), (e: unknown) => e instanceof UsageError && /^workers must be/.test(e.message));
  await assert.rejects(
    bench({ ...TINY, steps: 0 }),
    (e: unknown) => e instanceof UsageError && /^steps must be a positive integer/.test(e.message),
  );
  await assert.rejects(
    bench({ ...TINY, warmup: -1 }),
    (e: unknown) => e instanceof UsageError && /^warmup must be an integer >= 0/.test(e.message),
  );
});

test('writeReport() writes report.html, report.md and the figures of a run, naming what it could not make in `warnings`', async () => {
  const out = join(dir, 'report');
  const r = await writeReport([run], { out, dataDir: data });
  assert.equal(r.html, join(out, 'report.html'));
  assert.equal(r.markdown, join(out, 'report.md'));
  assert.match(readFileSync(r.html, 'utf8'), /ann-run/);
  assert.ok(r.figures.length > 0 && r.figures.every((f) => existsSync(f)), r.figures.join(', '));
  assert.ok(
    r.warnings.some((w) => /needs one run of each model kind/.test(w)),
    r.warnings.join('\n'),
  );
});

test('dataInfo() names the copy training would load and its class counts; verifyData() checks it and says which copy it is', async () => {
  const fixture = join(dir, 'fixture');
  await writeFixture(fixture, { train: 30, test: 10 });
  const info = await dataInfo({ dataDir: fixture, cacheDir: join(dir, 'empty-cache') });
  assert.equal(info.selected?.label, '--data-dir');
  assert.equal(info.selected?.dir, fixture);
  assert.deepEqual(info.selected?.classCounts.train, [3, 3, 3, 3, 3, 3, 3, 3, 3, 3]);
  assert.equal(info.cacheDir, join(dir, 'empty-cache'));
  const v = await verifyData({ dir: fixture });
  assert.equal(v.valid, true);
  assert.equal(v.copy, 'unknown');
  assert.equal(v.ok, false, 'valid files of no known copy are not ok');
  await assert.rejects(verifyData({ dir: join(dir, 'nowhere') }), DataError);
});

test('downloadData() keeps the files the cache already has and downloads nothing', async () => {
  const cache = join(dir, 'cache');
  mkdirSync(join(cache, 'official'), { recursive: true });
  const names = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
  for (const n of names) writeFileSync(join(cache, 'official', `${n}.gz`), 'x');
  // A refused loopback port: were a download tried, it would fail here at once, and never leave the machine.
  const r = await downloadData({ cacheDir: cache, baseUrl: 'http://127.0.0.1:9/' });
  assert.equal(r.dir, join(cache, 'official'));
  assert.deepEqual(
    r.files.map((f) => [f.name, f.status]),
    names.map((n) => [n, 'present']),
  );
});

test('serveRuns() serves the listing of the runs until close(), and refuses a directory that is not there', async () => {
  const server = await serveRuns(join(dir, 'runs'), { port: 0 });
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const res = await fetch(server.url);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /ann-run/);
  } finally {
    await server.close();
  }
  await assert.rejects(fetch(server.url));
  await assert.rejects(serveRuns(join(dir, 'nowhere'), { port: 0 }), RunDirError);
});
