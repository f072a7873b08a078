/**
 * End-to-end: a real Prometheus server scrapes a short training run and its
 * HTTP API must show pixelsense_examples_total and
 * pixelsense_throughput_examples_per_second moving.
 *
 * Order matters: Prometheus starts first, scraping a port we picked, and only
 * then does training start on that port. A seconds-long run would otherwise be
 * half over before Prometheus's first scrape.
 *
 * The run is `node dist/src/coordinator/cli/cli.js train configs/smoke.yaml ...`.
 * PIXELSENSE_E2E_FAKE=1 swaps in a stand-in (this same file, re-run as a
 * child with PIXELSENSE_E2E_DRIVER=1) that drives TrainingMetrics in a loop:
 * it exercises the metrics stack alone, never replacing the CLI silently.
 *
 * Env: PROMETHEUS_BIN (binary), PIXELSENSE_E2E_TRAIN_ARGS (extra CLI args,
 * e.g. "--epochs 3" when smoke.yaml is too short for two scrapes),
 * PIXELSENSE_E2E_TIMEOUT_S (training deadline, default 300).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { once } from 'node:events';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // dist/test/e2e -> repo root
const CLI = join(ROOT, 'dist/src/coordinator/cli/cli.js');
const SELF = fileURLToPath(import.meta.url);
const HOST = '127.0.0.1';

/** Ask the OS for a free port on 127.0.0.1 (then release it for the real user). */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, HOST);
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  srv.close();
  await once(srv, 'close');
  return port;
}

