/**
 * End-to-end in a real browser: headless Chromium opens the live page of a
 * real smoke run (configs/smoke.yaml, longer by --epochs), the HTML file
 * `pixelsense report` writes from that run, and `pixelsense runs` listing it
 * and serving its report on request. Each page must render its charts
 * as SVG, log no console error, fail no request; on the live page the numbers
 * must move while the run trains.
 *
 * Synchronisation is on the run itself: the CLI's "live: URL" line, the
 * page's own step counter reaching steps the run reports, the run's
 * "keeping ... up" line once it has finished. No sleeps.
 *
 * Env: CHROMIUM_BIN (browser binary), PIXELSENSE_E2E_TIMEOUT_S (deadline per
 * wait, default 300), PIXELSENSE_SCREENSHOTS=DIR (also save live.png and
 * report.png there: how docs/images/ is made).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'puppeteer-core';
import { chartElements, ensureChromium, launch, watch } from '../support/browser.js';
import { CLI, runCli } from '../support/cli.js';

/** The DOM as far as the functions run inside the page use it (tsconfig has no DOM lib: the product is Node-only). */
declare const document: {
  getElementById(id: string): { textContent: string | null } | null;
  querySelector(selector: string): unknown;
};

const TIMEOUT_MS = Number(process.env['PIXELSENSE_E2E_TIMEOUT_S'] ?? 300) * 1000;
const SHOTS = process.env['PIXELSENSE_SCREENSHOTS'];

interface Cli {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first match of `re` in the output so far or to come; rejects if the run exits first. */
  waitFor(re: RegExp): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

/** The CLI as a long-lived child (a training run, `pixelsense runs`), its output watched line by line. */
function cli(args: string[]): Cli {
  const { NODE_TEST_CONTEXT: _, PIXELSENSE_FAULT: __, ...env } = process.env;
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: (() => void)[] = [];
  const onData = (d: Buffer): void => {
    out += d.toString('utf8');
    for (const w of [...waiters]) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    waitFor(re) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = out.match(re);
          if (!m) return;
          waiters.splice(waiters.indexOf(check), 1);
          clearTimeout(timer);
          resolve(m);
        };
        const timer = setTimeout(() => reject(new Error(`no ${re} within ${TIMEOUT_MS} ms:\n${out}`)), TIMEOUT_MS);
        waiters.push(check);
        void exited.then((code) => {
          if (!out.match(re)) {
            clearTimeout(timer);
            reject(new Error(`the run exited (${String(code)}) before printing ${re}:\n${out}`));
          }
        });
        check();
      });
    },
  };
}

const pageStep = (page: Page): Promise<number> => page.$eval('#step', (el) => Number(el.textContent));
const pageText = (page: Page, ids: string[]): Promise<string[]> =>
  page.evaluate((list: string[]) => list.map((id) => document.getElementById(id)?.textContent ?? ''), ids);

