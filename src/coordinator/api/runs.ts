/**
 * serveRuns(): the `pixelsense runs` pages (the runs under a directory, and
 * their reports side by side) from a read-only HTTP server. Prints nothing
 * and installs no signal handlers: the caller closes it.
 */
import { startRunsServer } from '../live/runsServer.js';
import type { RunsServer, ServeRunsOptions } from './toolOptions.js';

/** Start serving the runs in `dir`. Rejects with RunDirError (not a directory) or UsageError (bad or busy port). */
export function serveRuns(dir: string, o: ServeRunsOptions = {}): Promise<RunsServer> {
  return startRunsServer({
    root: dir,
    host: o.host ?? '127.0.0.1',
    port: o.port ?? 9500,
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
    ...(o.log !== undefined ? { log: o.log } : {}),
  });
}
