/**
 * The multi-host StepExecutor: one step's micro-batches are a queue that
 * local worker threads and remote hosts draw from as they free up (dynamic
 * assignment, so a slower host simply takes fewer). Each micro-batch's
 * gradient lands in its slot of the parameter server's shared memory —
 * local threads write it there themselves, a remote host's gradient is
 * copied there on arrival — and the trainer reduces in micro-batch order,
 * so the weights are bitwise those of one local worker.
 *
 * Per step the weights are published once for all hosts (chunked above
 * max_payload; see sendWeights), then each host gets one small task per
 * micro-batch, up to its worker count plus cluster.prefetch ahead; it
 * returns each gradient as soon as it exists, so
 * transfers overlap compute. A lost host (timeout, bye) or one that sends
 * something malformed gets its micro-batches requeued for the others.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { ClusterError } from '../../shared/errors.js';
import {
  decodeFrame,
  encodeFrame,
  encodeMessage,
  floatBytes,
  Reassembler,
  subjects,
  WireError,
  type WireHeader,
  type WireOf,
} from '../../shared/clusterWire.js';
import type { MicroBatch } from '../../shared/messages.js';
import type { TrainingMetrics } from '../metrics/metrics.js';
import type { ExecutorContext, StepExecutor, StepWork, TrainTaskResult } from '../training/stepExecutor.js';
import { HostRegistry, type RemoteHost } from './hostRegistry.js';
import { maxPayloadOf } from './natsConnection.js';

export interface ClusterOptions {
  readonly nc: NatsConnection;
  readonly runId: string;
  readonly dataHash: string;
  readonly trainCount: number;
  readonly testCount: number;
  readonly metrics: TrainingMetrics;
  readonly log: (record: Record<string, unknown>) => void;
  readonly say: (line: string) => void;
}

interface StepState {
  readonly work: StepWork;
  readonly pending: MicroBatch[];
  readonly done: Map<number, TrainTaskResult>;
  /** Indices a local thread is computing now (it writes the slot itself). */
  readonly local: Set<number>;
  weightFrames: Uint8Array[] | null;
  readonly resolve: (r: TrainTaskResult[]) => void;
  readonly reject: (err: unknown) => void;
  starve: NodeJS.Timeout | null;
  finished: boolean;
}

export class ClusterExecutor implements StepExecutor {
  /** Hosts are sent the weights once a step is dispatched, so a step goes out only after the previous update. */
  readonly pipelined = false;
  readonly registry: HostRegistry;
  private readonly sub: Subscription;
  private readonly reasm: Reassembler;
  private readonly maxPayload: number;
  private readonly P: number;
  private readonly S: number;
  private cur: StepState | null = null;
  private step = 0;

  private constructor(
    private readonly ctx: ExecutorContext,
    private readonly o: ClusterOptions,
  ) {
    const { cfg, plan } = ctx;
    this.P = plan.paramCount;
    this.S = plan.stateCount;
    this.maxPayload = maxPayloadOf(o.nc);
    this.registry = new HostRegistry({
      nc: o.nc,
      cluster: cfg.cluster.name,
      runId: o.runId,
      cfg,
      backend: ctx.backend,
      trainCount: o.trainCount,
      testCount: o.testCount,
      dataHash: o.dataHash,
      metrics: o.metrics,
      taskTimeoutMs: cfg.cluster.taskTimeoutSeconds * 1000,
      step: () => this.step,
      log: o.log,
      say: o.say,
    });
    this.reasm = new Reassembler((h) => (h.kind === 'result' ? (this.P + this.S) * 4 : 0), 64);
    this.sub = o.nc.subscribe(subjects.results(cfg.cluster.name, o.runId), {
      callback: (err, msg) => (err ? undefined : this.onResult(msg.subject, msg.data)),
    });
    this.registry.on('ready', () => this.pump());
    this.registry.on('lost', (host, reason) => this.onLost(host, reason));
  }

  /** Start listening, then wait for cluster.hosts hosts (ClusterError after cluster.joinTimeoutSeconds). */
  static async create(ctx: ExecutorContext, o: ClusterOptions): Promise<ClusterExecutor> {
    const ex = new ClusterExecutor(ctx, o);
    ex.registry.start();
    try {
      await ex.registry.waitFor(ctx.cfg.cluster.hosts, ctx.cfg.cluster.joinTimeoutSeconds * 1000);
    } catch (err) {
      await ex.close();
      throw err;
    }
    return ex;
  }

  /** Distinct hosts that supplied at least one gradient. */
  get hostsUsed(): number {
    return this.registry.contributors.size;
  }

  run(work: StepWork): Promise<TrainTaskResult[]> {
    this.step = work.step;
    return new Promise((resolve, reject) => {
      this.cur = {
        work,
        pending: [...work.micro],
        done: new Map(),
        local: new Set(),
        weightFrames: null,
        resolve,
        reject,
        starve: null,
        finished: false,
      };
      for (const h of this.registry.hosts.values()) h.inflight.clear();
      this.pump();
    });
  }

