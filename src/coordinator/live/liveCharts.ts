/**
 * The live page's charts: the report's own Vega-Lite spec functions
 * (report/charts.ts) fed from a RunSnapshot, with the report's look applied.
 * The page compiles and renders them in the browser with the vega and
 * vega-lite builds from node_modules.
 */
import type { TopLevelSpec } from 'vega-lite';
import {
  confusionSpec,
  curvesSpec,
  throughputSpec,
  withChartConfig,
  workerTimeSpec,
  type CurvePoint,
  type WorkerTime,
} from '../report/charts.js';
import type { RunSnapshot } from './runState.js';

/** Chart name -> spec; a chart without data yet is left out (the page keeps its placeholder). */
export function liveCharts(s: RunSnapshot): Record<string, TopLevelSpec> {
  const out: Record<string, TopLevelSpec> = {};
  const label = s.run.runId;
  const points: CurvePoint[] = [
    ...s.steps.map((p) => ({ run: label, epoch: p.epoch, split: 'train' as const, loss: p.loss, accuracy: p.accuracy })),
    ...s.evals.map((e) => ({ run: label, epoch: e.epoch, split: 'test' as const, loss: e.test_loss, accuracy: e.test_accuracy })),
  ];
  if (points.length > 0) out['curves'] = withChartConfig(curvesSpec(points, { trainPoints: false }));
  if (s.steps.length > 0) out['throughput'] = withChartConfig(throughputSpec(s.steps));
  if (s.shards.length > 0) {
    const rows: WorkerTime[] = s.shards.flatMap((x) => {
      const worker = x.host !== undefined ? `host ${x.host}` : `worker ${x.worker}`;
      return [
        { step: x.step, worker, phase: 'compute' as const, seconds: x.computeSeconds },
        { step: x.step, worker, phase: 'wait' as const, seconds: x.waitSeconds },
        { step: x.step, worker, phase: 'idle' as const, seconds: x.idleSeconds },
      ];
    });
    out['workers'] = withChartConfig(workerTimeSpec(rows));
  }
  if (s.confusion) {
    const c = s.confusion;
    out['confusion'] = withChartConfig(
      confusionSpec(`Confusion matrix at step ${c.step} (test accuracy ${(100 * c.accuracy).toFixed(2)}%)`, c.matrix),
    );
  }
  return out;
}
