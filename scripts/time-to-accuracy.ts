/**
 * `npm run bench:tta [-- --seeds 1,2,3] [--config configs/cnn-fast.yaml] [--torch FILE] [--threads 2] [--out DIR]`
 *
 * Time to accuracy, PixelSense against PyTorch on the same recipe and the same
 * machine: for each seed, `pixelsense train configs/cnn-fast.yaml --seed S`
 * (2 workers, through the real CLI) and the PyTorch peer
 * (`../shared/bench/torch_recipe.py DATA fast THREADS`, run by /usr/bin/python3)
 * one after the other, so a slow spell of the machine hits both. Both stop at
 * 91% test accuracy on the full 10,000 test images, evaluated every quarter
 * epoch. The recipe file is run unchanged: only torch.manual_seed's argument
 * is replaced with the seed (it hard-codes 0), so the seeds differ for
 * PyTorch too. Prints one line per run and a table of medians; writes
 * tta.json to --out.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'coordinator', 'cli', 'cli.js');

/** Runs the recipe file as __main__ with torch.manual_seed pinned to argv[1]; the recipe itself is untouched. */
const SEEDED = `
import runpy, sys, torch
seed, path = int(sys.argv[1]), sys.argv[2]
orig = torch.manual_seed
torch.manual_seed = lambda _s: orig(seed)
sys.argv = [path] + sys.argv[3:]
runpy.run_path(path, run_name='__main__')
`;

interface Run {
  readonly system: 'pixelsense' | 'pytorch';
  readonly seed: number;
  readonly timeToTarget: number | null;
  readonly accuracy: number;
  readonly epochs: number | null;
  readonly wall: number;
}

/** Run a command; resolves with its stdout (stderr streams through). */
function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? ok(out) : fail(new Error(`${cmd} ${args.join(' ')} exited with ${code}`))));
  });
}

const lastJson = (out: string): Record<string, unknown> => {
  const line = out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .at(-1);
  if (line === undefined) throw new Error(`no JSON line in: ${out.slice(-500)}`);
  return JSON.parse(line) as Record<string, unknown>;
};

async function pixelsense(config: string, seed: number, dataDir: string, out: string): Promise<Run> {
  const args = [
    CLI,
    'train',
    config,
    '--seed',
    String(seed),
    '--workers',
    '2',
    '--data-dir',
    dataDir,
    '--json',
    '--out',
    out,
    '--overwrite',
  ];
  lastJson(await run(process.execPath, args));
  // metrics.json has the full record (the --json line is the short summary).
  const j = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Record<string, unknown>;
  return {
    system: 'pixelsense',
    seed,
    timeToTarget: j['time_to_target_s'] as number | null,
    accuracy: (j['test'] as { accuracy: number }).accuracy,
    epochs: j['time_to_target_epochs'] as number | null,
    wall: j['wall_s'] as number,
  };
}

async function pytorch(recipe: string, seed: number, dataDir: string, threads: number): Promise<Run> {
  const out = await run('/usr/bin/python3', ['-c', SEEDED, String(seed), recipe, dataDir, 'fast', String(threads)]);
  const j = lastJson(out);
  const evals = out.split('\n').filter((l) => l.startsWith('epoch '));
  const hit = evals.find((l) => Number(/test_acc ([\d.]+)/.exec(l)?.[1]) >= 0.91);
  return {
    system: 'pytorch',
    seed,
    timeToTarget: j['time_to_91_s'] as number | null,
    accuracy: j['test_accuracy'] as number,
    epochs: hit ? Number(/epoch ([\d.]+)/.exec(hit)?.[1]) : null,
    wall: j['wall_s'] as number,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string', default: '1,2,3' },
      config: { type: 'string', default: 'configs/cnn-fast.yaml' },
      torch: { type: 'string', default: resolve(ROOT, '..', 'shared', 'bench', 'torch_recipe.py') },
      threads: { type: 'string', default: '2' },
      'data-dir': { type: 'string', default: process.env['FASHION_MNIST_DIR'] ?? resolve(ROOT, '..', 'shared', 'data', 'fashion-mnist') },
      out: { type: 'string', default: join('runs', `tta-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}Z`) },
    },
  });
  const seeds = values.seeds.split(',').map(Number);
  const dataDir = values['data-dir'];
  mkdirSync(values.out, { recursive: true });
  const runs: Run[] = [];
  const show = (r: Run) =>
    process.stderr.write(
      `tta: ${r.system.padEnd(10)} seed ${r.seed}: ${r.timeToTarget === null ? 'never reached 91%' : `91% in ${r.timeToTarget.toFixed(1)} s`} (epoch ${r.epochs ?? '-'}), final ${(100 * r.accuracy).toFixed(2)}%, wall ${r.wall.toFixed(1)} s\n`,
    );
  for (const seed of seeds) {
    const p = await pixelsense(values.config, seed, dataDir, join(values.out, `pixelsense-seed${seed}`));
    show(p);
    const t = await pytorch(values.torch, seed, dataDir, Number(values.threads));
    show(t);
    runs.push(p, t);
  }
  const of = (system: Run['system']) => runs.filter((r) => r.system === system);
  const med = (system: Run['system'], f: (r: Run) => number | null) => {
    const xs = of(system)
      .map(f)
      .filter((x): x is number => x !== null);
    return xs.length === of(system).length ? median(xs) : null;
  };
  const rows = (['pixelsense', 'pytorch'] as const).map((system) => ({
    system,
    time_to_91_s: med(system, (r) => r.timeToTarget),
    epochs: med(system, (r) => r.epochs),
    final_accuracy: med(system, (r) => r.accuracy),
  }));
  const [ps, pt] = rows;
  const ratio = ps?.time_to_91_s != null && pt?.time_to_91_s != null ? ps.time_to_91_s / pt.time_to_91_s : null;
  const machine = `${cpus()[0]?.model.trim() ?? 'unknown CPU'} | ${cpus().length} cores | Node.js ${process.version}`;
  const table = [
    `machine: ${machine} | seeds ${seeds.join(', ')} | ${values.config} (2 workers) vs PyTorch ${values.threads} threads`,
    '',
    '| system | time to 91% (median s) | epochs (median) | final accuracy (median) |',
    '| --- | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.system} | ${r.time_to_91_s?.toFixed(1) ?? 'not all reached 91%'} | ${r.epochs?.toFixed(2) ?? '-'} | ${r.final_accuracy === null ? '-' : (100 * r.final_accuracy).toFixed(2)}% |`,
    ),
    '',
    `PixelSense / PyTorch time to 91%: ${ratio === null ? 'n/a' : ratio.toFixed(2)}x (target <= 0.8x)`,
  ].join('\n');
  process.stdout.write(`${table}\n`);
  writeFileSync(join(values.out, 'tta.json'), `${JSON.stringify({ machine, seeds, runs, medians: rows, ratio }, null, 2)}\n`);
  writeFileSync(join(values.out, 'tta.md'), `${table}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`tta: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
