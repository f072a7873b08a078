/**
 * bench --nats: the multi-host rows. Each repeat trains the same steps with
 * no local training workers and `hosts` remote hosts, and reports its
 * examples/s next to the local run with as many worker threads as the
 * hosts have in total (the comparison the 0.85x target is about), plus the
 * bytes that crossed NATS per step.
 */
import { median } from './bench.js';
import type { BenchSample, ClusterSample } from './benchReport.js';

export type { ClusterSample } from './benchReport.js';

export function clusterMarkdown(samples: readonly ClusterSample[], local: readonly BenchSample[]): string {
  const lines = [
    '',
    '## Multi-host (NATS)',
    '',
    'Coordinator with no local training workers; each host runs `pixelsense host --workers 1` (hosts x 1 worker). ' +
      '"local" is one process with as many worker threads as there are hosts. Medians over repeats.',
    '',
    '| model | hosts | examples/s | step ms | local W=hosts examples/s | ratio | MB sent / step | MB received / step |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const model of [...new Set(samples.map((s) => s.model))]) {
    const of = samples.filter((s) => s.model === model);
    const hosts = of[0]?.hosts ?? 0;
    const eps = median(of.map((s) => s.examples_per_sec));
    const ref = median(local.filter((s) => s.model === model && s.workers === hosts).map((s) => s.examples_per_sec));
    const ratio = Number.isFinite(ref) && ref > 0 ? (eps / ref).toFixed(2) : '–';
    const mb = (xs: number[]) => (median(xs) / 1e6).toFixed(2);
    lines.push(
      `| ${model.toUpperCase()} | ${hosts} | ${Math.round(eps)} | ${median(of.map((s) => s.step_ms)).toFixed(1)} | ${Number.isFinite(ref) ? Math.round(ref) : '–'} | ${ratio} | ${mb(of.map((s) => s.bytes_sent_per_step))} | ${mb(of.map((s) => s.bytes_received_per_step))} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}
