/**
 * `pixelsense runs [dir]`: a small TensorBoard for finished runs. GET / lists
 * the run directories under `dir` (metrics, status, a link to the live page
 * of a run still training); ticking some and pressing Compare opens
 * GET /report?run=A&run=B: the `pixelsense report` page of those runs side by
 * side, generated on first request by report/report.ts and cached.
 *
 * Read-only and safe by construction: a run is named by its directory's base
 * name and must be one of the names the listing found, so a request can never
 * point the report (or anything else) at another path.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RunDirError, UsageError } from '../../shared/errors.js';
import { writeReport } from '../report/report.js';
import { escapeHtml as esc, send } from './staticFiles.js';

export interface RunEntry {
  name: string;
  dir: string;
  model: string | null;
  /** finished: metrics.json written; otherwise still training, or stopped before the end. */
  finished: boolean;
  started: string | null;
  testAccuracy: number | null;
  steps: number | null;
  examplesPerSecond: number | null;
  wallSeconds: number | null;
  /** The live page of a run without metrics.json, from its endpoint.json. */
  liveUrl: string | null;
}

function readJson(file: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** The run directories directly under `root` (those holding run.json or metrics.json), newest first. */
export function listRuns(root: string): RunEntry[] {
  const out: RunEntry[] = [];
  for (const name of readdirSync(root).sort()) {
    const dir = join(root, name);
    try {
      if (!statSync(dir).isDirectory()) continue;
    } catch {
      continue;
    }
    const run = readJson(join(dir, 'run.json'));
    const metrics = readJson(join(dir, 'metrics.json'));
    if (!run && !metrics) continue;
    const test = metrics?.['test'] as Record<string, unknown> | undefined;
    const endpoint = metrics ? null : readJson(join(dir, 'endpoint.json'));
    const metricsUrl = str(endpoint?.['url']);
    out.push({
      name,
      dir,
      model: str(metrics?.['model']) ?? str(run?.['model']),
      finished: metrics !== null,
      started: str(run?.['started']),
      testAccuracy: num(test?.['accuracy']),
      steps: num(metrics?.['steps']),
      examplesPerSecond: num(metrics?.['examples_per_sec']),
      wallSeconds: num(metrics?.['wall_s']),
      liveUrl: metricsUrl ? metricsUrl.replace(/metrics$/, '') : null,
    });
  }
  return out.sort((a, b) => (b.started ?? b.name).localeCompare(a.started ?? a.name));
}

const CSS = `body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; margin: 1.2rem 2rem; color: #222; }
table { border-collapse: collapse; } th, td { padding: .25rem .7rem; border-bottom: 1px solid #ddd; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; } .muted { color: #666; } button { margin-top: .8rem; }`;

export function runsIndexHtml(root: string, runs: RunEntry[]): string {
  const fmt = (v: number | null, f: (x: number) => string): string => (v === null ? '–' : f(v));
  const rows = runs.map((r) => {
    const box = r.finished ? `<input type="checkbox" name="run" value="${esc(r.name)}" aria-label="compare ${esc(r.name)}">` : '';
    const status = r.finished ? 'finished' : r.liveUrl ? `<a href="${esc(r.liveUrl)}">live page</a> (if still training)` : 'incomplete';
    return (
      `<tr><td>${box}</td><td>${r.finished ? `<a href="report?run=${encodeURIComponent(r.name)}">${esc(r.name)}</a>` : esc(r.name)}</td>` +
      `<td>${esc(r.model ?? '?')}</td><td>${status}</td>` +
      `<td class="n">${fmt(r.testAccuracy, (x) => `${(100 * x).toFixed(2)}%`)}</td><td class="n">${fmt(r.steps, String)}</td>` +
      `<td class="n">${fmt(r.examplesPerSecond, (x) => x.toFixed(0))}</td><td class="n">${fmt(r.wallSeconds, (x) => `${x.toFixed(1)} s`)}</td>` +
      `<td class="muted">${esc(r.started ?? '')}</td></tr>`
    );
  });
  return [
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>PixelSense runs</title><link rel="icon" href="data:,">',
    `<style>${CSS}</style></head><body>`,
    `<h1>PixelSense runs in <code>${esc(root)}</code></h1>`,
    runs.length === 0 ? '<p>No run directories here yet: <code>pixelsense train configs/cnn.yaml</code> makes one.</p>' : '',
    '<form action="report" method="get"><table>',
    '<tr><th></th><th>run</th><th>model</th><th>status</th><th>test accuracy</th><th>steps</th><th>examples/s</th><th>wall</th><th>started</th></tr>',
    ...rows,
    '</table><button type="submit">Compare the ticked runs</button></form>',
    '<p class="muted">A report is generated on first view (the most-confused grid predicts the test set: seconds) and then cached.</p>',
    '</body></html>',
  ].join('\n');
}

export interface RunsServer {
  url: string;
  close(): Promise<void>;
}

export interface RunsServerOptions {
  root: string;
  host: string;
  port: number;
  dataDir?: string;
  log?: (line: string) => void;
}

export async function startRunsServer(o: RunsServerOptions): Promise<RunsServer> {
  const root = resolve(o.root);
  if (!existsSync(root) || !statSync(root).isDirectory())
    throw new RunDirError(o.root, 'is not a directory (give the directory that holds your runs, e.g. runs)');
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)
    throw new UsageError(`--port must be an integer in 0..65535 (got ${o.port})`);
  const cacheDir = mkdtempSync(join(tmpdir(), 'pixelsense-runs-'));
  // One report generation at a time: each one loads a model and predicts the
  // test set, and two tabs asking for the same comparison should share it.
  const reports = new Map<string, Promise<string>>();
  let queue: Promise<unknown> = Promise.resolve();

  const report = (names: string[]): Promise<string> => {
    const key = createHash('sha256').update(names.join('\n')).digest('hex').slice(0, 16);
    let p = reports.get(key);
    if (!p) {
      const out = join(cacheDir, key);
      const opts = { ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}), ...(o.log ? { log: o.log } : {}) };
      p = queue
        .then(() =>
          writeReport(
            names.map((n) => join(root, n)),
            out,
            opts,
          ),
        )
        .then((r) => readFileSync(r.html, 'utf8'));
      queue = p.catch(() => undefined);
      p.catch(() => reports.delete(key)); // a failure is retried on the next request
      reports.set(key, p);
    }
    return p;
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res
        .writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' })
        .end('method not allowed: this server is read-only\n');
      return;
    }
    const html = 'text/html; charset=utf-8';
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
    } else if (url.pathname === '/') {
      send(req, res, 200, html, runsIndexHtml(o.root, listRuns(root)));
    } else if (url.pathname === '/report') {
      const known = new Set(
        listRuns(root)
          .filter((r) => r.finished)
          .map((r) => r.name),
      );
      const names = [...new Set(url.searchParams.getAll('run'))].sort();
      const unknown = names.filter((n) => !known.has(n));
      if (names.length === 0 || unknown.length > 0) {
        const why =
          names.length === 0
            ? 'tick at least one run'
            : `no finished run named ${unknown.map((n) => JSON.stringify(n)).join(', ')} in ${o.root}`;
        send(
          req,
          res,
          400,
          html,
          `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><p>${esc(why)}. <a href="./">Back to the runs</a></p>`,
        );
        return;
      }
      report(names).then(
        (body) => send(req, res, 200, html, body),
        (err: unknown) =>
          send(req, res, 500, 'text/plain; charset=utf-8', `report failed: ${err instanceof Error ? err.message : String(err)}\n`),
      );
    } else {
      send(req, res, 404, 'text/plain; charset=utf-8', 'not found; try /\n');
    }
  });

  await new Promise<void>((done, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      fail(
        err.code === 'EADDRINUSE'
          ? new UsageError(`port ${o.port} on ${o.host} is already in use; pass --port 0 for a free one`)
          : new UsageError(`cannot serve on ${o.host}:${o.port}: ${err.message}`),
      ),
    );
    server.listen({ host: o.host, port: o.port }, () => done());
  });
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `http://${host}:${port}/`,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => {
          rmSync(cacheDir, { recursive: true, force: true });
          done();
        });
        server.closeAllConnections();
      }),
  };
}
