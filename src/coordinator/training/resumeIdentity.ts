/**
 * A resume must continue the same run, not a look-alike: same config (the
 * checkpoint's config hash, checked when it is read), same data content and
 * same backend (the float32 results of `tensorflow` and `wasm` differ, so a
 * switch would silently break the bitwise promise). Checked before the run
 * directory is touched; a mismatch is exit 2 naming what changed.
 */
import { RunDirError } from '../../shared/errors.js';
import type { Checkpoint } from './checkpoint.js';

export interface RunIdentity {
  readonly dataHash: string;
  /** The backend `runtime.backend` resolved to here. */
  readonly backend: string;
  /** Where the data came from, for the message. */
  readonly dataSource: string;
}

/** Returns notes for the log (fields an older checkpoint lacks); throws when something changed. */
export function checkResumeIdentity(runDir: string, ckpt: Checkpoint, now: RunIdentity): string[] {
  const changed: string[] = [];
  const notes: string[] = [];
  if (ckpt.dataHash === undefined) notes.push('the checkpoint predates data hashes: the data cannot be compared');
  else if (ckpt.dataHash !== now.dataHash) {
    changed.push(
      `the training data differ (content SHA-256 ${ckpt.dataHash.slice(0, 12)}… in the checkpoint, ${now.dataHash.slice(0, 12)}… in ${now.dataSource})`,
    );
  }
  if (ckpt.backend === undefined) notes.push('the checkpoint predates recorded backends: the backend cannot be compared');
  else if (ckpt.backend !== now.backend) {
    changed.push(`the backend differs (${ckpt.backend} in the checkpoint, ${now.backend} now; pass --backend ${ckpt.backend})`);
  }
  if (changed.length > 0) throw new RunDirError(runDir, `cannot resume step ${ckpt.step}: ${changed.join('; ')}`);
  return notes;
}
