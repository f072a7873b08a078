/**
 * The catalogue of errors PixelSense raises on purpose. Every one carries an
 * exit code and a one-line message that names the file and the field or
 * defect, so the CLI can print exactly one clear line (the stack only with
 * --verbose). Anything that is not a PixelSenseError is a bug and exits 70.
 */

export abstract class PixelSenseError extends Error {
  /** Process exit code the CLI uses for this error. */
  abstract readonly exitCode: number;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command-line usage or a cross-flag rule broken (yargs check()). */
export class UsageError extends PixelSenseError {
  readonly exitCode = 2;
}

/** A config file that does not parse or does not validate. `file` and `path` name the culprit. */
export class ConfigError extends PixelSenseError {
  readonly exitCode = 2;
  constructor(
    readonly file: string,
    readonly path: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${path ? `${path}: ` : ''}${detail}`, options);
  }
}

/** An error about one file: the message is `<file>: <defect>`. */
export abstract class FileError extends PixelSenseError {
  constructor(
    readonly file: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${detail}`, options);
  }
}

/** A data set file that is missing, corrupt or inconsistent (IDX defects, checksum mismatch). */
export class DataError extends FileError {
  readonly exitCode = 2;
}

/** A model directory or model file that is missing or malformed. */
export class ModelError extends FileError {
  readonly exitCode = 2;
}

/** A checkpoint that is truncated, corrupt or belongs to a different config. */
export class CheckpointError extends FileError {
  readonly exitCode = 2;
}

/** An image given to `predict` that cannot be read or decoded: that file fails, the others go on (exit 1). */
export class ImageError extends FileError {
  readonly exitCode = 1;
}

/** A run directory that exists and is not empty, without --overwrite. */
export class RunDirError extends PixelSenseError {
  readonly exitCode = 2;
  constructor(
    readonly dir: string,
    detail: string,
  ) {
    super(`${dir}: ${detail}`);
  }
}

/** A requested backend that cannot be loaded or initialised. */
export class BackendError extends PixelSenseError {
  readonly exitCode = 2;
}

/** A worker task that failed more times than the retry budget allows. */
export class WorkerError extends PixelSenseError {
  readonly exitCode = 1;
  constructor(
    readonly task: string,
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    const why = options?.cause instanceof Error ? options.cause.message : String(options?.cause ?? 'unknown');
    super(`worker task ${task} failed ${attempts} times: ${why}`, options);
  }
}

/** The metrics endpoint could not bind (port in use, bad host). */
export class MetricsError extends PixelSenseError {
  readonly exitCode = 2;
}

/** A multi-host run that lost every host and found none within cluster.joinTimeoutSeconds, or never got the hosts it waited for. */
export class ClusterError extends PixelSenseError {
  readonly exitCode = 1;
}

/** NATS unreachable or refusing our credentials, or a host refused by the coordinator (other data or version). */
export class ClusterAccessError extends PixelSenseError {
  readonly exitCode = 2;
}

/** Training was interrupted by SIGINT/SIGTERM; a checkpoint was written. */
export class InterruptedError extends PixelSenseError {
  readonly exitCode = 130;
}

/**
 * A size or shape that PixelSense's own code guarantees did not hold (e.g.
 * checkpoint state that passed its config-hash check but does not fit the
 * model): a bug, named so it is not mistaken for bad input. Exit 70, like
 * any other bug.
 */
export class InternalError extends PixelSenseError {
  readonly exitCode = 70;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof PixelSenseError ? err.exitCode : 70;
}
