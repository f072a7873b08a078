/**
 * Serving the pages' files safely: a fixed table from URL path to content,
 * never a path joined from the request, so `..`, encoded slashes or absolute
 * paths cannot reach the file system. Only GET and HEAD are answered.
 *
 * The vega and vega-lite browser builds are read from node_modules (the
 * packages' own UMD builds, ~0.8 MB together) once, on first request; the
 * pages load them from this server, so they work on an offline machine.
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  type: string;
  /** Called per request; static assets memoise, API routes compute. */
  body: (req: http.IncomingMessage) => string | Buffer;
  /** Cache-Control; defaults to no-store (live data). */
  cache?: string;
}

export type AssetTable = Readonly<Record<string, Asset>>;

/**
 * Every response also carries a Content-Security-Policy that allows this
 * origin only: a page that tried to load anything from outside would be
 * blocked and log a console error, which the browser test fails on.
 * 'unsafe-eval' is needed by vega's expression code generator.
 */
const CSP =
  "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'";

export function send(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  cache = 'no-store',
): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': bytes.length,
    'Cache-Control': cache,
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

/** Answer `path` from `table`; false when the path is not in it (the caller 404s). */
export function serveTable(table: AssetTable, path: string, req: http.IncomingMessage, res: http.ServerResponse): boolean {
  if (!Object.hasOwn(table, path)) return false;
  const asset = table[path] as Asset;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res
      .writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' })
      .end('method not allowed: this server is read-only\n');
    return true;
  }
  let body: string | Buffer;
  try {
    body = asset.body(req);
  } catch (err) {
    send(req, res, 500, 'text/plain; charset=utf-8', `${err instanceof Error ? err.message : String(err)}\n`);
    return true;
  }
  send(req, res, 200, asset.type, body, asset.cache);
  return true;
}

const memo = new Map<string, Buffer>();

/** A file beside a package's entry point (e.g. vega's build/vega.min.js), read once. */
function packageFile(pkg: string, file: string): Buffer {
  const key = `${pkg}/${file}`;
  let b = memo.get(key);
  if (!b) {
    // The packages' `exports` hide build/*.min.js from require.resolve; their
    // entry points live in the same build/ directory.
    const entry = fileURLToPath(import.meta.resolve(pkg));
    b = readFileSync(join(dirname(entry), file));
    memo.set(key, b);
  }
  return b;
}

const JS = 'text/javascript; charset=utf-8';

/** The vega and vega-lite browser builds, under /vendor/. */
export const VENDOR_ASSETS: AssetTable = {
  '/vendor/vega.min.js': { type: JS, body: () => packageFile('vega', 'vega.min.js'), cache: 'public, max-age=3600' },
  '/vendor/vega-lite.min.js': { type: JS, body: () => packageFile('vega-lite', 'vega-lite.min.js'), cache: 'public, max-age=3600' },
};

/** Escape text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}
