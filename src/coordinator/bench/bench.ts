/**
 * The scaling benchmark's arithmetic and output, free of threads and I/O so
 * it can be tested directly: one repeat's step events -> a sample; samples
 * -> rows (median, min, max over repeats; speed-up and efficiency against
 * W=1); rows -> bench.md, the --json line and the scaling chart's spec.
 *
 * Step-time columns add up to the step: compute + broadcast + wait + reduce
 * + update + overhead = step (see docs/bench.md for what each one measures).
 */
import type { TopLevelSpec } from 'vega-lite';
import type { WorkerMemory } from '../../shared/messages.js';
import type { StepEvent } from '../training/stepEvent.js';
import type { BaselineRow, BenchRow, BenchReport, BenchSample, FitSample, Machine, ModelKind, Stat } from './benchReport.js';
import { CEILING_SEGMENT_STEPS } from './ceiling.js';

const MB = 1e6;

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function stat(xs: readonly number[]): Stat {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** Summarise one repeat: the measured steps' events, their wall time and the process RSS after them. */
export function sampleFromSteps(
  key: { model: ModelKind; workers: number; repeat: number },
  steps: readonly StepEvent[],
  wallSeconds: number,
  rssBytes: number,
): BenchSample {
  const examples = steps.reduce((s, e) => s + e.examples, 0);
  const ms = (f: (e: StepEvent) => number) => 1000 * mean(steps.map(f));
  // Per step, the mean worker's weight copy: it is part of the mean worker's compute.
  const broadcast = ms((e) => mean(e.shards.map((w) => w.weightCopySeconds)));
  const compute = ms((e) => e.computeSeconds) - broadcast;
  const step = ms((e) => e.stepSeconds);
  // The latest memory report of each worker thread.
  const byThread = new Map<number, WorkerMemory>();
  for (const e of steps) for (const w of e.shards) if (w.memory) byThread.set(w.threadId, w.memory);
  const memories = [...byThread.values()];
  const wasm = memories.map((m) => m.wasmHeap).filter((x): x is number => x !== undefined);
  return {
    ...key,
    uncoordinated_examples_per_sec: null,
    examples_per_sec: wallSeconds > 0 ? examples / wallSeconds : 0,
    step_ms: step,
    compute_ms: compute,
    broadcast_ms: broadcast,
    wait_ms: ms((e) => e.waitSeconds),
    reduce_ms: ms((e) => e.reduceSeconds),
    update_ms: ms((e) => e.updateSeconds),
    overhead_ms: ms((e) => e.overheadSeconds),
    compute_fraction: step > 0 ? compute / step : 0,
    rss_mb: rssBytes / MB,
    heap_per_worker_mb: mean(memories.map((m) => m.heapUsed)) / MB,
    tf_per_worker_mb: mean(memories.map((m) => m.tfBytes)) / MB,
    wasm_per_worker_mb: wasm.length ? mean(wasm) / MB : null,
  };
}

/** Median over repeats of training / uncoordinated examples/s, each repeat against its own ceiling; null without --ceiling. */
function pairedRatio(group: readonly BenchSample[]): number | null {
  const ratios = group.flatMap((s) =>
    s.uncoordinated_examples_per_sec !== null && s.uncoordinated_examples_per_sec > 0
      ? [s.examples_per_sec / s.uncoordinated_examples_per_sec]
      : [],
  );
  return ratios.length ? median(ratios) : null;
}

/** Rows per (model, workers) and the model.fit baselines, from all repeats. */
export function aggregate(
  samples: readonly BenchSample[],
  fits: readonly FitSample[],
  cores: number,
): { rows: BenchRow[]; baseline: BaselineRow[] } {
  const models = [...new Set(samples.map((s) => s.model))];
  const rows: BenchRow[] = [];
  const baseline: BaselineRow[] = [];
  for (const model of models) {
    const of = samples.filter((s) => s.model === model);
    const counts = [...new Set(of.map((s) => s.workers))].sort((a, b) => a - b);
    const w1 = median(of.filter((s) => s.workers === 1).map((s) => s.examples_per_sec));
    const uncoordinated = (group: readonly BenchSample[]) => {
      const xs = group.map((s) => s.uncoordinated_examples_per_sec).filter((x): x is number => x !== null);
      return xs.length ? stat(xs) : null;
    };
    const u1 = uncoordinated(of.filter((s) => s.workers === 1))?.median ?? NaN;
    for (const workers of counts) {
      const group = of.filter((s) => s.workers === workers);
      const m = (f: (s: BenchSample) => number) => median(group.map(f));
      const eps = stat(group.map((s) => s.examples_per_sec));
      const speedup = Number.isFinite(w1) && w1 > 0 ? eps.median / w1 : null;
      const wasm = group.map((s) => s.wasm_per_worker_mb).filter((x): x is number => x !== null);
      const u = uncoordinated(group);
      rows.push({
        model,
        workers,
        oversubscribed: workers > cores,
        examples_per_sec: eps,
        speedup,
        efficiency: speedup === null ? null : speedup / workers,
        compute_fraction: m((s) => s.compute_fraction),
        step_ms: m((s) => s.step_ms),
        compute_ms: m((s) => s.compute_ms),
        broadcast_ms: m((s) => s.broadcast_ms),
        wait_ms: m((s) => s.wait_ms),
        reduce_ms: m((s) => s.reduce_ms),
        update_ms: m((s) => s.update_ms),
        overhead_ms: m((s) => s.overhead_ms),
        rss_mb: m((s) => s.rss_mb),
        heap_per_worker_mb: m((s) => s.heap_per_worker_mb),
        tf_per_worker_mb: m((s) => s.tf_per_worker_mb),
        wasm_per_worker_mb: wasm.length ? median(wasm) : null,
        uncoordinated: u,
        ceiling_speedup: u && u1 > 0 ? u.median / u1 : null,
        uncoordinated_examples_per_sec: u ? u.median : null,
        training_over_uncoordinated: pairedRatio(group),
      });
    }
    const f = fits.filter((s) => s.model === model);
    if (f.length) {
      const eps = stat(f.map((s) => s.examples_per_sec));
      baseline.push({
        model,
        examples_per_sec: eps,
        step_ms: median(f.map((s) => s.step_ms)),
        w1_over_fit: Number.isFinite(w1) && eps.median > 0 ? w1 / eps.median : null,
      });
    }
  }
  return { rows, baseline };
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

/** The --json line: one object, `results` with the public fields, baselines per model. */
export function jsonSummary(r: BenchReport, outDir: string): Record<string, unknown> {
  return {
    results: r.results.map((row) => ({
      model: row.model,
      workers: row.workers,
      examples_per_sec: round(row.examples_per_sec.median, 1),
      speedup: row.speedup === null ? null : round(row.speedup, 3),
      efficiency: row.efficiency === null ? null : round(row.efficiency, 3),
      compute_fraction: round(row.compute_fraction, 3),
      oversubscribed: row.oversubscribed,
      ...(row.ceiling_speedup !== null ? { ceiling_speedup: round(row.ceiling_speedup, 3) } : {}),
      ...(row.uncoordinated_examples_per_sec !== null
        ? {
            uncoordinated_examples_per_sec: round(row.uncoordinated_examples_per_sec, 1),
            training_over_uncoordinated: row.training_over_uncoordinated === null ? null : round(row.training_over_uncoordinated, 3),
          }
        : {}),
    })),
    baseline_fit_examples_per_sec: Object.fromEntries(r.baseline_fit.map((b) => [b.model, round(b.examples_per_sec.median, 1)])),
    backend: r.machine.backend,
    out_dir: outDir,
  };
}

export function machineLine(m: Machine): string {
  return `machine: ${m.cpu} | ${m.cores} cores | Node.js ${m.node} | ${m.platform} | backend ${m.backend}`;
}

const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toString() : '–');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number | null) => (x !== null && Number.isFinite(x) ? x.toFixed(2) : '–');
const fx = (x: number | null) => (x !== null && Number.isFinite(x) ? `${x.toFixed(2)}x` : '–');
const range = (s: Stat) => `${f0(s.median)} [${f0(s.min)}–${f0(s.max)}]`;

