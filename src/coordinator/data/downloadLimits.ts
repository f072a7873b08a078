/**
 * Bounds on a download, so a hostile or broken server (a mirror given in
 * FASHION_MNIST_URL, or anything on the path of a plain-http URL) can neither
 * fill the disk nor hang `train`: a size cap at the file's known length, an
 * idle timeout (no byte for N ms) and an overall timeout (a trickle of one
 * byte a second is never idle). And the temp files of downloads in flight are
 * removed on every way out of the process, Ctrl-C included.
 */
import { rmSync } from 'node:fs';
import type { FileName } from './dataFiles.js';

/** Sizes of the official .gz files: nothing longer is ever accepted. MD5 then checks the exact bytes. */
export const OFFICIAL_BYTES: Readonly<Record<FileName, number>> = {
  'train-images-idx3-ubyte': 26_421_880,
  'train-labels-idx1-ubyte': 29_515,
  't10k-images-idx3-ubyte': 4_422_102,
  't10k-labels-idx1-ubyte': 5_148,
};

/** Abort a download after this long without a byte. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/** Abort a download that has not finished after this long: 26 MB at 50 KB/s, a slow but live link. */
export const DEFAULT_TOTAL_TIMEOUT_MS = 10 * 60_000;

const inFlight = new Set<string>();
let installed = false;

function removeAll(): void {
  for (const f of inFlight) rmSync(f, { force: true });
  inFlight.clear();
}

/**
 * On SIGINT/SIGTERM while a download runs: remove the temp files, then let
 * the signal do what it would have done. If the process has its own handlers
 * for the signal (train installs them after the data are loaded), those
 * decide; we only clean up.
 */
function onSignal(signal: NodeJS.Signals): void {
  removeAll();
  if (process.listenerCount(signal) === 1) {
    uninstall();
    process.kill(process.pid, signal);
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', removeAll);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('exit', removeAll);
}

/** Track `tmp` until the returned release() is called (after its rename, or its removal). */
export function trackTempFile(tmp: string): () => void {
  inFlight.add(tmp);
  install();
  return () => {
    inFlight.delete(tmp);
    if (inFlight.size === 0) uninstall();
  };
}