test('the live page, the report and pixelsense runs render their charts in Chromium, the live numbers move, and no console error is logged', {
  timeout: 1_200_000,
}, async (t) => {
  const found = await ensureChromium();
  if (!found.bin) {
    t.skip(`chromium not found and could not be installed (${found.why})`);
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'pixelsense-browser-'));
  let run: Cli | undefined;
  let runs: Cli | undefined;
  let browser: Browser | undefined;
  try {
    const out = join(dir, 'run');
    // 4 epochs of 16 steps: long enough to watch several steps go by.
    run = cli([
      'train',
      'configs/smoke.yaml',
      '--epochs',
      '4',
      '--out',
      out,
      '--overwrite',
      '--metrics-port',
      '0',
      '--metrics-linger',
      '600',
    ]);
    const [, url] = await run.waitFor(/live: (http:\/\/127\.0\.0\.1:\d+\/)\n/);
    assert.ok(url);
    browser = await launch(found.bin);

    const live = await browser.newPage();
    const liveProblems = watch(live);
    await live.goto(url, { waitUntil: 'load' });
    // First moment: the page shows a step of the run and has drawn its curves.
    await live.waitForFunction(
      () => Number(document.getElementById('step')?.textContent) >= 2 && document.querySelector('#chart-curves svg') !== null,
      { timeout: TIMEOUT_MS },
    );
    const step1 = await pageStep(live);
    const first = await pageText(live, ['step', 'elapsed', 'loss', 'examples-per-second']);
    // Second moment: three steps later, as the run itself reports them to the page, and a new second on the
    // elapsed clock (whole seconds: on a fast machine three steps fit in one).
    await live.waitForFunction(
      (s: number, elapsed: string) =>
        Number(document.getElementById('step')?.textContent) >= s + 3 && document.getElementById('elapsed')?.textContent !== elapsed,
      { timeout: TIMEOUT_MS },
      step1,
      first[1] ?? '',
    );
    const second = await pageText(live, ['step', 'elapsed', 'loss', 'examples-per-second']);
    t.diagnostic(`live page at two moments: ${first.join(' | ')}  ->  ${second.join(' | ')}`);
    assert.notEqual(second[0], first[0], 'the step counter moved');
    assert.notEqual(second[1], first[1], 'the elapsed time moved');
    if (SHOTS) {
      // The picture for the README: mid-run (60% of the steps), a few evaluations in.
      await live.waitForFunction(
        () =>
          Number(document.getElementById('step')?.textContent) >= 0.6 * Number(document.getElementById('last-step')?.textContent) &&
          document.querySelector('#chart-confusion svg') !== null,
        { timeout: TIMEOUT_MS },
      );
      await live.screenshot({ path: join(SHOTS, 'live.png'), fullPage: true });
    }

    // After the run: every chart is drawn, including the confusion matrix of the final evaluation.
    await run.waitFor(/keeping \S+ and the live page \S+ up/);
    await live.waitForFunction(
      () => document.getElementById('status')?.textContent === 'finished' && document.querySelector('#chart-confusion svg') !== null,
      { timeout: TIMEOUT_MS },
    );
    for (const chart of ['curves', 'throughput', 'workers', 'confusion']) {
      assert.ok((await chartElements(live, `#chart-${chart}`)) > 0, `#chart-${chart} holds an SVG`);
    }
    const final = await pageText(live, ['step', 'last-step', 'test-accuracy']);
    assert.equal(final[0], final[1], `the page ends at the last step: ${final.join(' ')}`);
    assert.match(final[2] ?? '', /^\d+\.\d\d%$/, 'test accuracy shown');
    assert.deepEqual(liveProblems, [], 'the live page logged no console error and failed no request');

    // The report written from the same run, opened from disk.
    const report = await runCli(['report', out, '--out', join(dir, 'report')]);
    assert.equal(report.code, 0, report.stderr);
    const page = await browser.newPage();
    const reportProblems = watch(page);
    await page.goto(pathToFileURL(join(dir, 'report', 'report.html')).href, { waitUntil: 'load' });
    const figures = await chartElements(page, 'figure');
    assert.ok(figures >= 3, `the report shows its figures as SVG (found ${figures})`);
    assert.ok(await page.$eval('body', (b) => (b.textContent ?? '').includes('Confusion matrix')), 'the report has its confusion matrix');
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'report.png'), fullPage: true });
    assert.deepEqual(reportProblems, [], 'the report logged no console error and failed no request');

    // `pixelsense runs` on the directory holding the run: the list, then the run's report through it.
    runs = cli(['runs', dir, '--port', '0']);
    const [, runsUrl] = await runs.waitFor(/runs: (http:\/\/127\.0\.0\.1:\d+\/)/);
    assert.ok(runsUrl);
    const list = await browser.newPage();
    const listProblems = watch(list);
    await list.goto(runsUrl, { waitUntil: 'load' });
    await list.click('input[name="run"][value="run"]');
    await Promise.all([list.waitForNavigation({ waitUntil: 'load', timeout: TIMEOUT_MS }), list.click('button[type="submit"]')]);
    assert.match(list.url(), /\/report\?run=run$/);
    assert.ok((await chartElements(list, 'figure')) >= 3, 'the report served by pixelsense runs shows its figures');
    assert.deepEqual(listProblems, [], 'pixelsense runs logged no console error and failed no request');
  } finally {
    await browser?.close();
    for (const p of [run, runs]) {
      if (p && p.child.exitCode === null) {
        p.child.kill('SIGTERM');
        await p.exited;
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
});