/**
 * The scaling targets (W=1 within 5% of model.fit; on 2 cores, W=2 at 1.8x W=1
 * for the CNN and 1.6x for the ANN), checked against the medians (a
 * benchmark, not a test: reported, never enforced).
 */
export function targetLines(rows: readonly BenchRow[], baseline: readonly BaselineRow[], cores: number): string[] {
  const out: string[] = [];
  for (const b of baseline) {
    if (b.w1_over_fit !== null)
      out.push(
        `${b.model.toUpperCase()} W=1 vs model.fit: ${fx(b.w1_over_fit)} (target >= 0.95x): ${b.w1_over_fit >= 0.95 ? 'met' : 'not met'}`,
      );
  }
  if (cores === 2) {
    for (const row of rows.filter((r) => r.workers === 2 && r.speedup !== null)) {
      const target = row.model === 'cnn' ? 1.8 : 1.6;
      out.push(
        `${row.model.toUpperCase()} W=2 vs W=1 on 2 cores: ${fx(row.speedup)} (target >= ${target}x): ${(row.speedup ?? 0) >= target ? 'met' : 'not met'}`,
      );
    }
  }
  return out;
}

export function benchMarkdown(r: BenchReport, chartFile: string): string {
  const s = r.settings;
  const lines = [
    '# PixelSense scaling benchmark',
    '',
    machineLine(r.machine),
    '',
    `${r.started} | ${s.steps} measured steps after ${s.warmup} warm-up, ${s.repeats} repeat(s) | global batch ${s.batch_size} (micro-batches: ${Object.entries(
      s.micro_batch_size,
    )
      .map(([m, n]) => `${m} ${n}`)
      .join(', ')}) | ` + `load average ${r.machine.load_start.toFixed(2)} at start, ${r.machine.load_end.toFixed(2)} at end`,
    '',
    'Examples/s: median [min–max] over repeats. Step columns: median ms per step; they add up to the step. ' +
      'Memory: RSS of the whole process; heap, tf and wasm per worker thread. See docs/bench.md.',
    '',
  ];
  for (const model of s.models) {
    const rows = r.results.filter((x) => x.model === model);
    const b = r.baseline_fit.find((x) => x.model === model);
    lines.push(`## ${model.toUpperCase()}`, '');
    lines.push(
      '| workers | examples/s | speed-up | efficiency | step ms | compute | broadcast | wait | reduce | update | overhead | compute share | RSS MB | heap/worker MB | tf/worker MB | wasm/worker MB |',
    );
    lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    if (b) lines.push(`| model.fit (1 thread) | ${range(b.examples_per_sec)} | | | ${f1(b.step_ms)} | | | | | | | | | | | |`);
    for (const x of rows) {
      const w = x.oversubscribed ? `${x.workers} (oversubscribed)` : String(x.workers);
      lines.push(
        `| ${w} | ${range(x.examples_per_sec)} | ${fx(x.speedup)} | ${f2(x.efficiency)} | ${f1(x.step_ms)} | ${f1(x.compute_ms)} | ${f2(x.broadcast_ms)} | ${f1(x.wait_ms)} | ` +
          `${f2(x.reduce_ms)} | ${f2(x.update_ms)} | ${f2(x.overhead_ms)} | ${(100 * x.compute_fraction).toFixed(0)}% | ${f0(x.rss_mb)} | ${f1(x.heap_per_worker_mb)} | ${f1(x.tf_per_worker_mb)} | ${f1(x.wasm_per_worker_mb ?? NaN)} |`,
      );
    }
    lines.push('');
  }
  lines.push(...ceilingLines(r.results));
  const targets = targetLines(r.results, r.baseline_fit, r.machine.cores);
  if (targets.length) lines.push('## Targets', '', ...targets.map((t) => `- ${t}`), '');
  if (r.comm) {
    const c = r.comm;
    lines.push(
      '## Moving one gradient between threads',
      '',
      `${c.params.toLocaleString('en-US')} parameters (the CNN), ${(c.bytes / MB).toFixed(3)} MB; ${c.samples} round trips per method, interleaved.`,
      '',
      '| method | µs per gradient, median [min–max] | µs per MB | µs per MB beyond the empty round trip |',
      '|---|---|---|---|',
      ...c.rows.map(
        (x) =>
          `| ${x.method} | ${f0(x.median_us)} [${f0(x.min_us)}–${f0(x.max_us)}] | ${x.us_per_mb === null ? '–' : f0(x.us_per_mb)} | ${x.net_us_per_mb === null ? '–' : f0(x.net_us_per_mb)} |`,
      ),
      '',
    );
  }
  lines.push(`![scaling](${chartFile})`, '');
  return lines.join('\n');
}

