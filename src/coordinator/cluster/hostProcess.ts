/**
 * `pixelsense host`: a long-lived worker host. It loads Fashion-MNIST
 * itself, announces itself on `<cluster>.heartbeat`, and serves whichever
 * coordinator of its cluster admits it: one Piscina pool per run (the
 * run's config and backend), weights once per step, then one gradient
 * message per micro-batch, published as soon as that micro-batch is done.
 * Between runs it stays up with no pool.
 *
 * A host belongs to one run at a time. It drops a run when the coordinator
 * says `end`, when another coordinator admits it, or when its coordinator
 * has been silent for COORDINATOR_SILENCE_MS (killed coordinator).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { parseConfig, type Config } from '../../shared/config.js';
import type { SharedDataset } from '../../shared/dataset.js';
import { microBatchesPerStep } from '../../shared/messages.js';
import { planModel, type ModelPlan } from '../../shared/modelPlan.js';
import { epochPermutation } from '../../shared/rng.js';
import {
  assertLittleEndian,
  decodeFrame,
  encodeFrame,
  encodeMessage,
  floatBytes,
  HEARTBEAT_MS,
  Reassembler,
  subjects,
  WIRE_VERSION,
  WireError,
  type WireHeader,
  type WireOf,
} from '../../shared/clusterWire.js';
import { datasetHash } from '../data/datasetHash.js';
import { allocateBuffers, workerBuffers, type SharedBuffers } from '../training/parameterServer.js';
import { WorkerPool } from '../training/workerPool.js';
import { maxPayloadOf } from './natsConnection.js';
import { PIXELSENSE_VERSION } from './version.js';
import { parseHostFaults } from './hostFaults.js';

/** A host whose coordinator has sent nothing (no beat, weights or task) for this long drops the run. */
const COORDINATOR_SILENCE_MS = 15_000;

export interface HostOptions {
  readonly nc: NatsConnection;
  readonly cluster: string;
  readonly name: string;
  readonly workers: number;
  readonly dataset: SharedDataset;
  readonly log: (line: string) => void;
}

interface Run {
  readonly id: string;
  readonly cfg: Config;
  readonly plan: ModelPlan;
  readonly pool: WorkerPool;
  readonly buffers: SharedBuffers;
  readonly order: Uint32Array;
  readonly orderShared: SharedArrayBuffer;
  orderEpoch: number;
  weightsStep: number;
  lastHeard: number;
  readonly reasm: Reassembler;
  /** Per gradient slot, the task now using it: two tasks for one slot (a stale retry and the next step) never overlap. */
  readonly slotBusy: Map<number, Promise<void>>;
  /** The run's weights subject (subjects.weights), where each step's weights come once for all hosts. */
  readonly weightsSub: Subscription;
}

export class Host {
  readonly id = randomBytes(6).toString('hex');
  private run: Run | null = null;
  private starting: Promise<void> | null = null;
  private sub: Subscription | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly hashes = new Map<string, string>();
  private readonly maxPayload: number;
  /** Test hooks (PIXELSENSE_HOST_FAULT); all off in normal use. */
  private readonly faults = parseHostFaults(process.env['PIXELSENSE_HOST_FAULT']);
  private stalled = false;
  private exit!: (code: number) => void;
  /** Why the coordinator refused this host (set before done resolves with 2). */
  refusal: string | null = null;
  /** Resolves with the process exit code: 0 after stop(), 2 when refused. */
  readonly done = new Promise<number>((resolve) => (this.exit = resolve));

  constructor(private readonly o: HostOptions) {
    assertLittleEndian();
    this.maxPayload = maxPayloadOf(o.nc);
  }

  start(): void {
    const { nc, cluster } = this.o;
    this.sub = nc.subscribe(subjects.host(cluster, this.id), { callback: (err, msg) => (err ? undefined : this.onMessage(msg)) });
    this.heartbeat();
    this.timer = setInterval(() => this.tick(), HEARTBEAT_MS);
    this.o.log(`host ${this.o.name} (${this.id}): ${this.o.workers} workers, cluster '${cluster}', waiting for a coordinator`);
  }

