/**
 * Soak test (not part of `npm test`): train for many steps — 2,000
 * by default — through the real Trainer loop (evaluation every epoch,
 * checkpoints, the worker pool) and show that nothing accumulates:
 *
 *   - tensors alive in each worker after its task (every step's log.jsonl
 *     line carries `tensors`, one entry per shard), and
 *   - the coordinator's V8 heap (process.memoryUsage().heapUsed, sampled
 *     right after a full GC so garbage does not read as growth).
 *
 * Prints a table at intervals and exits 1 if either grows between the early
 * (post-warm-up) samples and the last ones beyond the tolerance. RSS is
 * printed too, for information: it includes every worker's wasm memory,
 * which grows to a high-water mark and is never returned, so it is not
 * asserted.
 *
 *   node dist/scripts/soak.js [--steps 2000] [--workers 2] [--model ann|cnn]
 *                             [--samples 20] [--heap-tolerance-mb 8] [--out DIR] [--keep]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { loadFashionMnist } from '../src/coordinator/data/fashionMnist.js';
import { TrainingMetrics } from '../src/coordinator/metrics/metrics.js';
import type { Reporter } from '../src/coordinator/training/progress.js';
import { RunDir } from '../src/coordinator/training/runDir.js';
import { Trainer } from '../src/coordinator/training/trainer.js';
import { initBackend } from '../src/shared/backend.js';
import { parseConfig } from '../src/shared/config.js';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '2000' },
    workers: { type: 'string', default: '2' },
    model: { type: 'string', default: 'ann' },
    samples: { type: 'string', default: '20' },
    'heap-tolerance-mb': { type: 'string', default: '8' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const steps = Number(args.steps);
const workers = Number(args.workers);
const samples = Number(args.samples);
const heapToleranceMb = Number(args['heap-tolerance-mb']);
if (
  ![steps, workers, samples].every((n) => Number.isInteger(n) && n >= 1) ||
  !(heapToleranceMb >= 0) ||
  !['ann', 'cnn'].includes(args.model)
) {
  process.stderr.write(
    'usage: soak [--steps N] [--workers W] [--model ann|cnn] [--samples S] [--heap-tolerance-mb MB] [--out DIR] [--keep]\n',
  );
  process.exit(2);
}

// A full GC before each heap sample: what is left is what is retained.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

// 4,096 examples / batch 64 = 64 steps per epoch, so 2,000 steps are ~31
// epochs: 31 evaluations and epoch-end checkpoints, plus one every 250 steps.
const TRAIN = 4096;
const TEST = 500;
const BATCH = 64;
const model =
  args.model === 'ann'
    ? { kind: 'ann', dense: [128], dropout: 0.2 }
    : { kind: 'cnn', conv: [{ filters: 8 }, { filters: 16 }], dense: [32] };
const cfg = parseConfig(
  {
    model,
    data: { trainLimit: TRAIN, testLimit: TEST },
    augment: { translate: 1, flip: true },
    train: { epochs: Math.ceil(steps / (TRAIN / BATCH)), maxSteps: steps, batchSize: BATCH, microBatchSize: 16 },
    checkpoint: { everySteps: 250, keep: 2 },
    metrics: { enabled: false },
  },
  'soak',
);

interface Sample {
  step: number;
  heapMb: number;
  rssMb: number;
}
const every = Math.max(1, Math.floor(steps / samples));
const heap: Sample[] = [];
const mb = (bytes: number): number => bytes / 1048576;
function sample(step: number): void {
  gc();
  const m = process.memoryUsage();
  heap.push({ step, heapMb: mb(m.heapUsed), rssMb: mb(m.rss) });
}

/** Quiet except for sampling: Reporter.step runs on the coordinator after every step. */
const reporter: Reporter = {
  start() {},
  step(info) {
    if (info.step % every === 0 || info.step === steps) sample(info.step);
  },
  epoch() {},
  log() {},
  stop() {},
};

