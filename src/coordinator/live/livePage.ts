/**
 * The live page (GET /) and its script (GET /live.js). The script polls
 * /api/run every second for the numbers, and /api/charts when the run has
 * moved, then compiles the Vega-Lite specs with vega-lite and renders them as
 * SVG with vega's View API; a chart whose spec did not change is left alone.
 *
 * The browser code is plain ES2020 in a string: it is small, has no imports,
 * and is checked where it matters, in Chromium (test/e2e/livePage.test.ts).
 */
import type { AssetTable } from './staticFiles.js';

export const LIVE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PixelSense live</title>
<link rel="icon" href="data:,">
<style>
  body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; margin: 1.2rem 2rem; color: #222; }
  h1 { font-size: 1.3rem; margin: 0 0 .4rem; }
  .status { display: inline-block; padding: .1rem .5rem; border-radius: .6rem; font-size: .85rem; background: #eee; }
  .status.running { background: #d7f0d7; } .status.finished { background: #dde8f7; }
  .status.interrupted, .status.failed, .status.disconnected { background: #f7dada; }
  .bar { height: .6rem; background: #eee; border-radius: .3rem; overflow: hidden; margin: .5rem 0 .8rem; max-width: 60rem; }
  .bar > div { height: 100%; background: #1f77b4; width: 0; transition: width .5s; }
  .numbers { display: flex; flex-wrap: wrap; gap: .4rem 1.6rem; margin-bottom: 1rem; }
  .numbers div { min-width: 7rem; } .numbers b { display: block; font-size: 1.15rem; font-variant-numeric: tabular-nums; }
  .numbers span { font-size: .8rem; color: #666; }
  .charts { display: flex; flex-wrap: wrap; gap: 1.2rem; }
  .chart { min-height: 120px; min-width: 360px; }
  .chart .empty { color: #888; font-size: .9rem; padding: 1rem 0; }
  details { margin-top: 1rem; } table { border-collapse: collapse; font-size: .85rem; }
  td { padding: .1rem .8rem .1rem 0; } td:first-child { color: #555; }
  .meta { color: #555; font-size: .9rem; margin: .2rem 0; }
</style>
</head>
<body>
<h1>PixelSense live: <span id="run-id">…</span> <span id="status" class="status">connecting</span></h1>
<p class="meta" id="summary"></p>
<div class="bar"><div id="progress-bar"></div></div>
<div class="numbers">
  <div><b id="step">0</b><span>step of <span id="last-step">?</span></span></div>
  <div><b id="epoch">0</b><span>epoch</span></div>
  <div><b id="elapsed">0 s</b><span>elapsed</span></div>
  <div><b id="eta">–</b><span>ETA</span></div>
  <div><b id="examples-per-second">0</b><span>examples/s</span></div>
  <div><b id="loss">–</b><span>train loss</span></div>
  <div><b id="accuracy">–</b><span>train accuracy</span></div>
  <div><b id="test-accuracy">–</b><span>test accuracy</span></div>
</div>
<div class="charts">
  <div class="chart" id="chart-curves"><div class="empty">training curves: waiting for the first step</div></div>
  <div class="chart" id="chart-throughput"><div class="empty">throughput: waiting for the first step</div></div>
  <div class="chart" id="chart-workers"><div class="empty">per-worker time: waiting for the first step</div></div>
  <div class="chart" id="chart-confusion"><div class="empty">confusion matrix: waiting for the first evaluation</div></div>
</div>
<details><summary>Config</summary><table id="config"></table></details>
<script src="vendor/vega.min.js"></script>
<script src="vendor/vega-lite.min.js"></script>
<script src="live.js"></script>
</body>
</html>
`;

export const LIVE_JS = `'use strict';
(function () {
  const POLL_MS = 1000;
  const $ = (id) => document.getElementById(id);
  const text = (id, s) => { const el = $(id); if (el.textContent !== s) el.textContent = s; };
  const pct = (x) => (x === null || x === undefined ? '–' : (100 * x).toFixed(2) + '%');
  const secs = (s) => {
    if (s === null || s === undefined) return '–';
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return h > 0 ? h + ' h ' + m + ' min' : m > 0 ? m + ' min ' + r + ' s' : r + ' s';
  };
  const views = new Map();
  const shown = new Map();
  let version = -1;
  let configShown = false;

  function showNumbers(s) {
    const p = s.progress;
    text('run-id', s.run.runId + ' (' + s.run.model + ')');
    const st = $('status'); st.textContent = s.status; st.className = 'status ' + s.status;
    text('summary', s.run.architecture + ' | backend ' + s.run.backend + ' | ' + s.run.workers + ' workers | batch ' +
      s.run.config['train.batchSize'] + ' | ' + s.run.config['optimizer.name'] + ' lr ' + s.run.config['optimizer.lr'] +
      ' | config ' + s.run.configFile + ' | out ' + s.run.outDir);
    $('progress-bar').style.width = (100 * p.fraction).toFixed(1) + '%';
    text('step', String(p.step));
    text('last-step', String(p.lastStep));
    text('epoch', p.epoch + ' / ' + p.epochs);
    text('elapsed', secs(p.elapsedSeconds));
    text('eta', s.status === 'running' ? secs(p.etaSeconds) : s.status);
    text('examples-per-second', p.examplesPerSecond.toFixed(0));
    text('loss', p.loss === null ? '–' : p.loss.toFixed(4));
    text('accuracy', pct(p.accuracy));
    text('test-accuracy', pct(p.testAccuracy));
    if (!configShown) {
      const rows = Object.entries(s.run.config).map(([k, v]) => {
        const tr = document.createElement('tr');
        const a = document.createElement('td'); a.textContent = k;
        const b = document.createElement('td'); b.textContent = String(v);
        tr.append(a, b);
        return tr;
      });
      $('config').replaceChildren(...rows);
      configShown = true;
    }
  }

  async function showCharts() {
    const res = await fetch('api/charts', { cache: 'no-store' });
    if (!res.ok) throw new Error('api/charts: HTTP ' + res.status);
    const charts = await res.json();
    for (const [name, spec] of Object.entries(charts)) {
      const key = JSON.stringify(spec);
      if (shown.get(name) === key) continue;
      const container = $('chart-' + name);
      if (!container) continue;
      const compiled = vegaLite.compile(spec).spec;
      const view = new vega.View(vega.parse(compiled), { renderer: 'svg', container: container, hover: true });
      await view.runAsync();
      const old = views.get(name);
      if (old) old.finalize();
      views.set(name, view);
      shown.set(name, key);
    }
  }

  async function poll() {
    try {
      const res = await fetch('api/run', { cache: 'no-store' });
      if (!res.ok) throw new Error('api/run: HTTP ' + res.status);
      const s = await res.json();
      showNumbers(s);
      if (s.version !== version) {
        try {
          await showCharts();
          version = s.version;
        } catch (err) {
          console.error('pixelsense live: chart failed:', err);
        }
      }
      document.body.dataset.version = String(version);
    } catch (err) {
      // The run ended and its server went away: say so on the page, keep the last picture.
      const st = $('status'); st.textContent = 'disconnected'; st.className = 'status disconnected';
      console.warn('pixelsense live:', err);
    }
    setTimeout(poll, POLL_MS);
  }
  poll();
})();
`;

/** Routes of the page itself (the API routes are added by liveRoutes). */
export const LIVE_PAGE_ASSETS: AssetTable = {
  '/': { type: 'text/html; charset=utf-8', body: () => LIVE_HTML },
  '/index.html': { type: 'text/html; charset=utf-8', body: () => LIVE_HTML },
  '/live.js': { type: 'text/javascript; charset=utf-8', body: () => LIVE_JS },
};
