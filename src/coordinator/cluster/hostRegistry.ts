/**
 * The coordinator's view of its cluster: who is out there (heartbeats on
 * `<cluster>.heartbeat`), who is admitted to this run, and who is gone.
 *
 * Admission is two requests: `join` (the host answers with its version and
 * the content hash of the data prefix this run uses) and, when both match
 * ours, `start` (the host starts a pool for the run's config and backend,
 * and answers `ready`). A mismatch is refused with a reason the host
 * prints before exiting 2. Membership is NATS's: no sockets or gossip of
 * our own, just heartbeats and timeouts.
 */
import { EventEmitter } from 'node:events';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Config } from '../../shared/config.js';
import { ClusterError } from '../../shared/errors.js';
import { decodeFrame, encodeFrame, subjects, WIRE_VERSION, WireError, type WireHeader, type WireOf } from '../../shared/clusterWire.js';
import type { TrainingMetrics } from '../metrics/metrics.js';
import { PIXELSENSE_VERSION } from './version.js';

export interface RemoteHost {
  readonly id: string;
  readonly name: string;
  workers: number;
  state: 'admitting' | 'ready' | 'refused';
  lastSeen: number;
  /** Micro-batch index -> when it was sent (ms), for the step in progress. */
  readonly inflight: Map<number, number>;
  /** The step whose weights this host holds (-1: none yet). */
  weightsStep: number;
  /** Step in which this host sent something malformed: it gets no more work in that step. */
  excludedStep: number;
  /** Micro-batches whose gradients this host supplied. */
  microBatches: number;
}

export interface RegistryOptions {
  readonly nc: NatsConnection;
  readonly cluster: string;
  readonly runId: string;
  readonly cfg: Config;
  readonly backend: string;
  readonly trainCount: number;
  readonly testCount: number;
  readonly dataHash: string;
  readonly metrics: TrainingMetrics;
  readonly taskTimeoutMs: number;
  /** The step in progress (0-based), for log records. */
  readonly step: () => number;
  /** One log.jsonl record. */
  readonly log: (record: Record<string, unknown>) => void;
  /** One line for the person watching. */
  readonly say: (line: string) => void;
}

/** Bad messages beyond this many are counted but not each logged (a flood must not fill the disk). */
const MAX_LOGGED_BAD = 100;

export class HostRegistry extends EventEmitter<{ ready: [RemoteHost]; lost: [RemoteHost, string] }> {
  readonly hosts = new Map<string, RemoteHost>();
  /** Names of every host that supplied at least one gradient. */
  readonly contributors = new Set<string>();
  private readonly refused = new Set<string>();
  private sub: Subscription | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastBeat = 0;
  private badLogged = 0;
  /** Bytes published to hosts and received from them, all hosts together (bench's bytes per step). */
  readonly traffic = { sent: 0, received: 0 };

  constructor(readonly o: RegistryOptions) {
    super();
  }

  start(): void {
    this.sub = this.o.nc.subscribe(subjects.heartbeat(this.o.cluster), {
      callback: (err, msg) => (err ? undefined : this.onHeartbeat(msg)),
    });
    this.timer = setInterval(() => this.check(), 200);
  }

  ready(): RemoteHost[] {
    return [...this.hosts.values()].filter((h) => h.state === 'ready');
  }

  /**
   * Publish to every host serving the run, once (subjects.weights), counting
   * the bytes once in `traffic` and, in the metrics, for every host it
   * reaches: the hosts admitted now, which it returns.
   */
  broadcast(frames: readonly Uint8Array[]): RemoteHost[] {
    const reached = this.ready();
    for (const frame of frames) {
      this.o.nc.publish(subjects.weights(this.o.cluster, this.o.runId), frame);
      for (const h of reached) this.o.metrics.recordClusterBytes(h.name, frame.length, 0);
      this.traffic.sent += frame.length;
    }
    return reached;
  }