  async close(): Promise<void> {
    if (this.cur?.starve) clearTimeout(this.cur.starve);
    this.cur = null;
    this.sub.unsubscribe();
    this.registry.close();
  }

  /** Hand out pending micro-batches to free lanes: local threads first (no round trip), then the least-loaded host. */
  private pump(): void {
    const s = this.cur;
    if (!s || s.finished) return;
    while (s.pending.length > 0) {
      if (s.local.size < this.ctx.localWorkers) {
        this.runLocal(s, s.pending.shift() as MicroBatch);
        continue;
      }
      const host = this.freeHost(s);
      if (!host) break;
      this.runRemote(s, host, s.pending.shift() as MicroBatch);
    }
    this.settle(s);
  }

  private freeHost(s: StepState): RemoteHost | undefined {
    let best: RemoteHost | undefined;
    let bestLoad = Infinity;
    for (const h of this.registry.ready()) {
      if (h.excludedStep === s.work.step) continue;
      const capacity = h.workers + this.ctx.cfg.cluster.prefetch;
      const load = h.inflight.size / capacity;
      if (h.inflight.size < capacity && load < bestLoad) {
        best = h;
        bestLoad = load;
      }
    }
    return best;
  }

  private runLocal(s: StepState, mb: MicroBatch): void {
    const { epoch, step } = s.work;
    s.local.add(mb.index);
    this.ctx.pool
      .run({ kind: 'train', epoch, step, shard: mb.index, attempt: 0, microBatches: [mb] }, `train step ${step} micro-batch ${mb.index}`)
      .then(
        (r) => {
          s.local.delete(mb.index);
          if (r.kind === 'train' && !s.done.has(mb.index)) s.done.set(mb.index, r);
          this.pump();
        },
        (err: unknown) => {
          s.local.delete(mb.index);
          this.fail(s, err);
        },
      );
  }

  private runRemote(s: StepState, host: RemoteHost, mb: MicroBatch): void {
    const { epoch, step } = s.work;
    if (host.weightsStep !== step) this.sendWeights(s, host);
    host.inflight.set(mb.index, Date.now());
    this.registry.send(
      host,
      encodeFrame({ kind: 'task', run: this.o.runId, step, epoch, index: mb.index, start: mb.start, count: mb.count }),
    );
  }

  /**
   * The step's weights, before a host's first task of the step. The first
   * time in a step they are published once on the run's weights subject,
   * which every admitted host subscribed to before it answered `ready`:
   * one 0.9 MB message from the coordinator however many hosts there are
   * (nats-server fans it out), instead of one per host. A host admitted
   * after that gets the same frames on its own subject.
   */
  private sendWeights(s: StepState, host: RemoteHost): void {
    const step = s.work.step;
    if (s.weightFrames === null) {
      // encodeMessage copies the weights into the frames: the next step may rewrite them while NATS still holds these.
      s.weightFrames = encodeMessage(
        { kind: 'weights', run: this.o.runId, step, floats: this.P + this.S },
        floatBytes(this.ctx.buffers.weights),
        this.maxPayload,
        `w${step}`,
      );
      for (const h of this.registry.broadcast(s.weightFrames)) h.weightsStep = step;
    }
    if (host.weightsStep === step) return;
    for (const f of s.weightFrames) this.registry.send(host, f);
    host.weightsStep = step;
  }

