/**
 * Running the real `pixelsense` CLI from tests, as a child process: exit
 * code and both streams, synchronised on the process's close (no sleeps).
 * PIXELSENSE_FAULT never leaks in from the environment; a test that wants a
 * fault passes it. The child finds Fashion-MNIST through the product's own
 * search order; runCli first makes sure the cache holds a copy (data.ts), so
 * no child ever falls through to a download.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fashionMnistDir } from './data.js';

/** The compiled CLI entry (tests run from dist/test/). */
export const CLI = fileURLToPath(new URL('../../src/coordinator/cli/cli.js', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Start the CLI; `done` resolves when it has exited and its streams are drained.
 * A command that reads Fashion-MNIST needs `await fashionMnistDir()` first (runCli does it).
 */
export function startCli(args: string[], options: { fault?: string } = {}): { child: ChildProcess; done: Promise<Run> } {
  const env = { ...process.env };
  delete env['PIXELSENSE_FAULT'];
  if (options.fault !== undefined) env['PIXELSENSE_FAULT'] = options.fault;
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, done };
}

export async function runCli(args: string[], options: { fault?: string } = {}): Promise<Run> {
  await fashionMnistDir();
  return startCli(args, options).done;
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Every file under `root` with its SHA-256 and mtime: to show that a refused command touched nothing. */
export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out[p.slice(root.length)] = `${sha256(readFileSync(p))} ${st.mtimeMs}`;
    }
  };
  walk(root);
  return out;
}
