/**
 * The coordinator's side of a multi-host run, as train and bench use it:
 * connect to NATS, hash the data set the run uses, and hand the trainer an
 * ExecutorFactory that builds the ClusterExecutor once the local pool is
 * up. close() ends the run for every host (they stay up) and drains the
 * connection.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../../shared/config.js';
import type { SharedDataset } from '../../shared/dataset.js';
import { assertLittleEndian } from '../../shared/clusterWire.js';
import { datasetHash } from '../data/datasetHash.js';
import type { TrainingMetrics } from '../metrics/metrics.js';
import type { ExecutorFactory } from '../training/stepExecutor.js';
import { ClusterExecutor } from './clusterExecutor.js';
import { closeNats, connectNats, parseNatsUrl } from './natsConnection.js';

export interface ClusterSession {
  readonly factory: ExecutorFactory;
  /** The NATS servers, secrets removed. */
  readonly servers: string;
  /** Distinct hosts that supplied at least one gradient so far. */
  hostsUsed(): number;
  /** Bytes of step traffic (weights, tasks, gradients) so far, all hosts together. */
  traffic(): { sent: number; received: number };
  close(): Promise<void>;
}

export async function openCluster(
  cfg: Config,
  o: {
    runId: string;
    dataset: SharedDataset;
    metrics: TrainingMetrics;
    log: (record: Record<string, unknown>) => void;
    say: (line: string) => void;
  },
): Promise<ClusterSession> {
  assertLittleEndian();
  const target = parseNatsUrl(cfg.cluster.nats as string, cfg.cluster.credsFile);
  const nc: NatsConnection = await connectNats(target, `pixelsense-coordinator-${o.runId}`);
  const dataHash = datasetHash(o.dataset);
  let executor: ClusterExecutor | null = null;
  return {
    servers: target.servers.join(','),
    factory: async (ctx) => {
      executor = await ClusterExecutor.create(ctx, {
        nc,
        runId: o.runId,
        dataHash,
        trainCount: o.dataset.train.count,
        testCount: o.dataset.test.count,
        metrics: o.metrics,
        log: o.log,
        say: o.say,
      });
      return executor;
    },
    hostsUsed: () => executor?.hostsUsed ?? 0,
    traffic: () => ({ ...(executor?.registry.traffic ?? { sent: 0, received: 0 }) }),
    close: async () => {
      await executor?.close();
      await closeNats(nc);
    },
  };
}