const outDir = args.out ?? mkdtempSync(join(tmpdir(), 'pixelsense-soak-'));
await initBackend(cfg.runtime.backend);
const dataset = await loadFashionMnist({ trainLimit: TRAIN, testLimit: TEST });
const runDir = RunDir.create(outDir, true);
runDir.writeConfig(cfg);
const metrics = new TrainingMetrics({ runId: 'soak', model: cfg.model.kind, backend: cfg.runtime.backend, workers, configFile: 'soak' });
process.stderr.write(
  `soak: ${steps} steps of the ${cfg.model.kind}, ${workers} workers, sampling every ${every} steps, run directory ${outDir}\n`,
);
const t0 = performance.now();
sample(0);
const trainer = await Trainer.create({ cfg, configFile: 'soak', runDir, dataset, workers, metrics, reporter, stopRequested: () => false });
try {
  await trainer.run();
} finally {
  await trainer.close();
}
const wall = (performance.now() - t0) / 1000;

// Tensors per worker (per shard) after every step, from the run's log.
const tensorsAt = new Map<number, number[]>();
for (const line of readFileSync(runDir.file('log.jsonl'), 'utf8').split('\n')) {
  if (!line) continue;
  const e = JSON.parse(line) as { event: string; step: number; tensors?: number[] };
  if (e.event === 'step' && e.tensors) tensorsAt.set(e.step, e.tensors);
}

const pad = (s: string | number, n: number): string => String(s).padStart(n);
console.log(`\n${pad('step', 6)}  ${pad('tensors per worker', 20)}  ${pad('heap MB', 8)}  ${pad('rss MB', 8)}`);
for (const s of heap) {
  const t = s.step === 0 ? '-' : (tensorsAt.get(s.step) ?? []).join(' ');
  console.log(`${pad(s.step, 6)}  ${pad(t, 20)}  ${pad(s.heapMb.toFixed(1), 8)}  ${pad(s.rssMb.toFixed(0), 8)}`);
}

// Flatness. Warm-up: the first tenth of the run (backends, XNNPACK caches,
// V8's own tiering) is excluded; the early and late windows are the next and
// the last few samples.
const warm = heap.filter((s) => s.step >= steps / 10);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const early = median(warm.slice(0, 3).map((s) => s.heapMb));
const late = median(warm.slice(-3).map((s) => s.heapMb));
const heapGrowth = late - early;

const perStep = [...tensorsAt.entries()].filter(([step]) => step >= steps / 10);
const half = Math.floor(perStep.length / 2);
const maxTensors = (rows: [number, number[]][]): number => Math.max(...rows.flatMap(([, t]) => t));
const tensorsEarly = maxTensors(perStep.slice(0, half));
const tensorsLate = maxTensors(perStep.slice(half));
const distinct = new Set(perStep.flatMap(([, t]) => t));

console.log(`\n${tensorsAt.size} steps in ${wall.toFixed(1)} s (${(tensorsAt.size / wall).toFixed(1)} steps/s)`);
console.log(
  `tensors per worker after warm-up: max ${tensorsEarly} in the first half, ${tensorsLate} in the second; values seen: ${[...distinct].sort((a, b) => a - b).join(', ')}`,
);
console.log(
  `heap after GC: ${early.toFixed(1)} MB early, ${late.toFixed(1)} MB late (${heapGrowth >= 0 ? '+' : ''}${heapGrowth.toFixed(1)} MB; tolerance ${heapToleranceMb} MB)`,
);

const failures: string[] = [];
if (tensorsAt.size !== steps) failures.push(`expected ${steps} step lines in log.jsonl, found ${tensorsAt.size}`);
if (tensorsLate > tensorsEarly) failures.push(`worker tensors grew from ${tensorsEarly} to ${tensorsLate}`);
if (!(heapGrowth <= heapToleranceMb))
  failures.push(`coordinator heap grew by ${heapGrowth.toFixed(1)} MB (tolerance ${heapToleranceMb} MB)`);
if (!args.keep && args.out === undefined) rmSync(outDir, { recursive: true, force: true });
if (failures.length > 0) {
  console.log(`FAIL: ${failures.join('; ')}`);
  process.exit(1);
}
console.log('OK: tensors per worker and coordinator heap are flat');