  /** Publish to a host, counting the bytes. */
  send(host: RemoteHost, frame: Uint8Array): void {
    this.o.nc.publish(subjects.host(this.o.cluster, host.id), frame);
    this.o.metrics.recordClusterBytes(host.name, frame.length, 0);
    this.traffic.sent += frame.length;
  }

  /** Resolves once `k` hosts are ready; rejects with ClusterError after `timeoutMs`. */
  waitFor(k: number, timeoutMs: number): Promise<void> {
    if (this.ready().length >= k) return Promise.resolve();
    this.o.say(`waiting for ${k} host${k === 1 ? '' : 's'} on cluster '${this.o.cluster}' (up to ${timeoutMs / 1000} s)`);
    return new Promise((resolve, reject) => {
      const onReady = () => {
        if (this.ready().length < k) return;
        clearTimeout(t);
        this.off('ready', onReady);
        resolve();
      };
      const t = setTimeout(() => {
        this.off('ready', onReady);
        reject(
          new ClusterError(
            `only ${this.ready().length} of ${k} hosts joined cluster '${this.o.cluster}' within ${timeoutMs / 1000} s (cluster.joinTimeoutSeconds); start them with: pixelsense host --nats <url> --cluster ${this.o.cluster}`,
          ),
        );
      }, timeoutMs);
      this.on('ready', onReady);
    });
  }

  /** A message from the wire that does not validate or make sense: counted, logged (up to a limit), dropped. */
  bad(who: string, reason: string): void {
    this.o.metrics.recordBadMessage(who);
    if (this.badLogged++ < MAX_LOGGED_BAD) this.o.log({ event: 'bad_message', host: who, step: this.o.step() + 1, reason });
  }

  /** Forget a host (timeout, bye, misbehaviour); its in-flight micro-batches are the executor's to requeue. */
  lose(host: RemoteHost, reason: string): void {
    if (!this.hosts.has(host.id)) return;
    this.hosts.delete(host.id);
    if (host.state !== 'ready') return;
    this.o.metrics.recordHostLost(host.name);
    this.o.metrics.setHostsConnected(this.ready().length);
    this.emit('lost', host, reason);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.sub?.unsubscribe();
    for (const h of this.ready()) this.send(h, encodeFrame({ kind: 'end', run: this.o.runId }));
    this.hosts.clear();
  }

  private onHeartbeat(msg: Msg): void {
    let header: WireHeader;
    try {
      header = decodeFrame(msg.data, 64 * 1024).header;
    } catch (err) {
      this.bad('unknown', `heartbeat subject: ${err instanceof WireError ? err.message : String(err)}`);
      return;
    }
    if (header.kind === 'bye') {
      const h = this.hosts.get(header.host);
      if (h) this.lose(h, 'left (SIGINT/SIGTERM)');
      return;
    }
    if (header.kind !== 'heartbeat') {
      this.bad('unknown', `unexpected '${header.kind}' on the heartbeat subject`);
      return;
    }
    const known = this.hosts.get(header.host);
    if (known) {
      known.lastSeen = Date.now();
      return;
    }
    // Idle hosts, or ours coming back after being declared lost; a host serving another run is left alone.
    if (this.refused.has(header.host) || (header.run !== null && header.run !== this.o.runId)) return;
    const host: RemoteHost = {
      id: header.host,
      name: header.name,
      workers: header.workers,
      state: 'admitting',
      lastSeen: Date.now(),
      inflight: new Map(),
      weightsStep: -1,
      excludedStep: -1,
      microBatches: 0,
    };
    this.hosts.set(host.id, host);
    void this.admit(host);
  }

  private async request(host: RemoteHost, header: WireHeader, timeoutMs: number): Promise<WireHeader> {
    const frame = encodeFrame(header);
    this.o.metrics.recordClusterBytes(host.name, frame.length, 0);
    const reply = await this.o.nc.request(subjects.host(this.o.cluster, host.id), frame, { timeout: timeoutMs });
    this.o.metrics.recordClusterBytes(host.name, 0, reply.data.length);
    return decodeFrame(reply.data, 64 * 1024).header;
  }

