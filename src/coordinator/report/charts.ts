/**
 * The report's figures as Vega-Lite specs, rendered headless: vega-lite
 * compiles to Vega, a Vega View with renderer 'none' produces SVG (no canvas,
 * no browser), @resvg/resvg-js rasterises that SVG to PNG. Declarative specs
 * keep the figures reviewable and consistent; the cost is ~50-100 ms per figure.
 *
 * Without node-canvas Vega estimates text widths, so labels are sized for
 * DejaVu Sans / Helvetica-like fonts. resvg draws text with the fonts installed
 * on the machine (it loads system fonts, DejaVu Sans preferred), so the PNGs'
 * lettering depends on them; the inline SVGs use the viewer's fonts.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { CLASS_NAMES } from '../../shared/dataset.js';

export interface Figure {
  name: string;
  /** Inline SVG markup (no XML prolog), ready to embed in HTML. */
  svg: string;
  svgPath: string;
  pngPath: string;
}

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const CONFIG = {
  font: FONT,
  background: 'white',
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' as const },
};

/** The spec with the report's look (font, sizes, white background): what both the report and the live page render. */
export function withChartConfig(spec: TopLevelSpec): TopLevelSpec {
  return { ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec;
}

/** Vega-Lite -> SVG string. The View is finalised so no timers keep the process alive. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const vg = compile(withChartConfig(spec)).spec;
  const view = new View(parse(vg), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** SVG -> PNG at 2x for legibility on high-density screens and in Markdown viewers. */
export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

/** Render `spec` and write `<dir>/<name>.svg` and `<dir>/<name>.png`. */
export async function renderFigure(spec: TopLevelSpec, dir: string, name: string): Promise<Figure> {
  const svg = await renderSvg(spec);
  const svgPath = join(dir, `${name}.svg`);
  const pngPath = join(dir, `${name}.png`);
  await writeFile(svgPath, svg);
  await writeFile(pngPath, svgToPng(svg));
  return { name, svg: scopeIds(svg.replace(/^<\?xml[^>]*>\s*/, ''), name), svgPath, pngPath };
}

/**
 * Prefix the SVG's ids (legend gradients, clip paths) with the figure name:
 * inline SVGs share the HTML page's id space, and Vega numbers them per
 * process, so two reports' figures pasted together could otherwise collide.
 */
function scopeIds(svg: string, prefix: string): string {
  return svg.replace(/\bid="([^"]+)"/g, `id="${prefix}-$1"`).replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`);
}

export interface CurvePoint {
  run: string;
  epoch: number;
  split: 'train' | 'test';
  loss: number | null;
  accuracy: number | null;
}

/**
 * Loss and accuracy per epoch, one colour per run, solid for test and dashed
 * for train. `trainPoints: false` marks only the test points, for the live
 * page's per-step train series (thousands of points would hide the line).
 */
export function curvesSpec(points: CurvePoint[], opts: { trainPoints?: boolean } = {}): TopLevelSpec {
  const panel = (field: 'loss' | 'accuracy', title: string) => {
    const x = { field: 'epoch', type: 'quantitative' as const, title: 'epoch', axis: { tickMinStep: 1 } };
    const y = { field, type: 'quantitative' as const, title: field, scale: { zero: false } };
    const color = { field: 'run', type: 'nominal' as const, title: 'run' };
    const line = { type: 'line' as const, point: true };
    const strokeDash = strokeDashEncoding();
    if (opts.trainPoints ?? true) {
      return {
        title,
        width: 340,
        height: 220,
        transform: [{ filter: `datum.${field} != null` }],
        mark: line,
        encoding: { x, y, color, strokeDash },
      };
    }
    return {
      title,
      width: 340,
      height: 220,
      transform: [{ filter: `datum.${field} != null` }],
      encoding: { x, y, color },
      layer: [
        { mark: { ...line, point: false }, encoding: { strokeDash } },
        { transform: [{ filter: "datum.split == 'test'" }], mark: { type: 'point' as const, filled: true } },
      ],
    };
  };
  return {
    data: { values: points },
    hconcat: [panel('loss', 'Loss per epoch'), panel('accuracy', 'Accuracy per epoch')],
  } as TopLevelSpec;
}

/** Train dashed, test solid, with a legend whose strokes are visible. */
function strokeDashEncoding() {
  return {
    field: 'split',
    type: 'nominal' as const,
    title: 'split',
    scale: {
      domain: ['test', 'train'],
      range: [
        [1, 0],
        [5, 3],
      ],
    },
    legend: {
      symbolType: 'stroke',
      symbolStrokeWidth: 2,
      symbolSize: 300,
      // vega-lite leaves these symbols without a stroke colour (so they would be invisible)
      encode: { symbols: { update: { stroke: { value: '#444' } } } },
    },
  };
}

/** Training throughput against wall time: one line, examples per second. */
export function throughputSpec(points: { elapsedSeconds: number; examplesPerSecond: number }[]): TopLevelSpec {
  return {
    title: 'Examples/s over time',
    data: { values: points },
    width: 340,
    height: 220,
    mark: { type: 'line' },
    encoding: {
      x: { field: 'elapsedSeconds', type: 'quantitative', title: 'elapsed (s)' },
      y: { field: 'examplesPerSecond', type: 'quantitative', title: 'examples/s' },
    },
  } as TopLevelSpec;
}

export interface WorkerTime {
  step: number;
  worker: string;
  phase: 'compute' | 'wait' | 'idle';
  seconds: number;
}

/**
 * Each worker's step, stacked: compute, wait (for the slowest worker), idle
 * (reduce, update, dispatch). One row per worker, so a straggler shows as the
 * row with the tallest compute and the others' wait.
 */