/**
 * The --ceiling table: what W uncoordinated workers reach on the same work
 * (the machine's limit: shared cores, caches, memory bandwidth), next to
 * what the training loop reaches; their ratio is the loop's own efficiency.
 */
function ceilingLines(rows: readonly BenchRow[]): string[] {
  const measured = rows.filter((r) => r.uncoordinated !== null);
  if (!measured.length) return [];
  return [
    '## Uncoordinated ceiling (--ceiling)',
    '',
    'Each worker computes its shard of a step again and again with no reduce, update or dispatch in between, all workers at once: ' +
      'what this machine gives W threads on this work. Training / uncoordinated is what the synchronous loop keeps of it ' +
      `(measured in turns of ${CEILING_SEGMENT_STEPS} steps with the training, each repeat against its own, then the median); training / ceiling compares the speed-ups over W=1.`,
    '',
    '| model | workers | training examples/s | uncoordinated examples/s | training / uncoordinated | ceiling speed-up | training speed-up | training / ceiling |',
    '|---|---|---|---|---|---|---|---|',
    ...measured.map((x) => {
      const kept = x.speedup !== null && x.ceiling_speedup ? x.speedup / x.ceiling_speedup : null;
      const ratio = x.training_over_uncoordinated === null ? '–' : x.training_over_uncoordinated.toFixed(2);
      return `| ${x.model.toUpperCase()} | ${x.workers} | ${range(x.examples_per_sec)} | ${range(x.uncoordinated as Stat)} | **${ratio}** | ${fx(x.ceiling_speedup)} | ${fx(x.speedup)} | ${kept === null ? '–' : `${(100 * kept).toFixed(0)}%`} |`;
    }),
    '',
  ];
}

