/**
 * `pixelsense report`: one self-contained HTML page (inline SVG and CSS, no
 * external URLs, so it can be mailed or archived) and a Markdown page that
 * references PNG copies of the same figures, from one or more run directories.
 *
 * Everything comes from each run's metrics.json except the most-confused
 * images grid, which needs pictures: it reloads one run's model and predicts
 * the test set (10,000 images: seconds on wasm, much longer on the cpu
 * backend). If the model or the data cannot be loaded the report is still
 * written, with the reason in place of the grid and in `warnings`.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import sharp from 'sharp';
import { initBackend, type BackendChoice } from '../../shared/backend.js';
import { CLASS_NAMES, NUM_CLASSES, PIXELS } from '../../shared/dataset.js';
import { ModelError } from '../../shared/errors.js';
import {
  confusedGridSpec,
  confusionSpec,
  curvesSpec,
  f1Spec,
  gainSpec,
  renderFigure,
  type ConfusedImage,
  type CurvePoint,
  type Figure,
} from './charts.js';
import type { EvalReport } from './classification.js';
import { loadFashionMnist } from '../data/fashionMnist.js';
import { loadModelDir } from '../../shared/modelFiles.js';
import { predictProbabilities } from './predict.js';
import { markdownReport, htmlReport, type ReportData } from './reportPages.js';
import { MetricsSchema, type Run, type RunMetrics } from './runMetrics.js';

export type { Run, RunMetrics } from './runMetrics.js';

export interface ReportOptions {
  /** Fashion-MNIST directory for the confused-images grid (default: the usual search). */
  dataDir?: string;
  /** Backend to initialise before predicting the test set (default 'auto'; null: keep tfjs's current one). */
  backend?: BackendChoice | null;
  /** Predict only the first N test images for the grid (tests; default all). */
  testLimit?: number;
  log?: (line: string) => void;
}

export interface ReportResult {
  html: string;
  markdown: string;
  figures: string[];
  /** Parts of the report that could not be made (e.g. no model for the image grid). */
  warnings: string[];
}

/** Read and validate `<dir>/metrics.json`; defects are a ModelError naming the file and field. */
export async function readRun(dir: string, label = basename(resolve(dir))): Promise<Run> {
  const file = join(dir, 'metrics.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelError(file, code === 'ENOENT' ? 'missing (is this a run directory?)' : `cannot read (${code})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelError(file, `is not valid JSON (${(err as Error).message})`);
  }
  const parsed = MetricsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelError(file, `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return { dir, label, metrics: parsed.data };
}

/** Base names, made unique with -2, -3 ... when two runs share one. */
function uniqueLabels(dirs: string[]): string[] {
  const seen = new Map<string, number>();
  return dirs.map((d) => {
    const base = basename(resolve(d));
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  });
}

/** The most accurate run of a kind ('ann' or 'cnn'), if any. */
export function bestRun(runs: Run[], kind: string): Run | undefined {
  return runs.filter((r) => r.metrics.model === kind).sort((a, b) => b.metrics.test.accuracy - a.metrics.test.accuracy)[0];
}

/** Per-class CNN F1 minus ANN F1, largest first. */
export function cnnGains(ann: EvalReport | RunMetrics['test'], cnn: EvalReport | RunMetrics['test']) {
  return cnn.per_class
    .map((c, k) => ({ label: k, name: c.name, ann: ann.per_class[k]?.f1 ?? 0, cnn: c.f1, delta: c.f1 - (ann.per_class[k]?.f1 ?? 0) }))
    .sort((a, b) => b.delta - a.delta);
}

const PAIRS = 6;
const PER_PAIR = 8;

/** 28x28 uint8 -> data: URL of a 2x nearest-neighbour PNG (pixels stay crisp however the viewer scales). */
async function pngDataUrl(pixels: Uint8Array): Promise<string> {
  const png = await sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } })
    .resize(56, 56, { kernel: 'nearest' })
    .png()
    .toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

/**
 * Predict the test set with `run`'s model and return, for the PAIRS most
 * frequent (true, predicted) confusions, the PER_PAIR images the model got
 * wrong most confidently.
 */
export async function mostConfused(run: Run, opts: ReportOptions): Promise<{ items: ConfusedImage[]; count: number }> {
  const model = await loadModelDir(run.dir);
  try {
    const data = await loadFashionMnist({
      ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
      ...(opts.testLimit !== undefined ? { testLimit: opts.testLimit } : {}),
      trainLimit: 0,
      ...(opts.log ? { log: opts.log } : {}),
    });
    const { count } = data.test;
    const images = new Uint8Array(data.test.images);
    const labels = new Uint8Array(data.test.labels);
    const wrong: { index: number; t: number; p: number; prob: number }[] = [];
    const CHUNK = 1000; // float copies of 1,000 images: 3 MB at a time, not 31 MB
    for (let start = 0; start < count; start += CHUNK) {
      const n = Math.min(CHUNK, count - start);
      const x = Float32Array.from(images.subarray(start * PIXELS, (start + n) * PIXELS), (v) => v / 255);
      const probs = predictProbabilities(model, x, n);
      for (let i = 0; i < n; i++) {
        const row = probs.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES);
        let p = 0;
        for (let k = 1; k < NUM_CLASSES; k++) if ((row[k] ?? 0) > (row[p] ?? 0)) p = k;
        const t = labels[start + i] ?? 0;
        if (p !== t) wrong.push({ index: start + i, t, p, prob: row[p] ?? 0 });
      }
    }
    const byPair = new Map<string, typeof wrong>();
    for (const w of wrong) {
      const key = `${w.t},${w.p}`;
      byPair.set(key, [...(byPair.get(key) ?? []), w]);
    }
    const top = [...byPair.values()].sort((a, b) => b.length - a.length).slice(0, PAIRS);
    const items: ConfusedImage[] = [];
    for (const group of top) {
      const first = group[0];
      if (first === undefined) continue;
      const pair = `${CLASS_NAMES[first.t]} → ${CLASS_NAMES[first.p]} (${group.length})`;
      const shown = [...group].sort((a, b) => b.prob - a.prob).slice(0, PER_PAIR);
      for (const [column, w] of shown.entries()) {
        const url = await pngDataUrl(images.subarray(w.index * PIXELS, (w.index + 1) * PIXELS));
        items.push({ pair, column, url, caption: `#${w.index} p=${w.prob.toFixed(2)}` });
      }
    }
    return { items, count };
  } finally {
    model.dispose();
  }
}

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '') || 'run';
}

