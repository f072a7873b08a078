/**
 * Reading a run's log.jsonl from tests, and waiting for an event in it: the
 * moment to send a signal is when the log shows the run has reached it, never
 * after a fixed sleep.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Run } from './cli.js';

export type LogEvent = Record<string, unknown> & { event: string; step?: number };

/**
 * A run's log.jsonl, one object per line; empty when the run wrote no log. A last line without its newline is one
 * being appended right now (a running run) and is left out; every complete line must parse, so a corrupt log
 * fails the test rather than losing events.
 */
export function readLog(runDir: string): LogEvent[] {
  const file = join(runDir, 'log.jsonl');
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.pop(); // '' after the final newline, or the line still being written
  return lines.filter(Boolean).map((l) => JSON.parse(l) as LogEvent);
}

/**
 * Resolves once `ready(events)` holds for the run's log; rejects if the
 * process ends first or nothing happens within `timeoutMs`. The 20 ms poll
 * is how often the file is looked at, not a guess at when the run gets there.
 */
export async function waitForLog(
  runDir: string,
  done: Promise<Run>,
  ready: (events: LogEvent[]) => boolean,
  timeoutMs = 120_000,
): Promise<void> {
  let ended: Run | undefined;
  void done.then((r) => (ended = r));
  const deadline = Date.now() + timeoutMs;
  while (!ready(readLog(runDir))) {
    if (ended) throw new Error(`the run ended (code ${ended.code}) before its log showed the awaited event: ${ended.stderr}`);
    if (Date.now() > deadline) throw new Error(`the awaited event did not appear in ${runDir}/log.jsonl within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves when `text` (a regex) appears in what `stream` has written so far, or rejects when the process ends first. */
export function waitForOutput(stream: NodeJS.ReadableStream | null, pattern: RegExp, done: Promise<Run>): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer | string) => {
      seen += d.toString();
      if (pattern.test(seen)) {
        stream?.off('data', onData);
        resolve();
      }
    };
    stream?.on('data', onData);
    void done.then((r) => reject(new Error(`the process ended (code ${r.code}) before printing ${pattern}: ${r.stderr}`)));
  });
}
