/**
 * Headless Chromium for the page tests, driven by puppeteer-core over the
 * DevTools protocol. The browser is the system's (scripts/ensure-chromium.sh
 * installs Debian's package when missing); puppeteer-core never downloads one.
 *
 * watch() collects what must stay empty on a healthy page: console errors,
 * uncaught exceptions and failed requests.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // dist/test/support -> repo root

/** Find chromium, installing it via scripts/ensure-chromium.sh; `bin` undefined (with the reason) when impossible. */
export function ensureChromium(): Promise<{ bin?: string; why: string }> {
  return new Promise((resolve) => {
    execFile('bash', [join(ROOT, 'scripts/ensure-chromium.sh')], { cwd: ROOT, timeout: 900_000 }, (err, stdout, stderr) => {
      const bin = stdout.trim().split('\n').pop();
      if (err || !bin) resolve({ why: (stderr || String(err)).trim().split('\n').slice(-3).join(' | ') });
      else resolve({ bin, why: '' });
    });
  });
}

export function launch(bin: string): Promise<Browser> {
  return puppeteer.launch({
    executablePath: bin,
    headless: true,
    // --no-sandbox: CI runs as root, where Chromium refuses its sandbox.
    // --disable-dev-shm-usage: containers often have a 64 MB /dev/shm.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--hide-scrollbars'],
    defaultViewport: { width: 1400, height: 1000 },
  });
}

/** Record console errors, page exceptions and failed requests of `page` into the returned list. */
export function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()} ${JSON.stringify(m.location())}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err instanceof Error ? err.message : String(err)}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return problems;
}

/** Number of <svg> and <canvas> elements inside `selector` (the rendered charts). */
export function chartElements(page: Page, selector: string): Promise<number> {
  return page.$$eval(`${selector} svg, ${selector} canvas`, (els) => els.length);
}