/** Examples/s and efficiency against workers, per model, with the ideal (linear) line dashed and the --ceiling line dotted. */
export function scalingSpec(rows: readonly BenchRow[]): TopLevelSpec {
  const counts = [...new Set(rows.map((r) => r.workers))].sort((a, b) => a - b);
  const values = rows.flatMap((r) => {
    const w1 = rows.find((x) => x.model === r.model && x.workers === 1)?.examples_per_sec.median ?? NaN;
    const model = r.model.toUpperCase();
    const u1 = rows.find((x) => x.model === r.model && x.workers === 1)?.uncoordinated?.median ?? NaN;
    return [
      {
        model,
        workers: r.workers,
        line: 'measured',
        eps: r.examples_per_sec.median,
        lo: r.examples_per_sec.min,
        hi: r.examples_per_sec.max,
        efficiency: r.efficiency,
      },
      { model, workers: r.workers, line: 'ideal', eps: w1 * r.workers, lo: null, hi: null, efficiency: 1 },
      // The ceiling on the training's scale: W=1 training throughput times the uncoordinated speed-up.
      ...(r.ceiling_speedup !== null && Number.isFinite(u1)
        ? [
            {
              model,
              workers: r.workers,
              line: 'ceiling',
              eps: w1 * r.ceiling_speedup,
              lo: null,
              hi: null,
              efficiency: r.ceiling_speedup / r.workers,
            },
          ]
        : []),
    ];
  });
  const ceiling = values.some((v) => v.line === 'ceiling');
  const x = {
    field: 'workers',
    type: 'quantitative',
    title: 'workers',
    axis: { values: counts, format: 'd' },
    scale: { domain: [0, Math.max(...counts) + 0.5] },
  };
  const color = { field: 'model', type: 'nominal', title: 'model' };
  const dash = {
    field: 'line',
    type: 'nominal',
    title: null,
    scale: {
      domain: ['measured', 'ideal', 'ceiling'],
      range: [
        [1, 0],
        [5, 4],
        [1, 3],
      ],
    },
    legend: null,
  };
  // The CNN runs ~10x slower than the ANN: on one linear axis its line would lie flat on the floor.
  const eps = values.map((v) => v.eps).filter((v) => Number.isFinite(v) && v > 0);
  const logScale = eps.length > 0 && Math.max(...eps) / Math.min(...eps) > 8;
  const panel = (field: 'eps' | 'efficiency', text: string, subtitle: string, yTitle: string) => ({
    title: { text, subtitle },
    width: 300,
    height: 220,
    layer: [
      {
        transform: [{ filter: `datum.${field} != null && isFinite(datum.${field})` }],
        mark: { type: 'line', point: true },
        encoding: {
          x,
          y: { field, type: 'quantitative', title: yTitle, ...(field === 'eps' && logScale ? { scale: { type: 'log' } } : {}) },
          color,
          strokeDash: dash,
        },
      },
      ...(field === 'eps'
        ? [
            {
              transform: [{ filter: "datum.line == 'measured'" }],
              mark: 'rule',
              encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color },
            },
          ]
        : []),
    ],
  });
  return {
    data: { values },
    hconcat: [
      panel(
        'eps',
        'Throughput',
        `bars: min–max; dashed: ideal${ceiling ? '; dotted: ceiling' : ''}`,
        logScale ? 'examples/s (log scale)' : 'examples/s',
      ),
      panel('efficiency', 'Parallel efficiency', `dashed: ideal${ceiling ? '; dotted: uncoordinated ceiling' : ''}`, 'speed-up / workers'),
    ],
  } as unknown as TopLevelSpec;
}
