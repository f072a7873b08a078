/**
 * A consumer of the published package, compiled in a fresh project against
 * the installed tarball's types (`tsc --strict --noEmit`) and then run, by
 * scripts/consumer-test.sh. It uses only the package entry, as a user would.
 * Argument: a scratch directory for the runs.
 */
import { join } from 'node:path';
import {
  bench,
  ConfigError,
  dataInfo,
  evaluate,
  loadConfig,
  PixelSenseError,
  predict,
  serveRuns,
  train,
  writeReport,
  type BenchReport,
  type Config,
  type DataInfo,
  type EpochRecord,
  type Evaluation,
  type Prediction,
  type ReportResult,
  type TrainResult,
  type TrainStep,
} from 'pixelsense';

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`consumer check failed: ${what}`);
}

const scratch = process.argv[2];
if (!scratch) throw new Error('usage: node consumer.js <scratch-dir>');
const smoke = join(process.cwd(), 'node_modules', 'pixelsense', 'configs', 'smoke.yaml');

// The config loads from the packaged YAML file and from an object, through the same schema.
const cfg: Config = loadConfig(smoke);
check(cfg.model.kind === 'cnn', 'configs/smoke.yaml is the CNN smoke config');
try {
  loadConfig({ train: { epochs: -1 } });
  check(false, 'a bad object config is refused');
} catch (err) {
  check(
    err instanceof ConfigError && err instanceof PixelSenseError && err.path === 'train.epochs',
    `ConfigError naming train.epochs, got ${String(err)}`,
  );
}

// 1. A few steps with onStep.
const steps: TrainStep[] = [];
const evals: EpochRecord[] = [];
const done: TrainResult = await train(smoke, {
  workers: 1,
  maxSteps: 3,
  out: join(scratch, 'run'),
  metrics: false,
  onStep: (s) => steps.push(s),
  onEval: (e) => evals.push(e),
});
check(done.stopReason === 'max-steps', `stopReason max-steps, got ${done.stopReason}`);
check(steps.map((s) => s.step).join(',') === '1,2,3', `onStep for steps 1..3, got ${steps.map((s) => s.step).join(',')}`);
check(
  steps.every((s) => s.loss > 0 && s.examplesPerSecond > 0 && s.lr > 0 && s.epoch === 1),
  'onStep carries loss, throughput, lr and epoch',
);
check(evals.length === 1 && evals[0]?.step === 3, 'one evaluation, at the last step');
check(done.testAccuracy > 0 && done.testAccuracy <= 1 && done.timeToTargetSeconds === null, 'test accuracy and no target');
console.log(
  `trained ${done.steps} steps: test accuracy ${done.testAccuracy.toFixed(4)}, ${Math.round(done.examplesPerSecond)} ex/s, ${done.outDir}`,
);

// 2. A second run aborted through its AbortSignal, from inside onStep (no timers).
const controller = new AbortController();
const aborted = await train(smoke, {
  workers: 1,
  out: join(scratch, 'aborted'),
  metrics: false,
  signal: controller.signal,
  onStep: (s) => {
    if (s.step === 2) controller.abort();
  },
});
check(aborted.stopReason === 'interrupted' && aborted.steps === 2, `interrupted at step 2, got ${aborted.stopReason} at ${aborted.steps}`);
console.log(`aborted run stopped at step ${aborted.steps}: ${aborted.stopReason}`);

// 3. Evaluate and predict with the first run's model.
const report: Evaluation = await evaluate(done.outDir, { workers: 1 });
check(
  report.count === 10_000 && report.per_class.length === 10 && report.confusion.length === 10,
  'evaluate: the whole test split, per class, confusion',
);
check(report.macro_f1 >= 0 && report.loss > 0, 'evaluate: macro F1 and loss');
console.log(`evaluate: accuracy ${report.accuracy.toFixed(4)} loss ${report.loss.toFixed(4)} macro F1 ${report.macro_f1.toFixed(4)}`);

const image = process.argv[3];
if (!image) throw new Error('usage: node consumer.js <scratch-dir> <image.png>');
const { readFileSync } = await import('node:fs');
const preds: Prediction[] = await predict(done.outDir, [image, readFileSync(image)], { top: 3 });
check(preds.length === 2, 'one prediction per input');
const [a, b] = preds;
check(a !== undefined && 'top' in a && a.top.length === 3 && a.file === image, `a prediction for the file, got ${JSON.stringify(a)}`);
check(
  b !== undefined && 'top' in b && JSON.stringify(b.top) === JSON.stringify('top' in a ? a.top : null),
  'the same prediction for the same bytes',
);
console.log(`predict: ${'top' in a ? a.top.map((t) => `${t.name} ${(100 * t.probability).toFixed(1)}%`).join(', ') : ''}`);

// 4. The tools the other commands are made of: where the data is, a one-step bench, a report, the runs server.
const info: DataInfo = await dataInfo();
check(info.selected?.classCounts.test.reduce((a, b) => a + b, 0) === 10_000, 'dataInfo: the copy training loaded, 10,000 test labels');
const scaling: BenchReport = await bench({ models: ['ann'], workers: [1], steps: 1, warmup: 0, repeats: 1 });
check(scaling.results.length === 1 && (scaling.results[0]?.examples_per_sec.median ?? 0) > 0, 'bench: one row with a throughput');
console.log(
  `bench: ann W=1 ${Math.round(scaling.results[0]?.examples_per_sec.median ?? 0)} ex/s, model.fit ${Math.round(scaling.baseline_fit[0]?.examples_per_sec.median ?? 0)} ex/s`,
);
const pages: ReportResult = await writeReport([done.outDir], { out: join(scratch, 'report') });
check(pages.html.endsWith('report.html') && pages.figures.length > 0, 'report: the HTML page and its figures');
const server = await serveRuns(scratch, { port: 0 });
const listing = await (await fetch(server.url)).text();
await server.close();
check(listing.includes('run'), 'serveRuns: the listing names the run');
console.log(`report: ${pages.html}; runs server answered at ${server.url}`);
console.log('consumer: ok');
