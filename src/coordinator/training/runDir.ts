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
import { appendFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configToYaml, type Config } from '../../shared/config.js';
import { RunDirError } from '../../shared/errors.js';
import { writeFileAtomic } from '../../shared/atomicFile.js';

export { writeFileAtomic } from '../../shared/atomicFile.js';

export function defaultRunDir(model: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
  return join('runs', `${stamp}-${model}`);
}

export class RunDir {
  private constructor(readonly path: string) {}

  /** Create (or, with overwrite, reuse) a run directory; a non-empty one is refused otherwise. */
  static create(path: string, overwrite: boolean): RunDir {
    if (existsSync(path) && readdirSync(path).length > 0 && !overwrite) {
      throw new RunDirError(path, 'run directory exists and is not empty; pass --overwrite or choose another --out');
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

  /** One line per event; appendFileSync keeps lines whole if the process dies. */
  log(event: Record<string, unknown>): void {
    appendFileSync(this.file('log.jsonl'), `${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
  }
}
