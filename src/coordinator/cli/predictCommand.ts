/** `pixelsense predict <run-or-model-dir> <image>...`: the library's predict(), one line (or JSON) per image; exit 1 if any image failed. */
import type { BackendChoice } from '../../shared/backend.js';
import { formatPredictions, predictExitCode } from '../report/predict.js';
import { predict } from '../api/predict.js';

export interface PredictArgs {
  dir: string;
  images: string[];
  top?: number;
  json?: boolean;
  backend?: string;
}

export async function runPredict(argv: PredictArgs): Promise<number> {
  const out = { results: await predict(argv.dir, argv.images, { top: argv.top ?? 3, backend: (argv.backend ?? 'auto') as BackendChoice }) };
  if (argv.json) {
    for (const line of formatPredictions(out).stderr) process.stderr.write(`${line}\n`);
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else {
    const { stdout, stderr } = formatPredictions(out);
    for (const line of stdout) process.stdout.write(`${line}\n`);
    for (const line of stderr) process.stderr.write(`${line}\n`);
  }
  return predictExitCode(out);
}
