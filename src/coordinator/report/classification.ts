/**
 * Classification metrics from a confusion matrix: the one structure every
 * eval shard produces and the coordinator sums. Working from counts (not from
 * per-example predictions) keeps the merge exact and order-independent, and
 * what crosses the thread boundary is 100 integers plus a loss sum.
 *
 * EvalReport is the public shape of `pixelsense eval --json` and of
 * metrics.json's `test` field; its field names are interface, not style.
 */
import { CLASS_NAMES, NUM_CLASSES } from '../../shared/dataset.js';

export interface ClassMetrics {
  label: number;
  name: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface EvalReport {
  accuracy: number;
  /** Mean cross-entropy over `count` examples. */
  loss: number;
  count: number;
  per_class: ClassMetrics[];
  macro_precision: number;
  macro_recall: number;
  macro_f1: number;
  weighted_precision: number;
  weighted_recall: number;
  weighted_f1: number;
  /** NUM_CLASSES x NUM_CLASSES counts: rows are true labels, columns predictions. */
  confusion: number[][];
}

/** A zeroed NUM_CLASSES x NUM_CLASSES matrix. */
export function emptyConfusion(): number[][] {
  return Array.from({ length: NUM_CLASSES }, () => new Array<number>(NUM_CLASSES).fill(0));
}

function checkSquare(m: number[][], what: string): void {
  if (m.length !== NUM_CLASSES || m.some((row) => row.length !== NUM_CLASSES)) {
    throw new RangeError(`${what}: confusion matrix must be ${NUM_CLASSES}x${NUM_CLASSES}`);
  }
}

/** Element-wise sum of two confusion matrices (a new matrix; inputs untouched). */
export function mergeConfusion(a: number[][], b: number[][]): number[][] {
  checkSquare(a, 'mergeConfusion(a)');
  checkSquare(b, 'mergeConfusion(b)');
  return a.map((row, i) => row.map((v, j) => v + (b[i]?.[j] ?? 0)));
}

/**
 * Count (true, predicted) pairs into `confusion` in place. Labels and
 * predictions are parallel arrays of class indices; out-of-range values are a
 * bug upstream and throw rather than silently skewing the counts.
 */
export function addToConfusion(confusion: number[][], labels: ArrayLike<number>, predictions: ArrayLike<number>): number[][] {
  if (labels.length !== predictions.length) {
    throw new RangeError(`addToConfusion: ${labels.length} labels but ${predictions.length} predictions`);
  }
  for (let i = 0; i < labels.length; i++) {
    const row = confusion[labels[i] as number];
    const p = predictions[i] as number;
    if (row === undefined || p < 0 || p >= NUM_CLASSES || !Number.isInteger(p)) {
      throw new RangeError(`addToConfusion: pair (${labels[i]}, ${p}) out of range`);
    }
    row[p] = (row[p] ?? 0) + 1;
  }
  return confusion;
}

/** a / b with the scikit-learn convention for an empty denominator: 0. */
function ratio(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}

/**
 * Build the full report. `lossSum` is the summed (not mean) per-example loss
 * over `count` examples, so shards can add theirs before dividing once.
 * Precision of a class never predicted, recall of a class with no examples,
 * and F1 when both are 0 are all 0 (no NaN in JSON).
 */
export function evalReport(confusion: number[][], lossSum: number, count: number): EvalReport {
  checkSquare(confusion, 'evalReport');
  const n = NUM_CLASSES;
  const rowSum = confusion.map((row) => row.reduce((s, v) => s + v, 0));
  const colSum = Array.from({ length: n }, (_, j) => confusion.reduce((s, row) => s + (row[j] ?? 0), 0));
  const total = rowSum.reduce((s, v) => s + v, 0);
  let correct = 0;
  const per_class: ClassMetrics[] = [];
  for (let k = 0; k < n; k++) {
    const tp = confusion[k]?.[k] ?? 0;
    correct += tp;
    const precision = ratio(tp, colSum[k] ?? 0);
    const recall = ratio(tp, rowSum[k] ?? 0);
    const f1 = ratio(2 * precision * recall, precision + recall);
    per_class.push({ label: k, name: CLASS_NAMES[k] ?? String(k), precision, recall, f1, support: rowSum[k] ?? 0 });
  }
  const mean = (f: (c: ClassMetrics) => number): number => per_class.reduce((s, c) => s + f(c), 0) / n;
  const weighted = (f: (c: ClassMetrics) => number): number =>
    ratio(
      per_class.reduce((s, c) => s + f(c) * c.support, 0),
      total,
    );
  return {
    accuracy: ratio(correct, total),
    loss: ratio(lossSum, count),
    count,
    per_class,
    macro_precision: mean((c) => c.precision),
    macro_recall: mean((c) => c.recall),
    macro_f1: mean((c) => c.f1),
    weighted_precision: weighted((c) => c.precision),
    weighted_recall: weighted((c) => c.recall),
    weighted_f1: weighted((c) => c.f1),
    confusion: confusion.map((row) => row.slice()),
  };
}

/** Four-letter class names for the confusion matrix columns (full names would make it 120 columns wide). */
export const SHORT_CLASS_NAMES: readonly string[] = ['Tsht', 'Trou', 'Pull', 'Drss', 'Coat', 'Sndl', 'Shrt', 'Snkr', 'Bag', 'Boot'];

const f4 = (x: number): string => x.toFixed(4);

/**
 * A fixed-width terminal rendering: per-class table, averages, accuracy and
 * loss, then the confusion matrix (rows true, columns predicted). About 72
 * columns for a 10,000-example test set.
 */
export function formatEvalReport(r: EvalReport): string {
  const nameW = Math.max(12, ...CLASS_NAMES.map((s) => s.length + 1));
  const lines: string[] = [];
  const row = (name: string, p: string, rc: string, f: string, s: string): string =>
    name.padEnd(nameW) + p.padStart(10) + rc.padStart(10) + f.padStart(10) + s.padStart(10);
  lines.push(row('class', 'precision', 'recall', 'f1', 'support'));
  for (const c of r.per_class) lines.push(row(c.name, f4(c.precision), f4(c.recall), f4(c.f1), String(c.support)));
  lines.push('');
  const total = String(r.per_class.reduce((s, c) => s + c.support, 0));
  lines.push(row('macro avg', f4(r.macro_precision), f4(r.macro_recall), f4(r.macro_f1), total));
  lines.push(row('weighted avg', f4(r.weighted_precision), f4(r.weighted_recall), f4(r.weighted_f1), total));
  lines.push(row('accuracy', '', '', f4(r.accuracy), total));
  lines.push(row('loss', '', '', f4(r.loss), String(r.count)));
  lines.push('');
  lines.push('confusion matrix (rows: true class, columns: predicted class)');
  const maxCount = Math.max(0, ...r.confusion.flat());
  const cellW = Math.max(5, String(maxCount).length + 1);
  lines.push(''.padEnd(nameW) + SHORT_CLASS_NAMES.map((s) => s.padStart(cellW)).join(''));
  r.confusion.forEach((cells, i) => {
    lines.push((CLASS_NAMES[i] ?? String(i)).padEnd(nameW) + cells.map((v) => String(v).padStart(cellW)).join(''));
  });
  return lines.join('\n');
}