  private async admit(host: RemoteHost): Promise<void> {
    const { runId, trainCount, testCount } = this.o;
    try {
      const hello = await this.request(
        host,
        { kind: 'join', run: runId, version: PIXELSENSE_VERSION, wire: WIRE_VERSION, trainCount, testCount },
        10_000,
      );
      if (hello.kind !== 'hello') throw new WireError(`expected 'hello', got '${hello.kind}'`);
      const why = this.mismatch(hello);
      if (why) return this.refuse(host, why);
      const ready = await this.request(
        host,
        { kind: 'start', run: runId, config: this.o.cfg, backend: this.o.backend as WireOf<'start'>['backend'], trainCount, testCount },
        120_000,
      );
      if (ready.kind === 'failed') throw new Error(ready.reason);
      if (ready.kind !== 'ready') throw new WireError(`expected 'ready', got '${ready.kind}'`);
      if (!this.hosts.has(host.id)) return; // lost while starting
      host.workers = ready.workers;
      host.state = 'ready';
      host.lastSeen = Date.now();
      this.o.metrics.setHostsConnected(this.ready().length);
      this.o.log({
        event: 'host_joined',
        host: host.name,
        id: host.id,
        workers: host.workers,
        backend: ready.backend,
        step: this.o.step() + 1,
      });
      this.o.say(`host ${host.name} joined (${host.workers} workers); it takes work from step ${this.o.step() + 1}`);
      this.emit('ready', host);
    } catch (err) {
      // Not admitted this time; its next heartbeat tries again.
      this.hosts.delete(host.id);
      const reason = err instanceof Error ? err.message : String(err);
      if (err instanceof WireError) this.bad(host.name, `admission: ${reason}`);
      this.o.log({ event: 'host_admission_failed', host: host.name, id: host.id, reason });
    }
  }

  private mismatch(hello: WireOf<'hello'>): string | null {
    if (hello.version !== PIXELSENSE_VERSION || hello.wire !== WIRE_VERSION) {
      return `PixelSense version ${hello.version} (wire ${hello.wire}) differs from the coordinator's ${PIXELSENSE_VERSION} (wire ${WIRE_VERSION})`;
    }
    if (hello.dataHash === null) return `data set too small: ${hello.note ?? 'fewer examples than the run uses'}`;
    if (hello.dataHash !== this.o.dataHash) {
      return `data set content differs (sha256 ${hello.dataHash.slice(0, 12)}... of its first ${this.o.trainCount}+${this.o.testCount} examples, the coordinator has ${this.o.dataHash.slice(0, 12)}...)`;
    }
    return null;
  }

  private refuse(host: RemoteHost, reason: string): void {
    this.hosts.delete(host.id);
    this.refused.add(host.id);
    this.o.log({ event: 'host_refused', host: host.name, id: host.id, reason });
    this.o.say(`refusing host ${host.name}: ${reason}`);
    this.send(host, encodeFrame({ kind: 'refuse', run: this.o.runId, reason: reason.slice(0, 500) }));
  }

  /** Every 200 ms: declare silent hosts lost, and keep hosts sure this coordinator is alive. */
  private check(): void {
    const now = Date.now();
    for (const h of this.ready()) {
      if (now - h.lastSeen > this.o.taskTimeoutMs) this.lose(h, `silent for ${((now - h.lastSeen) / 1000).toFixed(1)} s`);
      else
        for (const sentAt of h.inflight.values()) {
          if (now - sentAt > this.o.taskTimeoutMs) {
            this.lose(h, `a micro-batch not back after ${((now - sentAt) / 1000).toFixed(1)} s`);
            break;
          }
        }
    }
    if (now - this.lastBeat >= 1000) {
      this.lastBeat = now;
      const beat = encodeFrame({ kind: 'beat', run: this.o.runId });
      for (const h of this.ready()) this.send(h, beat);
    }
  }
}