export function workerTimeSpec(rows: WorkerTime[]): TopLevelSpec {
  return {
    title: 'Per-worker time per step',
    data: { values: rows },
    facet: { row: { field: 'worker', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left' } } },
    spec: {
      width: 340,
      height: 60,
      transform: [{ calculate: "indexof(['compute', 'wait', 'idle'], datum.phase)", as: 'phaseOrder' }],
      mark: 'bar',
      encoding: {
        x: { field: 'step', type: 'ordinal', title: 'step', axis: { labelOverlap: true, labelAngle: 0 } },
        y: { field: 'seconds', type: 'quantitative', title: 's', stack: 'zero' },
        color: {
          field: 'phase',
          type: 'nominal',
          title: 'phase',
          scale: { domain: ['compute', 'wait', 'idle'], range: ['#1f77b4', '#ff7f0e', '#c7c7c7'] },
        },
        order: { field: 'phaseOrder', type: 'quantitative', sort: 'ascending' },
      },
    },
    resolve: { scale: { y: 'shared' } },
  } as TopLevelSpec;
}

/** Heatmap: rows true, columns predicted; colour is the row share (recall-like), text the count. */
export function confusionSpec(title: string, confusion: number[][]): TopLevelSpec {
  const values = confusion.flatMap((row, t) => {
    const total = row.reduce((s, v) => s + v, 0);
    return row.map((count, p) => ({
      true: CLASS_NAMES[t],
      predicted: CLASS_NAMES[p],
      count,
      share: total === 0 ? 0 : count / total,
    }));
  });
  const axis = { field: '', type: 'ordinal' as const, sort: [...CLASS_NAMES] };
  return {
    title,
    data: { values },
    width: { step: 40 },
    height: { step: 28 },
    encoding: {
      x: { ...axis, field: 'predicted', title: 'predicted class', axis: { labelAngle: -40, orient: 'top' } },
      y: { ...axis, field: 'true', title: 'true class' },
    },
    layer: [
      {
        mark: 'rect',
        encoding: {
          // Explicit near-white start: the 'blues' scheme starts light blue, which makes empty cells look populated.
          color: { field: 'share', type: 'quantitative', title: 'share of row', scale: { range: ['#f7fbff', '#08306b'], domain: [0, 1] } },
        },
      },
      {
        mark: { type: 'text', fontSize: 10 },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
  } as TopLevelSpec;
}

/** Per-class F1, runs side by side within each class. */
export function f1Spec(rows: { run: string; name: string; f1: number }[]): TopLevelSpec {
  return {
    title: 'F1 per class',
    data: { values: rows },
    width: { step: 16 * Math.max(1, new Set(rows.map((r) => r.run)).size) + 8 },
    height: 240,
    mark: 'bar',
    encoding: {
      x: { field: 'name', type: 'nominal', sort: [...CLASS_NAMES], title: null, axis: { labelAngle: -40 } },
      xOffset: { field: 'run', type: 'nominal' },
      y: { field: 'f1', type: 'quantitative', title: 'F1', scale: { domain: [0, 1] } },
      color: { field: 'run', type: 'nominal', title: 'run' },
      tooltip: [{ field: 'run' }, { field: 'name' }, { field: 'f1', format: '.3f' }],
    },
  } as TopLevelSpec;
}

/** CNN F1 minus ANN F1 per class, largest gain first; the top `highlight` classes in a stronger colour. */
export function gainSpec(rows: { name: string; delta: number }[], title: string, highlight = 3): TopLevelSpec {
  const sorted = [...rows].sort((a, b) => b.delta - a.delta).map((r, i) => ({ ...r, top: i < highlight }));
  return {
    title,
    data: { values: sorted },
    width: 360,
    height: { step: 20 },
    layer: [
      {
        mark: 'bar',
        encoding: {
          y: { field: 'name', type: 'nominal', sort: sorted.map((r) => r.name), title: null },
          x: { field: 'delta', type: 'quantitative', title: 'F1 gain (CNN − ANN)' },
          color: {
            field: 'top',
            type: 'nominal',
            scale: { domain: [true, false], range: ['#d62728', '#9ecae1'] },
            legend: null,
          },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 },
        encoding: {
          y: { field: 'name', type: 'nominal', sort: sorted.map((r) => r.name) },
          x: { field: 'delta', type: 'quantitative' },
          text: { field: 'delta', type: 'quantitative', format: '+.3f' },
        },
      },
    ],
  } as TopLevelSpec;
}

export interface ConfusedImage {
  /** Row heading, e.g. "Shirt → T-shirt/top (312)". */
  pair: string;
  column: number;
  /** data: URL of the (upscaled) PNG. */
  url: string;
  /** Caption under the image, e.g. "p=0.97". */
  caption: string;
}

/** A grid of test images, one row per confused (true, predicted) pair. */
export function confusedGridSpec(items: ConfusedImage[], title: string, size = 56): TopLevelSpec {
  const pairs = [...new Set(items.map((i) => i.pair))];
  const columns = Math.max(1, ...items.map((i) => i.column + 1));
  const step = size + 24; // room for the caption under each image
  return {
    title,
    data: { values: items },
    width: { step },
    height: { step: step + 12 },
    encoding: {
      x: {
        field: 'column',
        type: 'ordinal',
        scale: { domain: Array.from({ length: columns }, (_, i) => i) },
        axis: null,
      },
      y: { field: 'pair', type: 'nominal', sort: pairs, title: 'true → predicted (count)', axis: { labelLimit: 320 } },
    },
    layer: [
      { mark: { type: 'image', width: size, height: size, yOffset: -6 }, encoding: { url: { field: 'url' } } },
      { mark: { type: 'text', fontSize: 8, yOffset: size / 2 + 2 }, encoding: { text: { field: 'caption' } } },
    ],
  } as TopLevelSpec;
}
