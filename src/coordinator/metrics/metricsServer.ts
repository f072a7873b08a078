/**
 * The coordinator's metrics endpoint: GET /metrics in Prometheus
 * text format and GET /healthz, plus a one-shot Pushgateway push for runs
 * that end between scrapes.
 *
 * node:http is enough for two read-only routes; a web framework would add a
 * dependency and nothing we use. The server binds before training starts so a
 * port clash is a MetricsError (exit 2) up front, not a crash mid-run.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pushgateway, type Registry } from 'prom-client';
import { MetricsError } from '../../shared/errors.js';

export interface MetricsEndpoint {
  host: string;
  port: number;
  /** Full URL of the metrics route, e.g. http://127.0.0.1:9400/metrics. */
  url: string;
  /** The server's root, e.g. http://127.0.0.1:9400/ (where extra routes such as the live page answer). */
  baseUrl: string;
  /** Stop accepting and drop open (keep-alive) connections. Idempotent. */
  close(): Promise<void>;
}

export const DEFAULT_METRICS_HOST = '127.0.0.1';
export const DEFAULT_METRICS_PORT = 9400;

/** One line for an error; connection errors can be AggregateErrors with an empty message. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  return err.message || code || err.name;
}

/** Wrap IPv6 literals in brackets so the URL parses. */
function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function bindError(err: NodeJS.ErrnoException, host: string, port: number): MetricsError {
  const where = `metrics port ${port} on ${host}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return new MetricsError(`${where} is already in use; pass --metrics-port 0 or --no-metrics`, { cause: err });
    case 'EACCES':
      return new MetricsError(`${where}: permission denied; use a port above 1023 or --metrics-port 0`, { cause: err });
    case 'EADDRNOTAVAIL':
      return new MetricsError(`metrics host ${host} is not an address of this machine; check --metrics-host`, {
        cause: err,
      });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new MetricsError(`metrics host ${host} does not resolve; check --metrics-host`, { cause: err });
    default:
      return new MetricsError(`cannot serve metrics on ${host}:${port}: ${describe(err)}`, { cause: err });
  }
}

/**
 * Further read-only routes served beside /metrics (the live page): called for
 * any other path, returns true when it answered the request, false for a 404.
 */
export type ExtraRoutes = (path: string, req: http.IncomingMessage, res: http.ServerResponse) => boolean;

/** Start the endpoint; resolves once listening, with the port actually bound (for port 0). */
export function startMetricsServer(opts: {
  host: string;
  port: number;
  registry: Registry;
  routes?: ExtraRoutes;
}): Promise<MetricsEndpoint> {
  const { host, port, registry, routes } = opts;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return Promise.reject(new MetricsError(`metrics port ${String(port)} is not an integer in 0..65535`));
  }
  if (host.trim() === '') return Promise.reject(new MetricsError('metrics host is empty; check --metrics-host'));

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/metrics' && path !== '/healthz') {
      if (routes?.(path ?? '/', req, res)) return;
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found; try /metrics or /healthz\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' }).end('ok\n');
      return;
    }
    registry.metrics().then(
      (body) => {
        res.writeHead(200, {
          'Content-Type': registry.contentType,
          'Content-Length': Buffer.byteLength(body),
          'Cache-Control': 'no-store',
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        // A failing collector must not take the coordinator down; Prometheus
        // records the scrape as failed and the 500 body says why.
        const msg = describe(err);
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`metrics collection failed: ${msg}\n`);
      },
    );
  });

  return new Promise<MetricsEndpoint>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.close();
      reject(bindError(err, host, port));
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      // After binding, errors are per-connection; log rather than crash training.
      server.on('error', (err) => process.stderr.write(`metrics server error: ${err.message}\n`));
      const bound = (server.address() as AddressInfo).port;
      let closing: Promise<void> | undefined;
      resolve({
        host,
        port: bound,
        url: `http://${hostForUrl(host)}:${bound}/metrics`,
        baseUrl: `http://${hostForUrl(host)}:${bound}/`,
        close() {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            // Prometheus keeps its scrape connection alive; without this,
            // close() would wait for the keep-alive timeout.
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}

/**
 * Push the registry to a Pushgateway, replacing (PUT) whatever the same job
 * and grouping key held: the final values of a run, pushed once as it ends.
 * Group by run_id so runs do not overwrite each other. Rejects with a
 * MetricsError naming the gateway; callers usually warn rather than fail the run.
 */
export async function pushMetrics(url: string, registry: Registry, job: string, grouping?: Record<string, string>): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MetricsError(`--pushgateway ${url} is not a URL (expected e.g. http://127.0.0.1:9091)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new MetricsError(`--pushgateway ${url}: only http and https are supported`);
  }
  // prom-client sets no timeout of its own; an unreachable gateway must not
  // hold the process open after training has finished.
  const gateway = new Pushgateway(url, { timeout: 10_000 }, registry);
  try {
    await gateway.push(grouping ? { jobName: job, groupings: grouping } : { jobName: job });
  } catch (err) {
    throw new MetricsError(`push to ${url} failed: ${describe(err)}`, { cause: err });
  }
}
