/**
 * `pixelsense host`: load Fashion-MNIST, connect to NATS, serve runs until
 * SIGINT/SIGTERM (exit 0) or until a coordinator refuses this host (exit 2,
 * one line on stderr: other data or another PixelSense version).
 */
import { hostname } from 'node:os';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { ClusterAccessError } from '../../shared/errors.js';
import { Host } from '../cluster/hostProcess.js';
import { closeNats, connectNats, parseNatsUrl } from '../cluster/natsConnection.js';
import { loadFashionMnist } from '../data/fashionMnist.js';
import { startMetricsServer } from '../metrics/metricsServer.js';
import { resolveWorkerCount } from '../training/workerPool.js';
import type { HostArgs } from './args.js';

export async function runHost(argv: HostArgs): Promise<number> {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const name = argv.name ?? `${hostname()}-${process.pid}`;
  const workers = resolveWorkerCount(argv.workers);
  const target = parseNatsUrl(argv.nats, argv['nats-creds']);
  const dataset = await loadFashionMnist({ dataDir: argv['data-dir'], log });
  const nc = await connectNats(target, `pixelsense-host-${name}`);
  log(`connected to NATS ${target.servers.join(',')}; data ${dataset.source} (${dataset.train.count} train, ${dataset.test.count} test)`);
  const endpoint = argv['metrics-port'] === undefined ? null : await hostMetrics(argv['metrics-host'], argv['metrics-port'], name);
  if (endpoint) log(`metrics: ${endpoint.url}`);

  const host = new Host({ nc, cluster: argv.cluster, name, workers, dataset, log });
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: leaving the cluster`);
    void host.stop(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A server that goes away for good (not a restart) ends the host rather than leaving it deaf.
  void nc.closed().then((err) => {
    if (err) log(`NATS connection closed: ${err.message}`);
    void host.stop(err ? 1 : 0);
  });
  host.start();
  const code = await host.done;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  await closeNats(nc);
  await endpoint?.close();
  if (code === 2) throw new ClusterAccessError(`host ${name}: ${host.refusal ?? 'refused by the coordinator'}`);
  return code;
}

async function hostMetrics(bind: string, port: number, name: string) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, labels: { host: name } });
  return startMetricsServer({ host: bind, port, registry });
}