  /** SIGINT/SIGTERM: tell the coordinator at once (so it need not wait for the timeout), close the pool, leave. */
  async stop(code = 0): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    try {
      this.o.nc.publish(subjects.heartbeat(this.o.cluster), encodeFrame({ kind: 'bye', host: this.id }));
      // Bounded: with the server down, flush() would wait for a reconnect forever.
      await Promise.race([this.o.nc.flush(), new Promise((r) => setTimeout(r, 1000).unref())]);
    } catch {
      // the connection may already be gone: leaving is all that is left to do
    }
    this.sub?.unsubscribe();
    await this.dropRun('host leaving');
    this.exit(code);
  }

  private heartbeat(): void {
    const { nc, cluster, name, workers } = this.o;
    nc.publish(
      subjects.heartbeat(cluster),
      encodeFrame({ kind: 'heartbeat', host: this.id, name, version: PIXELSENSE_VERSION, workers, run: this.run?.id ?? null }),
    );
  }

  private tick(): void {
    this.heartbeat();
    const run = this.run;
    if (run && Date.now() - run.lastHeard > COORDINATOR_SILENCE_MS) {
      this.o.log(`run ${run.id}: coordinator silent for ${COORDINATOR_SILENCE_MS / 1000} s; dropping the run`);
      void this.dropRun('coordinator silent');
    }
  }

  private maxBody(h: WireHeader): number {
    if (h.kind !== 'weights' || !this.run) return 0;
    return (this.run.plan.paramCount + this.run.plan.stateCount) * 4;
  }

  /** `weightsOnly`: from the run's weights subject, where nothing else belongs. */
  private onMessage(msg: Msg, weightsOnly = false): void {
    let header: WireHeader;
    let body: Uint8Array;
    try {
      ({ header, body } = decodeFrame(msg.data, this.maxPayload));
      if (weightsOnly && header.kind !== 'weights') throw new WireError(`unexpected '${header.kind}' on the weights subject`);
      if (this.run && 'run' in header && header.run === this.run.id) this.run.lastHeard = Date.now();
      if (header.kind === 'weights') {
        const run = this.run;
        if (!run || header.run !== run.id) return;
        const whole = run.reasm.add('w', header, body);
        if (whole) this.onWeights(run, whole.header as WireOf<'weights'>, whole.body);
        return;
      }
    } catch (err) {
      this.o.log(`ignoring a malformed message: ${err instanceof WireError ? err.message : String(err)}`);
      return;
    }
    switch (header.kind) {
      case 'join':
        this.onJoin(msg, header);
        return;
      case 'start':
        void this.onStart(msg, header);
        return;
      case 'refuse':
        this.refusal = `refused by the coordinator of run ${header.run}: ${header.reason}`;
        void this.stop(2);
        return;
      case 'task':
        if (this.run && header.run === this.run.id) this.onTask(this.run, header);
        return;
      case 'end':
        if (this.run && header.run === this.run.id) void this.dropRun('run ended');
        return;
      case 'beat':
        return;
      default:
        this.o.log(`ignoring an unexpected '${header.kind}' message`);
    }
  }

  private reply(msg: Msg, header: WireHeader): void {
    if (msg.reply) this.o.nc.publish(msg.reply, encodeFrame(header));
  }

  private hashFor(trainCount: number, testCount: number): string | null {
    const d = this.o.dataset;
    if (trainCount > d.train.count || testCount > d.test.count) return null;
    const key = `${trainCount}/${testCount}`;
    let h = this.hashes.get(key);
    if (!h) {
      h = datasetHash(d, trainCount, testCount);
      this.hashes.set(key, h);
    }
    return h;
  }

  private onJoin(msg: Msg, j: WireOf<'join'>): void {
    const dataHash = this.hashFor(j.trainCount, j.testCount);
    const d = this.o.dataset;
    const note =
      dataHash === null
        ? `this host has ${d.train.count} training and ${d.test.count} test examples; the run needs ${j.trainCount} and ${j.testCount}`
        : undefined;
    this.reply(msg, { kind: 'hello', host: this.id, version: PIXELSENSE_VERSION, wire: WIRE_VERSION, dataHash, ...(note ? { note } : {}) });
  }

  private async onStart(msg: Msg, s: WireOf<'start'>): Promise<void> {
    // One start at a time; a second coordinator's start replaces the first run.
    await this.starting;
    let release!: () => void;
    this.starting = new Promise((r) => (release = r));
    try {
      await this.dropRun(`run ${s.run} starts`);
      const cfg = parseConfig(s.config, `config of run ${s.run}`);
      const plan = planModel(cfg.model);
      const d = this.o.dataset;
      const dataset: SharedDataset = {
        train: { ...d.train, count: s.trainCount },
        test: { ...d.test, count: s.testCount },
        source: d.source,
      };
      const buffers = allocateBuffers(plan, microBatchesPerStep(cfg));
      const orderShared = new SharedArrayBuffer(s.trainCount * 4);
      const pool = await WorkerPool.start({
        workers: this.o.workers,
        init: {
          backend: s.backend,
          stockKernels: cfg.runtime.stockKernels,
          dataset,
          training: { config: cfg, order: orderShared, ...workerBuffers(buffers) },
        },
        taskTimeoutMs: cfg.runtime.taskTimeoutSeconds * 1000,
        onFailure: (_shard, kind, err, label, attempt) =>
          this.o.log(`${label}: worker ${kind} on attempt ${attempt + 1}: ${err instanceof Error ? err.message : String(err)}`),
      });
      this.run = {
        id: s.run,
        cfg,
        plan,
        pool,
        buffers,
        order: new Uint32Array(orderShared),
        orderShared,
        orderEpoch: -1,
        weightsStep: -1,
        lastHeard: Date.now(),
        reasm: new Reassembler((h) => this.maxBody(h), 4),
        slotBusy: new Map(),
        // Subscribed before `ready` goes out on the same connection, so nats-server has the subscription before the
        // coordinator, having read `ready`, can publish the first weights.
        weightsSub: this.o.nc.subscribe(subjects.weights(this.o.cluster, s.run), {
          callback: (err, msg) => (err ? undefined : this.onMessage(msg, true)),
        }),
      };
      this.o.log(`run ${s.run}: serving with ${this.o.workers} workers (backend ${pool.backend}, ${plan.paramCount} parameters)`);
      this.reply(msg, { kind: 'ready', host: this.id, workers: this.o.workers, backend: pool.backend });
      this.heartbeat();
    } catch (err) {
      const reason = (err instanceof Error ? err.message : String(err)).slice(0, 500);
      this.o.log(`run ${s.run}: cannot start: ${reason}`);
      this.reply(msg, { kind: 'failed', reason });
    } finally {
      release();
    }
  }

  private onWeights(run: Run, w: WireOf<'weights'>, body: Uint8Array): void {
    const n = run.plan.paramCount + run.plan.stateCount;
    if (w.floats !== n || body.length !== n * 4) {
      this.o.log(`run ${run.id}: weights of ${w.floats} floats / ${body.length} bytes, expected ${n}; ignored`);
      return;
    }
    floatBytes(run.buffers.weights).set(body);
    run.weightsStep = w.step;
  }

  private onTask(run: Run, t: WireOf<'task'>): void {
    const fail = (error: string) =>
      this.o.nc.publish(
        subjects.result(this.o.cluster, run.id, this.id),
        encodeFrame({ kind: 'taskFailed', run: run.id, host: this.id, step: t.step, index: t.index, error: error.slice(0, 500) }),
      );
    if (t.index >= run.buffers.slots || t.start + t.count > run.order.length) {
      fail(`micro-batch ${t.index} [${t.start}, +${t.count}) is outside this run`);
      return;
    }
    if (run.weightsStep !== t.step) {
      fail(`no weights for step ${t.step} (have step ${run.weightsStep})`);
      return;
    }
    const previous = run.slotBusy.get(t.index) ?? Promise.resolve();
    const mine = previous.then(() => this.compute(run, t)).catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
    run.slotBusy.set(t.index, mine);
  }

  private async compute(run: Run, t: WireOf<'task'>): Promise<void> {
    if (this.run !== run) return;
    if (this.faults.stall === t.step) {
      if (!this.stalled) this.o.log(`stalling step ${t.step} (PIXELSENSE_HOST_FAULT)`);
      this.stalled = true;
      return;
    }
    if (this.faults.delayMs > 0) await new Promise((r) => setTimeout(r, this.faults.delayMs));
    const hold = this.faults.hold;
    if (hold && hold.step === t.step) {
      this.o.log(`holding step ${t.step} until ${hold.file} exists (PIXELSENSE_HOST_FAULT)`);
      while (!existsSync(hold.file)) await new Promise((r) => setTimeout(r, 100));
    }
    if (run.orderEpoch !== t.epoch) {
      run.order.set(epochPermutation(run.order.length, run.cfg.train.seed, t.epoch));
      run.orderEpoch = t.epoch;
    }
    const r = await run.pool.run(
      {
        kind: 'train',
        epoch: t.epoch,
        step: t.step,
        shard: 0,
        attempt: 0,
        microBatches: [{ index: t.index, start: t.start, count: t.count }],
      },
      `step ${t.step} micro-batch ${t.index}`,
    );
    if (this.run !== run) return; // the run was dropped while this micro-batch computed
    const { paramCount: P, stateCount: S } = run.plan;
    const grad = run.buffers.gradients.subarray(t.index * P, (t.index + 1) * P);
    const stats = run.buffers.batchStats.subarray(t.index * S, (t.index + 1) * S);
    // Copied from the slots straight into the outgoing frame (the slot is reused by this index's next task).
    const parts = [floatBytes(grad), floatBytes(stats)];
    const body = this.faults.corrupt === t.step ? Buffer.concat(parts).subarray(0, -4) : parts;
    const mb = r.microBatches[0];
    const header: WireHeader = {
      kind: 'result',
      run: run.id,
      host: this.id,
      step: t.step,
      index: t.index,
      loss: mb?.loss ?? NaN,
      correct: mb?.correct ?? 0,
      count: mb?.count ?? 0,
      computeSeconds: r.computeSeconds,
      numTensors: r.numTensors,
      gradFloats: P,
      statFloats: S,
    };
    const subject = subjects.result(this.o.cluster, run.id, this.id);
    for (const frame of encodeMessage(header, body, this.maxPayload, `${t.step}-${t.index}`)) this.o.nc.publish(subject, frame);
  }

  private async dropRun(why: string): Promise<void> {
    const run = this.run;
    if (!run) return;
    this.run = null;
    run.weightsSub.unsubscribe();
    this.o.log(`run ${run.id}: ${why}; closing its pool`);
    await run.pool.close();
    this.heartbeat();
  }
}
