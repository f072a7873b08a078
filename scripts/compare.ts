/**
 * `npm run compare [-- [--out DIR] [--data-dir DIR] [--backend B] [run-dir...]]`
 *
 * With run directories: writes the comparison report on them. Without: trains
 * both shipped configs first (configs/ann.yaml -> runs/compare-ann,
 * configs/cnn.yaml -> runs/compare-cnn, through the real CLI so the runs are
 * exactly what `pixelsense train` produces), then reports on those two.
 * Training both takes minutes; pass existing runs to iterate on the report.
 */
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BACKEND_CHOICES, type BackendChoice } from '../src/shared/backend.js';
import { exitCodeOf, PixelSenseError, UsageError } from '../src/shared/errors.js';
import { writeReport } from '../src/coordinator/report/report.js';

/** dist/scripts/compare.js -> the repository root, wherever npm is run from. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'coordinator', 'cli', 'cli.js');
const CONFIGS = [
  { config: 'configs/ann.yaml', out: 'runs/compare-ann' },
  { config: 'configs/cnn.yaml', out: 'runs/compare-cnn' },
] as const;

/** Run `pixelsense train` in a child process; its output streams straight through. */
function train(config: string, out: string, dataDir: string | undefined): Promise<void> {
  const args = [CLI, 'train', config, '--json', '--out', out, '--overwrite'];
  if (dataDir !== undefined) args.push('--data-dir', dataDir);
  process.stderr.write(`compare: node ${args.map((a) => (a === CLI ? 'dist/src/coordinator/cli/cli.js' : a)).join(' ')}\n`);
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      if (code === 0) ok();
      else
        fail(
          Object.assign(new Error(`training ${config} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`), {
            code: code ?? 1,
          }),
        );
    });
  });
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string', default: 'runs/compare-report' },
      'data-dir': { type: 'string' },
      backend: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write('usage: npm run compare -- [--out DIR] [--data-dir DIR] [--backend auto|wasm|cpu|tensorflow] [run-dir...]\n');
    return 0;
  }
  const backend = values.backend;
  if (backend !== undefined && !BACKEND_CHOICES.includes(backend as BackendChoice)) {
    throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(', ')}, got '${backend}'`);
  }
  let runs = positionals;
  if (runs.length === 0) {
    for (const c of CONFIGS) await train(c.config, c.out, values['data-dir']);
    runs = CONFIGS.map((c) => join(ROOT, c.out));
  }
  const out = resolve(values.out ?? 'runs/compare-report');
  const r = await writeReport(runs, out, {
    ...(values['data-dir'] !== undefined ? { dataDir: values['data-dir'] } : {}),
    ...(backend !== undefined ? { backend: backend as BackendChoice } : {}),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  for (const w of r.warnings) process.stderr.write(`compare: warning: ${w}\n`);
  process.stdout.write(`report: ${r.html}\nreport: ${r.markdown}\n${r.figures.length} figure files in ${join(out, 'figures')}\n`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`compare: ${err instanceof Error ? err.message : String(err)}\n`);
    if (!(err instanceof PixelSenseError) && err instanceof Error && process.env['PIXELSENSE_VERBOSE']) {
      process.stderr.write(`${err.stack}\n`);
    }
    const childCode = (err as { code?: unknown }).code;
    process.exitCode = typeof childCode === 'number' ? childCode : exitCodeOf(err);
  },
);
