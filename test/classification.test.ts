import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addToConfusion, emptyConfusion, evalReport, formatEvalReport, mergeConfusion } from '../src/coordinator/report/classification.js';

/**
 * Three classes in play (0, 1, 2), the other seven absent:
 *   true 0: 8 right, 2 predicted as 1         support 10
 *   true 1: 1 predicted as 0, 4 right         support 5
 *   true 2: 1 predicted as 0, 4 right         support 5
 * Column sums: 10, 6, 4. Worked by hand below.
 */
function smallConfusion(): number[][] {
  const m = emptyConfusion();
  m[0]![0] = 8;
  m[0]![1] = 2;
  m[1]![0] = 1;
  m[1]![1] = 4;
  m[2]![0] = 1;
  m[2]![2] = 4;
  return m;
}

const close = (actual: number, expected: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} != ${expected}`);

test('per-class precision, recall, F1 and support match hand-computed values', () => {
  const r = evalReport(smallConfusion(), 10, 20);
  const [c0, c1, c2] = r.per_class;
  close(c0!.precision, 8 / 10, 'p0');
  close(c0!.recall, 8 / 10, 'r0');
  close(c0!.f1, 0.8, 'f0');
  close(c1!.precision, 4 / 6, 'p1');
  close(c1!.recall, 4 / 5, 'r1');
  close(c1!.f1, 8 / 11, 'f1'); // 2 * (2/3) * (4/5) / (2/3 + 4/5)
  close(c2!.precision, 1, 'p2');
  close(c2!.recall, 4 / 5, 'r2');
  close(c2!.f1, 8 / 9, 'f2'); // 2 * 1 * (4/5) / (1 + 4/5)
  assert.deepEqual(
    r.per_class.map((c) => c.support),
    [10, 5, 5, 0, 0, 0, 0, 0, 0, 0],
  );
  assert.equal(r.per_class[6]!.name, 'Shirt');
  assert.equal(r.per_class[9]!.label, 9);
});

test('accuracy is the diagonal over the total and loss is the loss sum over the count', () => {
  const r = evalReport(smallConfusion(), 10, 20);
  close(r.accuracy, 16 / 20, 'accuracy');
  close(r.loss, 0.5, 'loss');
  assert.equal(r.count, 20);
});

test('macro averages weigh all ten classes equally, absent classes counting as zero', () => {
  const r = evalReport(smallConfusion(), 10, 20);
  close(r.macro_precision, (0.8 + 4 / 6 + 1) / 10, 'macro p');
  close(r.macro_recall, (0.8 * 3) / 10, 'macro r');
  close(r.macro_f1, (0.8 + 8 / 11 + 8 / 9) / 10, 'macro f1');
});

test('weighted averages weigh each class by its support', () => {
  const r = evalReport(smallConfusion(), 10, 20);
  close(r.weighted_precision, (0.8 * 10 + (4 / 6) * 5 + 1 * 5) / 20, 'weighted p');
  close(r.weighted_recall, 0.8, 'weighted r');
  close(r.weighted_f1, (0.8 * 10 + (8 / 11) * 5 + (8 / 9) * 5) / 20, 'weighted f1');
});

test('a class never predicted and never present gets zeros rather than NaN', () => {
  const r = evalReport(smallConfusion(), 10, 20);
  assert.deepEqual(r.per_class[5], { label: 5, name: 'Sandal', precision: 0, recall: 0, f1: 0, support: 0 });
  const empty = evalReport(emptyConfusion(), 0, 0);
  assert.equal(empty.accuracy, 0);
  assert.equal(empty.loss, 0);
  assert.ok(!JSON.stringify(empty).includes('null'), 'NaN would serialise as null');
});

test('the report carries a copy of the confusion matrix, not the caller’s array', () => {
  const m = smallConfusion();
  const r = evalReport(m, 10, 20);
  m[0]![0] = 999;
  assert.equal(r.confusion[0]![0], 8);
});

test('merging confusion matrices adds them element by element', () => {
  const a = smallConfusion();
  const b = addToConfusion(emptyConfusion(), [0, 9, 9], [0, 9, 3]);
  const m = mergeConfusion(a, b);
  assert.equal(m[0]![0], 9);
  assert.equal(m[9]![9], 1);
  assert.equal(m[9]![3], 1);
  assert.equal(
    m.flat().reduce((s, v) => s + v, 0),
    23,
  );
  assert.equal(a[0]![0], 8, 'inputs are not modified');
});

test('counting an out-of-range prediction throws instead of skewing the matrix', () => {
  assert.throws(() => addToConfusion(emptyConfusion(), [0], [10]), RangeError);
  assert.throws(() => mergeConfusion([[1]], emptyConfusion()), RangeError);
});

test('the terminal table lists every class, both averages and the confusion matrix', () => {
  const text = formatEvalReport(evalReport(smallConfusion(), 10, 20));
  for (const name of ['T-shirt/top', 'Ankle boot', 'macro avg', 'weighted avg', 'accuracy', 'confusion matrix']) {
    assert.ok(text.includes(name), `missing ${name}`);
  }
  const lines = text.split('\n');
  const shirtRows = lines.filter((l) => l.startsWith('Shirt '));
  assert.equal(shirtRows.length, 2, 'one metrics row and one confusion row');
  assert.ok(
    lines.every((l) => l.length <= 80),
    'fits an 80-column terminal',
  );
  assert.match(text, /^T-shirt\/top\s+0\.8000\s+0\.8000\s+0\.8000\s+10$/m);
});