/** Write report.html, report.md and figures/ under `outDir`. */
export async function writeReport(runDirs: string[], outDir: string, opts: ReportOptions = {}): Promise<ReportResult> {
  if (runDirs.length === 0) throw new ModelError('(none)', 'report needs at least one run directory');
  const labels = uniqueLabels(runDirs);
  const runs = await Promise.all(runDirs.map((d, i) => readRun(d, labels[i])));
  const figDir = join(outDir, 'figures');
  await mkdir(figDir, { recursive: true });
  const warnings: string[] = [];
  const figures: Figure[] = [];
  const fig = async (spec: Parameters<typeof renderFigure>[0], name: string): Promise<Figure> => {
    const f = await renderFigure(spec, figDir, name);
    figures.push(f);
    return f;
  };

  const points: CurvePoint[] = runs.flatMap((r) =>
    r.metrics.history.flatMap((h) => [
      { run: r.label, epoch: h.epoch, split: 'train' as const, loss: h.train_loss ?? null, accuracy: h.train_accuracy ?? null },
      { run: r.label, epoch: h.epoch, split: 'test' as const, loss: h.test_loss ?? null, accuracy: h.test_accuracy ?? null },
    ]),
  );
  const curves = points.length > 0 ? await fig(curvesSpec(points), 'training-curves') : undefined;
  if (!curves) warnings.push('no run has a training history: curves omitted');
  const f1 = await fig(
    f1Spec(runs.flatMap((r) => r.metrics.test.per_class.map((c) => ({ run: r.label, name: c.name, f1: c.f1 })))),
    'f1-per-class',
  );
  const confusions: Figure[] = [];
  for (const r of runs) {
    confusions.push(
      await fig(confusionSpec(`Confusion matrix: ${r.label} (${r.metrics.model})`, r.metrics.test.confusion), `confusion-${slug(r.label)}`),
    );
  }

  const ann = bestRun(runs, 'ann');
  const cnn = bestRun(runs, 'cnn');
  let gain: ReportData['gain'];
  if (ann && cnn) {
    const rows = cnnGains(ann.metrics.test, cnn.metrics.test);
    const figure = await fig(gainSpec(rows, `Where the CNN (${cnn.label}) gains over the ANN (${ann.label})`), 'cnn-gain');
    gain = { ann: ann.label, cnn: cnn.label, rows, figure };
  } else {
    warnings.push('the CNN-versus-ANN comparison needs one run of each model kind');
  }

  const gridRun = cnn ?? [...runs].sort((a, b) => b.metrics.test.accuracy - a.metrics.test.accuracy)[0];
  let grid: ReportData['grid'];
  if (gridRun) {
    try {
      if (opts.backend !== null) await initBackend(opts.backend ?? 'auto');
      const { items, count } = await mostConfused(gridRun, opts);
      const title = `Most-confused test images: ${gridRun.label}`;
      grid = {
        run: gridRun.label,
        count,
        figure: items.length > 0 ? await fig(confusedGridSpec(items, title), 'most-confused') : undefined,
      };
    } catch (err) {
      const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
      warnings.push(`most-confused images omitted: ${why}`);
    }
  }

  const data: ReportData = {
    generated: new Date().toISOString(),
    runs,
    curves,
    f1,
    confusions,
    gain,
    grid,
    warnings,
    rel: (p: string) => relative(outDir, p).split('\\').join('/'),
  };
  const html = join(outDir, 'report.html');
  const markdown = join(outDir, 'report.md');
  // Temp + rename: a report being regenerated is never seen half-written.
  await writeFile(`${html}.tmp`, htmlReport(data));
  await rename(`${html}.tmp`, html);
  await writeFile(`${markdown}.tmp`, markdownReport(data));
  await rename(`${markdown}.tmp`, markdown);
  return { html, markdown, figures: figures.flatMap((f) => [f.svgPath, f.pngPath]), warnings };
}
