/** `pixelsense report <run-dir>...`: the library's writeReport(), printed: the two pages and the figure count. */
import { DEFAULT_REPORT_DIR, writeReport } from '../api/report.js';

export interface ReportArgs {
  runs: string[];
  out?: string;
  'data-dir'?: string;
}

export async function runReport(argv: ReportArgs): Promise<number> {
  const out = argv.out ?? DEFAULT_REPORT_DIR;
  const r = await writeReport(argv.runs, { out, dataDir: argv['data-dir'] });
  process.stdout.write(`report: ${r.html}\nreport: ${r.markdown}\n${r.figures.length} figures in ${out}\n`);
  return 0;
}
