/** `pixelsense runs [dir]`: the library's serveRuns() until Ctrl-C (the signal handling is the CLI's). */
import { once } from 'node:events';
import { serveRuns } from '../api/runs.js';

export interface RunsArgs {
  dir?: string;
  host?: string;
  port?: number;
  'data-dir'?: string;
}

export async function runRuns(argv: RunsArgs): Promise<number> {
  const dir = argv.dir ?? 'runs';
  const server = await serveRuns(dir, {
    host: argv.host,
    port: argv.port,
    dataDir: argv['data-dir'],
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stderr.write(`runs: ${server.url} (the runs in ${dir}; Ctrl-C to stop)\n`);
  const signal = await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  process.stderr.write(`runs: ${String(signal[0] ?? 'signal')}: stopping\n`);
  await server.close();
  return 0;
}
