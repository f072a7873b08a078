/**
 * writeReport(): one self-contained HTML page and a Markdown page (with PNG
 * figures) comparing finished runs: curves, per-class F1, confusion
 * matrices, the CNN's gain over the ANN and the most-confused test images.
 * Prints nothing.
 */
import { writeReport as writeReportPages } from '../report/report.js';
import type { ReportOptions, ReportResult } from './toolOptions.js';

/** The report's default directory (the CLI's `--out` default). */
export const DEFAULT_REPORT_DIR = 'runs/report';

/**
 * Write report.html, report.md and figures/ for these run directories (each
 * holding metrics.json). Rejects with ModelError for a missing or malformed
 * metrics.json; a part that cannot be made (e.g. the image grid without a
 * model) is left out and named in `warnings`.
 */
export async function writeReport(runDirs: readonly string[], o: ReportOptions = {}): Promise<ReportResult> {
  return writeReportPages([...runDirs], o.out ?? DEFAULT_REPORT_DIR, {
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
    ...(o.backend !== undefined ? { backend: o.backend } : {}),
    ...(o.log !== undefined ? { log: o.log } : {}),
  });
}