/** Poll `fn` until it returns a value (not undefined) or the deadline passes; the last error is reported. */
async function until<T>(what: string, ms: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${ms} ms waiting for ${what}${why}`);
    }
    await delay(250);
  }
}

interface Proc {
  child: ChildProcess;
  /** stdout+stderr so far, for failure messages. */
  log(): string;
  exited: Promise<number | null>;
}

function start(cmd: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Proc {
  // Drop node --test's marker so a child node process does not think it is a test file.
  const { NODE_TEST_CONTEXT: _, ...env } = { ...process.env, ...extraEnv };
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (c: Buffer): void => {
    out = (out + c.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (err) => {
      keep(Buffer.from(`\nspawn failed: ${err.message}\n`));
      resolve(-1);
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null)));
  });
  return { child, log: () => out, exited };
}

/** SIGTERM, then SIGKILL after 10 s; resolves when the process is gone. */
async function stop(p: Proc | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null || p.child.pid === undefined) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await p.exited;
  clearTimeout(timer);
}

/** Find prometheus, installing it via scripts/ensure-prometheus.sh; undefined when impossible. */
async function ensurePrometheus(): Promise<{ bin?: string; why: string }> {
  return new Promise((resolve) => {
    execFile('bash', [join(ROOT, 'scripts/ensure-prometheus.sh')], { cwd: ROOT, timeout: 600_000 }, (err, stdout, stderr) => {
      const bin = stdout.trim().split('\n').pop();
      if (err || !bin) resolve({ why: (stderr || String(err)).trim().split('\n').slice(-3).join(' | ') });
      else resolve({ bin, why: '' });
    });
  });
}

type Sample = [number, string];
interface Series {
  metric: Record<string, string>;
  values: Sample[];
}

async function rangeQuery(promUrl: string, expr: string): Promise<Series[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Series[] } };
  if (body.status !== 'success' || body.data?.resultType !== 'matrix') {
    throw new Error(`query ${expr}: ${body.error ?? JSON.stringify(body).slice(0, 300)}`);
  }
  return body.data.result;
}

async function e2e(): Promise<void> {
  test('Prometheus scrapes a training run; examples and throughput move', { timeout: 900_000 }, async (t) => {
    const found = await ensurePrometheus();
    if (!found.bin) {
      t.skip(`prometheus not found and could not be installed (${found.why})`);
      return;
    }
    const fake = process.env['PIXELSENSE_E2E_FAKE'] === '1';
    assert.ok(
      fake || existsSync(CLI),
      `${CLI} is missing: build the training CLI first (npm run build), or set PIXELSENSE_E2E_FAKE=1 to test the metrics stack alone`,
    );

    const dir = await mkdtemp(join(tmpdir(), 'pixelsense-e2e-'));
    let prom: Proc | undefined;
    let train: Proc | undefined;
    try {
      const [metricsPort, promPort] = [await freePort(), await freePort()];
      const promUrl = `http://${HOST}:${promPort}`;
      await writeFile(
        join(dir, 'prometheus.yml'),
        [
          'global:',
          '  scrape_interval: 1s',
          '  scrape_timeout: 1s',
          'scrape_configs:',
          '  - job_name: pixelsense',
          '    static_configs:',
          `      - targets: ['${HOST}:${metricsPort}']`,
          '',
        ].join('\n'),
      );
      prom = start(found.bin, [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=${HOST}:${promPort}`,
        '--log.level=warn',
      ]);
      const promProc = prom;
      await until('Prometheus /-/ready', 30_000, async () => {
        if (promProc.child.exitCode !== null) throw new Error(`prometheus exited:\n${promProc.log()}`);
        const res = await fetch(`${promUrl}/-/ready`);
        return res.ok ? true : undefined;
      }).catch((err: Error) => assert.fail(`${err.message}\n--- prometheus log ---\n${promProc.log()}`));
      // Ready is not enough: Prometheus throttles target discovery (~5 s), so
      // wait until it has tried the (still closed) port once; from then on it
      // scrapes every second.
      await until('Prometheus to start scraping the target', 30_000, async () => {
        const res = await fetch(`${promUrl}/api/v1/targets?state=active`);
        const body = (await res.json()) as { data?: { activeTargets?: { health: string }[] } };
        const target = body.data?.activeTargets?.[0];
        return target && target.health !== 'unknown' ? true : undefined;
      }).catch((err: Error) => assert.fail(`${err.message}\n--- prometheus log ---\n${promProc.log()}`));

      const out = join(dir, 'run');
      const metricsArgs = ['--out', out, '--overwrite', '--metrics-host', HOST, '--metrics-port', String(metricsPort)];
      // Linger past two scrape intervals so the final values are scraped too.
      const lingerArgs = ['--metrics-linger', '3'];
      const extra = (process.env['PIXELSENSE_E2E_TRAIN_ARGS'] ?? '').split(/\s+/).filter(Boolean);
      train = fake
        ? start(process.execPath, [SELF, ...metricsArgs, ...lingerArgs], { PIXELSENSE_E2E_DRIVER: '1' })
        : start(process.execPath, [CLI, 'train', 'configs/smoke.yaml', ...metricsArgs, ...lingerArgs, ...extra]);
      const trainProc = train;

      const timeoutS = Number(process.env['PIXELSENSE_E2E_TIMEOUT_S'] ?? 300);
      // The deadline timer is aborted once training exits, so it cannot hold the test process open.
      const deadline = new AbortController();
      const code = await Promise.race([trainProc.exited, delay(timeoutS * 1000, 'timeout' as const, { signal: deadline.signal })]).finally(
        () => deadline.abort(),
      );
      assert.notEqual(code, 'timeout', `training did not finish within ${timeoutS} s\n${trainProc.log()}`);
      assert.equal(code, 0, `training exited ${String(code)}\n${trainProc.log()}`);

      // The CLI's contract: the URL on stderr and endpoint.json in the run directory.
      const url = `http://${HOST}:${metricsPort}/metrics`;
      assert.ok(trainProc.log().includes(`metrics: ${url}`), `no "metrics: ${url}" line in:\n${trainProc.log()}`);
      const endpoint = JSON.parse(await readFile(join(out, 'endpoint.json'), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(endpoint, { host: HOST, port: metricsPort, url });

      // Raw scraped samples (a range selector in an instant query), not
      // query_range's interpolated steps. Retry briefly: the last scrape may
      // still be landing.
      const sel = '{job="pixelsense"}[15m]';
      const verdict = await until('pixelsense_examples_total and throughput samples in Prometheus', 20_000, async () => {
        const [examples] = await rangeQuery(promUrl, `pixelsense_examples_total${sel}`);
        const [throughput] = await rangeQuery(promUrl, `pixelsense_throughput_examples_per_second${sel}`);
        if (!examples || !throughput) return undefined;
        const ex = examples.values.map(([, v]) => Number(v));
        const tp = throughput.values.map(([, v]) => Number(v));
        if (ex.length < 2 || !(ex[ex.length - 1]! > ex[0]!)) return undefined;
        return { ex, tp, labels: examples.metric };
      }).catch(async (err: Error) => {
        const samples = async (expr: string): Promise<string> =>
          JSON.stringify((await rangeQuery(promUrl, `${expr}${sel}`).catch(() => []))[0]?.values ?? []);
        return assert.fail(
          `${err.message}\nup samples: ${await samples('up')}` +
            `\nexamples samples: ${await samples('pixelsense_examples_total')}` +
            '\n(a run shorter than the 1 s scrape interval cannot show the counter moving; try PIXELSENSE_E2E_TRAIN_ARGS="--epochs 3")' +
            `\n--- training log ---\n${trainProc.log()}`,
        );
      });
      const { ex, tp, labels } = verdict;
      t.diagnostic(`examples_total samples: ${ex.join(' ')}`);
      t.diagnostic(`throughput samples: ${tp.map((v) => v.toFixed(1)).join(' ')}`);
      assert.ok(
        ex.every((v, i) => i === 0 || v >= ex[i - 1]!),
        `counter never decreases: ${ex.join(' ')}`,
      );
      assert.ok(ex[ex.length - 1]! > 0 && ex[ex.length - 1]! > ex[0]!, `counter grew: ${ex.join(' ')}`);
      assert.ok(
        tp.some((v) => v > 0),
        `throughput went above 0: ${tp.join(' ')}`,
      );
      assert.ok(labels['run_id'] && labels['model'], `run_id and model labels: ${JSON.stringify(labels)}`);
      const [info] = await rangeQuery(promUrl, `pixelsense_run_info${sel}`);
      assert.ok(info, 'pixelsense_run_info was scraped');
      for (const l of ['model', 'run_id', 'backend', 'workers', 'config_file']) {
        assert.ok(info.metric[l], `pixelsense_run_info has ${l}: ${JSON.stringify(info.metric)}`);
      }
    } finally {
      await stop(train);
      await stop(prom);
      await rm(dir, { recursive: true, force: true });
    }
  });
}

/**
 * Stand-in for the training CLI (PIXELSENSE_E2E_FAKE=1): same flags, same
 * stderr line and endpoint.json, ~4 s of synthetic steps, then the linger.
 */
async function fakeTrain(argv: string[]): Promise<void> {
  const { TrainingMetrics } = await import('../../src/coordinator/metrics/metrics.js');
  const { startMetricsServer } = await import('../../src/coordinator/metrics/metricsServer.js');
  const arg = (name: string, dflt: string): string => {
    const i = argv.indexOf(name);
    return i >= 0 ? (argv[i + 1] ?? dflt) : dflt;
  };
  const out = arg('--out', join(tmpdir(), 'pixelsense-fake-run'));
  const m = new TrainingMetrics({
    runId: `fake-${process.pid}`,
    model: 'ann',
    backend: 'fake',
    workers: 2,
    configFile: 'configs/smoke.yaml',
  });
  const ep = await startMetricsServer({
    host: arg('--metrics-host', HOST),
    port: Number(arg('--metrics-port', '9400')),
    registry: m.registry,
  });
  process.stderr.write(`metrics: ${ep.url}\n`);
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'endpoint.json'), JSON.stringify({ host: ep.host, port: ep.port, url: ep.url }));
  const end = Date.now() + 4_000;
  for (let step = 0; Date.now() < end; step++) {
    await delay(20);
    m.watchPool(() => ({ queueSize: 0, utilization: 0.9 }));
    m.recordStep({
      examples: 64,
      loss: 2 / (1 + step / 50),
      accuracy: Math.min(0.9, step / 200),
      lr: 0.01,
      epoch: 1,
      examplesPerSecond: 64 / 0.02,
      stepSeconds: 0.02,
      reduceSeconds: 0.0001,
      updateSeconds: 0.0001,
      shards: [0, 1].map((shard) => ({ shard, computeSeconds: 0.01, weightCopySeconds: 0.0001 })),
    });
  }
  m.recordEval('test', 0.5, 0.8);
  await delay(Number(arg('--metrics-linger', '0')) * 1000);
  await ep.close();
  process.stderr.write(`fake run: done after ${process.uptime().toFixed(1)} s\n`);
}

if (process.env['PIXELSENSE_E2E_DRIVER'] === '1') await fakeTrain(process.argv.slice(2));
else await e2e();
