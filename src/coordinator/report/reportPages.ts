/**
 * The report's two pages from the same data: HTML with the SVG figures inline
 * (self-contained: no scripts, no external URLs) and Markdown with links to
 * the PNG copies. Plain template strings: the pages are small and static, and
 * every value from a run is escaped.
 */
import type { Figure } from './charts.js';
import type { Run } from './runMetrics.js';

export interface GainRow {
  label: number;
  name: string;
  ann: number;
  cnn: number;
  delta: number;
}

export interface ReportData {
  generated: string;
  runs: Run[];
  curves: Figure | undefined;
  f1: Figure;
  confusions: Figure[];
  gain: { ann: string; cnn: string; rows: GainRow[]; figure: Figure } | undefined;
  grid: { run: string; count: number; figure: Figure | undefined } | undefined;
  warnings: string[];
  /** Path of a file relative to the report's directory, with forward slashes. */
  rel: (path: string) => string;
}

const TOP_GAINS = 3;

function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Markdown table cells: escape the pipe, keep it on one line. */
function md(s: unknown): string {
  return String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

const fixed = (x: number | null | undefined, digits: number): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);

/** One row of the runs table per run: the headline numbers. */
function runRows(runs: Run[]): { head: string[]; rows: string[][] } {
  const head = [
    'run',
    'model',
    'backend',
    'workers',
    'epochs',
    'steps',
    'test accuracy',
    'test loss',
    'macro F1',
    'weighted F1',
    'examples/s',
    'wall time (s)',
    'time to target (s)',
  ];
  const rows = runs.map(({ label, metrics: m }) => [
    label,
    m.model,
    m.backend ?? '–',
    fixed(m.workers, 0),
    fixed(m.epochs, 0),
    fixed(m.steps, 0),
    fixed(m.test.accuracy, 4),
    fixed(m.test.loss, 4),
    fixed(m.test.macro_f1, 4),
    fixed(m.test.weighted_f1, 4),
    fixed(m.examples_per_sec, 0),
    fixed(m.wall_s, 1),
    fixed(m.time_to_target_s, 1),
  ]);
  return { head, rows };
}

/** Per-class F1, one column per run. */
function f1Rows(runs: Run[]): { head: string[]; rows: string[][] } {
  const first = runs[0];
  const classes = first ? first.metrics.test.per_class.map((c) => c.name) : [];
  return {
    head: ['class', ...runs.map((r) => `${r.label} F1`)],
    rows: classes.map((name, k) => [name, ...runs.map((r) => fixed(r.metrics.test.per_class[k]?.f1, 4))]),
  };
}

/** Names only real gains: with an undertrained CNN the "top gains" may be losses, and the sentence must not say otherwise. */
function gainSentence(g: NonNullable<ReportData['gain']>): string {
  const top = g.rows.filter((r) => r.delta > 0).slice(0, TOP_GAINS);
  if (top.length === 0) return `The CNN (${g.cnn}) does not beat the ANN (${g.ann}) on F1 for any class.`;
  const list = top.map((r) => `${r.name} (+${r.delta.toFixed(3)})`).join(', ');
  return `The CNN (${g.cnn}) gains most F1 over the ANN (${g.ann}) on ${list}.`;
}

function gainRows(g: NonNullable<ReportData['gain']>): { head: string[]; rows: string[][] } {
  return {
    head: ['class', `ANN F1 (${g.ann})`, `CNN F1 (${g.cnn})`, 'gain'],
    rows: g.rows.map((r) => [r.name, fixed(r.ann, 4), fixed(r.cnn, 4), `${r.delta >= 0 ? '+' : ''}${r.delta.toFixed(4)}`]),
  };
}

function htmlTable(t: { head: string[]; rows: string[][] }): string {
  const head = t.head.map((h) => `<th>${esc(h)}</th>`).join('');
  const body = t.rows.map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`);
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body.join('\n')}\n</tbody></table>`;
}

function mdTable(t: { head: string[]; rows: string[][] }): string {
  const line = (cells: string[]): string => `| ${cells.map(md).join(' | ')} |`;
  // Right-align columns whose cells are all numbers (or the '–' placeholder).
  const numeric = t.head.map((_, i) => t.rows.length > 0 && t.rows.every((r) => /^([-+]?\d+(\.\d+)?|–)$/.test(r[i] ?? '')));
  const rule = `|${numeric.map((n) => (n ? ' ---: ' : ' --- ')).join('|')}|`;
  return [line(t.head), rule, ...t.rows.map(line)].join('\n');
}

