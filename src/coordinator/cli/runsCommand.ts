/** `pixelsense runs [dir]`: serve the runs under `dir` and their reports side by side until Ctrl-C. */
import { once } from 'node:events';
import { startRunsServer } from '../live/runsServer.js';

export interface RunsArgs {
  dir?: string;
  host?: string;
  port?: number;
  'data-dir'?: string;
}

export async function runRuns(argv: RunsArgs): Promise<number> {
  const dir = argv.dir ?? 'runs';
  const server = await startRunsServer({
    root: dir,
    host: argv.host ?? '127.0.0.1',
    port: argv.port ?? 9500,
    ...(argv['data-dir'] !== undefined ? { dataDir: argv['data-dir'] } : {}),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stderr.write(`runs: ${server.url} (the runs in ${dir}; Ctrl-C to stop)\n`);
  const signal = await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  process.stderr.write(`runs: ${String(signal[0] ?? 'signal')}: stopping\n`);
  await server.close();
  return 0;
}
