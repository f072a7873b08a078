/**
 * The run directory: everything a run leaves behind.
 *
 *   <out>/config.yaml      resolved config (also logged at start)
 *   <out>/run.json         what ran: model, backend, workers, config file, command line, metrics endpoint
 *   <out>/log.jsonl        one JSON object per step, eval and event
 *   <out>/metrics.json     final metrics (see README: metrics.json)
 *   <out>/model/           the trained model, TensorFlow.js Layers format
 *   <out>/checkpoints/     msgpackr checkpoints, newest K kept
 */
import { closeSync, existsSync, mkdirSync, readdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { configToYaml, type Config } from '../../shared/config.js';
import { RunDirError } from '../../shared/errors.js';
import { writeFileAtomic } from '../../shared/atomicFile.js';

export { writeFileAtomic } from '../../shared/atomicFile.js';

export function defaultRunDir(model: string, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
    .replace('T', '-');
  return join('runs', `${stamp}-${model}`);
}

/** Files every run directory has from its first moment (config.yaml, then run.json, before any step). */
const RUN_MARKERS = ['config.yaml', 'run.json'];

/**
 * What a run writes, in the order --overwrite removes it: the model first.
 * config.yaml and run.json stay (the new run replaces them atomically at once),
 * so a crash at any point leaves a directory --overwrite still accepts.
 */
const RUN_OUTPUTS = ['model', 'metrics.json', 'endpoint.json', 'checkpoints'];
/** Leftovers of an interrupted atomic write (atomicFile.tempSibling). */
const RUN_TEMP = /^(?:model|metrics\.json|endpoint\.json|run\.json|config\.yaml)\.(?:tmp|old)-\d+/;

export function isRunDir(path: string): boolean {
  return RUN_MARKERS.every((m) => statSync(join(path, m), { throwIfNoEntry: false })?.isFile() === true);
}

function clearRun(path: string, entries: string[]): void {
  for (const name of RUN_OUTPUTS) rmSync(join(path, name), { recursive: true, force: true });
  for (const name of entries) if (RUN_TEMP.test(name)) rmSync(join(path, name), { recursive: true, force: true });
}

export class RunDir {
  /** log.jsonl, opened for appending on the first log(); close() closes it. */
  private logFd: number | null = null;

  private constructor(readonly path: string) {}

  /**
   * Create (or, with overwrite, reuse) a run directory; a non-empty one is
   * refused otherwise. --overwrite accepts only a PixelSense run directory
   * (isRunDir), checked before anything is touched, and removes every file
   * the previous run left, the model first: if the new run then dies, the
   * directory holds no model at all rather than the old one next to the new
   * config. Files a run does not write are left alone.
   */
  static create(path: string, overwrite: boolean): RunDir {
    const entries = existsSync(path) ? readdirSync(path) : [];
    if (entries.length > 0) {
      if (!overwrite) throw new RunDirError(path, 'run directory exists and is not empty; pass --overwrite or choose another --out');
      if (!isRunDir(path)) {
        throw new RunDirError(
          path,
          `--overwrite refused: not a PixelSense run directory (no ${RUN_MARKERS.join(' + ')}); nothing was changed`,
        );
      }
      clearRun(path, entries);
    }
    mkdirSync(path, { recursive: true });
    const dir = new RunDir(path);
    if (overwrite) writeFileSync(dir.file('log.jsonl'), '');
    return dir;
  }

  /** An existing run directory, for --resume: appends to its log. */
  static open(path: string): RunDir {
    if (!existsSync(join(path, 'config.yaml'))) throw new RunDirError(path, 'not a run directory (no config.yaml)');
    return new RunDir(path);
  }

  file(name: string): string {
    return join(this.path, name);
  }

  writeConfig(cfg: Config): void {
    writeFileAtomic(this.file('config.yaml'), configToYaml(cfg));
  }

  writeJson(name: string, value: unknown): void {
    writeFileAtomic(this.file(name), `${JSON.stringify(value, null, 2)}\n`);
  }

  /**
   * run.json: the record of this leg at the top level (what ran now) and of
   * every leg in `legs`, oldest first, so a resume keeps the first leg's history.
   */
  writeRunLeg(leg: Record<string, unknown>): void {
    let legs: unknown[] = [];
    const file = this.file('run.json');
    if (existsSync(file)) {
      try {
        const old = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
        const { legs: oldLegs, ...oldLeg } = old;
        legs = Array.isArray(oldLegs) ? oldLegs : [oldLeg];
      } catch (err) {
        throw new RunDirError(
          this.path,
          `run.json is not valid JSON (${err instanceof Error ? err.message : String(err)}); it holds the run's history, so it is not overwritten`,
        );
      }
    }
    // A fresh run (or --overwrite) starts the list again: RunDir.create removed nothing else of the old run's records.
    if (leg['resumed_from_step'] === null) legs = [];
    this.writeJson('run.json', { ...leg, legs: [...legs, leg] });
  }

  /**
   * One line per event, one write(2) each, so lines stay whole if the process
   * dies. The file stays open: appendFileSync's open+write+close cost 0.12 ms
   * per step record on the coordinator's thread, measured with --cpu-prof.
   */
  log(event: Record<string, unknown>): void {
    this.logFd ??= openSync(this.file('log.jsonl'), 'a');
    writeSync(this.logFd, `${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
  }

  /** Close log.jsonl (a later log() reopens it). */
  close(): void {
    if (this.logFd === null) return;
    closeSync(this.logFd);
    this.logFd = null;
  }
}