const CSS = `
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; } td { text-align: right; font-variant-numeric: tabular-nums; }
thead th { background: #f4f4f4; } tbody th { text-align: left; font-weight: normal; }
figure { margin: 1em 0; overflow-x: auto; } .warn { color: #a40; }
.muted { color: #666; font-size: .9em; }`;

/** The self-contained HTML page. */
export function htmlReport(d: ReportData): string {
  const figure = (f: Figure | undefined): string => (f ? `<figure id="${esc(f.name)}">${f.svg}</figure>` : '');
  const parts: string[] = [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>PixelSense report: ${esc(d.runs.map((r) => r.label).join(', '))}</title>`,
    `<style>${CSS}</style></head><body>`,
    '<h1>PixelSense: ANN versus CNN on Fashion-MNIST</h1>',
    `<p class="muted">Generated ${esc(d.generated)} from ${d.runs.map((r) => `<code>${esc(r.dir)}</code>`).join(', ')}.</p>`,
    ...d.warnings.map((w) => `<p class="warn">Note: ${esc(w)}</p>`),
    '<h2>Runs</h2>',
    htmlTable(runRows(d.runs)),
    '<h2>Training curves</h2>',
    d.curves ? figure(d.curves) : '<p>No training history recorded.</p>',
    '<h2>Per-class F1</h2>',
    figure(d.f1),
    htmlTable(f1Rows(d.runs)),
    '<h2>Where the CNN gains most</h2>',
  ];
  if (d.gain) parts.push(`<p>${esc(gainSentence(d.gain))}</p>`, figure(d.gain.figure), htmlTable(gainRows(d.gain)));
  else parts.push('<p>Needs one ANN run and one CNN run.</p>');
  parts.push('<h2>Confusion matrices</h2>', '<p class="muted">Rows: true class; columns: predicted class; colour: share of the row.</p>');
  parts.push(...d.confusions.map(figure));
  parts.push('<h2>Most-confused test images</h2>');
  if (d.grid?.figure) {
    parts.push(
      `<p>Predictions of <code>${esc(d.grid.run)}</code> on ${d.grid.count} test images. Each row is one (true → predicted) confusion with its count, most frequent first; the images are those the model got wrong most confidently, captioned with their test-set index and the predicted class's probability p.</p>`,
      figure(d.grid.figure),
    );
  } else {
    parts.push('<p>Not available (see the notes above).</p>');
  }
  parts.push('</body></html>', '');
  return parts.join('\n');
}

/** The Markdown page; figures are the PNG files next to it. */
export function markdownReport(d: ReportData): string {
  const img = (f: Figure | undefined, alt: string): string => (f ? `![${alt}](${d.rel(f.pngPath)})` : '');
  const parts: string[] = [
    '# PixelSense: ANN versus CNN on Fashion-MNIST',
    '',
    `Generated ${d.generated} from ${d.runs.map((r) => `\`${r.dir}\``).join(', ')}.`,
    '',
    ...d.warnings.map((w) => `> Note: ${w}\n`),
    '## Runs',
    '',
    mdTable(runRows(d.runs)),
    '',
    '## Training curves',
    '',
    d.curves ? img(d.curves, 'loss and accuracy per epoch') : 'No training history recorded.',
    '',
    '## Per-class F1',
    '',
    img(d.f1, 'per-class F1 by run'),
    '',
    mdTable(f1Rows(d.runs)),
    '',
    '## Where the CNN gains most',
    '',
  ];
  if (d.gain)
    parts.push(gainSentence(d.gain), '', img(d.gain.figure, 'F1 gain of the CNN over the ANN'), '', mdTable(gainRows(d.gain)), '');
  else parts.push('Needs one ANN run and one CNN run.', '');
  parts.push('## Confusion matrices', '', 'Rows: true class; columns: predicted class; colour: share of the row.', '');
  for (const f of d.confusions) parts.push(img(f, f.name), '');
  parts.push('## Most-confused test images', '');
  if (d.grid?.figure) {
    parts.push(
      `Predictions of \`${d.grid.run}\` on ${d.grid.count} test images; one row per (true → predicted) confusion with its count, showing the images it got wrong most confidently, captioned with their test-set index and the predicted class's probability p.`,
      '',
      img(d.grid.figure, 'most-confused test images'),
      '',
    );
  } else {
    parts.push('Not available (see the notes above).', '');
  }
  return parts.join('\n');
}