  private onResult(subject: string, data: Uint8Array): void {
    const hostId = subject.slice(subject.lastIndexOf('.') + 1);
    const host = this.registry.hosts.get(hostId);
    const who = host?.name ?? hostId;
    this.o.metrics.recordClusterBytes(who, 0, data.length);
    this.registry.traffic.received += data.length;
    let whole: { header: WireHeader; body: Uint8Array } | null;
    try {
      const { header, body } = decodeFrame(data, this.maxPayload);
      if (host?.state !== 'ready') return; // not (or no longer) one of ours: its work was requeued
      if (header.kind !== 'result' && header.kind !== 'taskFailed')
        throw new WireError(`unexpected '${header.kind}' on the result subject`);
      if (header.run !== this.o.runId || header.host !== hostId)
        throw new WireError(`result for run ${header.run} host ${header.host} on ${subject}`);
      whole = this.reasm.add(hostId, header, body);
    } catch (err) {
      this.onBad(host, who, err instanceof Error ? err.message : String(err));
      return;
    }
    if (!whole || !host) return;
    const s = this.cur;
    if (!s) return;
    if (whole.header.kind === 'taskFailed') {
      const f = whole.header;
      if (f.step !== s.work.step) return;
      this.o.log({ event: 'host_task_failed', host: host.name, step: f.step + 1, index: f.index, error: f.error });
      this.requeue(s, host);
      host.excludedStep = s.work.step;
      this.pump();
      return;
    }
    const r = whole.header as WireOf<'result'>;
    if (r.step !== s.work.step) return; // a late answer from an earlier step
    const mb = s.work.micro[r.index];
    const expected = (this.P + this.S) * 4;
    if (!mb || r.gradFloats !== this.P || r.statFloats !== this.S || whole.body.length !== expected || r.count !== mb.count) {
      this.onBad(
        host,
        who,
        `result for micro-batch ${r.index}: ${whole.body.length} bytes, ${r.gradFloats}+${r.statFloats} floats, ${r.count} examples; expected ${expected} bytes, ${this.P}+${this.S} floats, ${mb?.count ?? '?'} examples`,
      );
      return;
    }
    host.inflight.delete(r.index);
    host.lastSeen = Date.now();
    if (!s.done.has(r.index) && !s.local.has(r.index)) {
      new Uint8Array(this.ctx.buffers.gradients.buffer, this.ctx.buffers.gradients.byteOffset + r.index * this.P * 4, this.P * 4).set(
        whole.body.subarray(0, this.P * 4),
      );
      if (this.S > 0)
        new Uint8Array(this.ctx.buffers.batchStats.buffer, this.ctx.buffers.batchStats.byteOffset + r.index * this.S * 4, this.S * 4).set(
          whole.body.subarray(this.P * 4),
        );
      s.done.set(r.index, {
        kind: 'train',
        threadId: -1,
        microBatches: [{ index: r.index, loss: r.loss, correct: r.correct, count: r.count }],
        computeSeconds: r.computeSeconds,
        numTensors: r.numTensors,
        host: host.name,
      });
      s.pending.splice(0, s.pending.length, ...s.pending.filter((p) => p.index !== r.index));
      host.microBatches++;
      this.registry.contributors.add(host.name);
      this.o.metrics.recordHostMicroBatch(host.name, r.computeSeconds);
    }
    this.pump();
  }

  /** Malformed or inconsistent: count and log it, take back that host's work for this step, give it no more this step. */
  private onBad(host: RemoteHost | undefined, who: string, reason: string): void {
    this.registry.bad(who, reason);
    const s = this.cur;
    if (!host || !s) return;
    host.excludedStep = s.work.step;
    this.requeue(s, host);
    this.pump();
  }

  private onLost(host: RemoteHost, reason: string): void {
    const s = this.cur;
    const requeued = s ? this.requeue(s, host) : 0;
    this.o.log({ event: 'host_lost', host: host.name, id: host.id, reason, step: this.step + 1, requeued });
    this.o.say(
      `host ${host.name} lost (${reason}); ${requeued} micro-batch${requeued === 1 ? '' : 'es'} of step ${this.step + 1} recomputed elsewhere`,
    );
    this.pump();
  }

  /** Put a host's unfinished micro-batches of this step back at the front of the queue (index order). */
  private requeue(s: StepState, host: RemoteHost): number {
    const back = [...host.inflight.keys()].filter((i) => !s.done.has(i)).map((i) => s.work.micro[i] as MicroBatch);
    host.inflight.clear();
    s.pending.unshift(...back.sort((a, b) => a.index - b.index));
    return back.length;
  }

  private settle(s: StepState): void {
    if (s.done.size === s.work.micro.length && s.local.size === 0) {
      s.finished = true;
      if (s.starve) clearTimeout(s.starve);
      this.cur = null;
      s.resolve([...s.done.values()].sort((a, b) => (a.microBatches[0]?.index ?? 0) - (b.microBatches[0]?.index ?? 0)));
      return;
    }
    const working = s.local.size > 0 || this.registry.ready().some((h) => h.inflight.size > 0);
    const lanes = this.ctx.localWorkers > 0 || this.registry.ready().some((h) => h.excludedStep !== s.work.step);
    if (s.pending.length > 0 && !working && !lanes) {
      if (s.starve) return;
      const wait = this.ctx.cfg.cluster.joinTimeoutSeconds;
      this.o.say(`no host left to compute step ${s.work.step + 1}: waiting up to ${wait} s (cluster.joinTimeoutSeconds) for one to join`);
      this.o.log({ event: 'no_hosts', step: s.work.step + 1, wait_s: wait });
      s.starve = setTimeout(
        () =>
          this.fail(
            s,
            new ClusterError(
              `no host computed step ${s.work.step + 1}: every host is gone and none joined within ${wait} s (cluster.joinTimeoutSeconds)`,
            ),
          ),
        wait * 1000,
      );
    } else if (s.starve) {
      clearTimeout(s.starve);
      s.starve = null;
    }
  }

  private fail(s: StepState, err: unknown): void {
    if (s.finished) return;
    s.finished = true;
    if (s.starve) clearTimeout(s.starve);
    if (this.cur === s) this.cur = null;
    s.reject(err);
  }
}
