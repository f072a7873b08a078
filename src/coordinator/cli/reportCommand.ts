/** `pixelsense report <run-dir>...`: HTML + Markdown comparison report with figures. */
import { writeReport } from '../report/report.js';

export interface ReportArgs {
  runs: string[];
  out?: string;
  'data-dir'?: string;
}

export async function runReport(argv: ReportArgs): Promise<number> {
  const out = argv.out ?? 'runs/report';
  const r = await writeReport(argv.runs, out, { dataDir: argv['data-dir'] });
  process.stdout.write(`report: ${r.html}\nreport: ${r.markdown}\n${r.figures.length} figures in ${out}\n`);
  return 0;
}
