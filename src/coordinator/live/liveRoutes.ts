/**
 * The live page's routes on the metrics server: the page, its script, the
 * vega builds, and two read-only JSON endpoints over a RunState.
 *
 *   GET /            the page
 *   GET /api/run     RunSnapshot: progress, bounded step/eval history, per-worker timings, confusion matrix
 *   GET /api/charts  the page's Vega-Lite specs (report/charts.ts) over that snapshot
 */
import type http from 'node:http';
import { liveCharts } from './liveCharts.js';
import { LIVE_PAGE_ASSETS } from './livePage.js';
import type { RunState } from './runState.js';
import { serveTable, VENDOR_ASSETS, type AssetTable } from './staticFiles.js';

const JSON_TYPE = 'application/json; charset=utf-8';

export function liveRoutes(state: RunState): (path: string, req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  // Specs are rebuilt only when the run has moved: several open tabs polling
  // every second cost one build per step, not one per request.
  let cached: { version: number; body: string } | undefined;
  const table: AssetTable = {
    ...LIVE_PAGE_ASSETS,
    ...VENDOR_ASSETS,
    '/api/run': { type: JSON_TYPE, body: () => JSON.stringify(state.snapshot()) },
    '/api/charts': {
      type: JSON_TYPE,
      body: () => {
        const s = state.snapshot();
        if (cached?.version !== s.version) cached = { version: s.version, body: JSON.stringify(liveCharts(s)) };
        return cached.body;
      },
    },
  };
  return (path, req, res) => serveTable(table, path, req, res);
}
