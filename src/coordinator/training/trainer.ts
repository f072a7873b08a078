/**
 * Synchronous data-parallel training: the coordinator's loop.
 *
 * One step: learning rate -> cut the global batch into fixed micro-batches ->
 * dispatch shards to the workers -> gather -> reduce gradients in
 * micro-batch order -> apply the optimizer -> log. Evaluation and
 * checkpoints happen between steps. The global batch (and so the learning
 * dynamics) never depends on the worker count.
 */
import { availableParallelism } from 'node:os';
import type { Config } from '../../shared/config.js';
import { configHash } from '../../shared/config.js';
import { ClusterError, WorkerError, type PixelSenseError } from '../../shared/errors.js';
import type { SharedDataset } from '../../shared/dataset.js';
import { cutMicroBatches, microBatchesPerStep, type MicroBatch, type TaskResult } from '../../shared/messages.js';
import { planModel, type ModelPlan } from '../../shared/modelPlan.js';
import { epochPermutation } from '../../shared/rng.js';
import { saveCheckpoint, type Checkpoint } from './checkpoint.js';
import { datasetHash } from '../data/datasetHash.js';
import { evalReport, type EvalReport } from '../report/classification.js';
import { Evaluator } from './evaluator.js';
import { toLayersModel } from '../../shared/layersExport.js';
import type { TrainingMetrics } from '../metrics/metrics.js';
import { saveLayersModel } from '../../shared/modelFiles.js';
import { allocateBuffers, ParameterServer, workerBuffers } from './parameterServer.js';
import { SlotFlags } from './slotFlags.js';
import { lowerThreadPriority } from './threadPriority.js';
import type { Reporter } from './progress.js';
import type { RunDir } from './runDir.js';
import { learningRate, momentumAt } from './schedule.js';
import { stepBreakdown, StepStats, type StepTiming } from './stepStats.js';
import { stepLogRecord } from './stepLog.js';
import { TrainerEmitter, type EpochRecord, type StepEvent } from './stepEvent.js';

export type { EpochRecord } from './stepEvent.js';
import { WorkerPool } from './workerPool.js';
import { LocalStepExecutor, type ExecutorFactory, type StepExecutor } from './stepExecutor.js';

export interface TrainOptions {
  readonly cfg: Config;
  readonly configFile: string;
  readonly runDir: RunDir;
  readonly dataset: SharedDataset;
  /** datasetHash(dataset), recorded in every checkpoint; computed here when not given. */
  readonly dataHash?: string;
  /** Local worker threads that train; 0 (remote hosts only) still starts one thread, for evaluation. */
  readonly workers: number;
  /** How steps are computed; default: the local pool alone (LocalStepExecutor). */
  readonly executor?: ExecutorFactory;
  readonly metrics: TrainingMetrics;
  readonly reporter: Reporter;
  readonly resume?: Checkpoint;
  /** Polled after every step: SIGINT/SIGTERM set it. */
  readonly stopRequested: () => boolean;
}

export type StopReason = 'completed' | 'max-steps' | 'target-accuracy' | 'interrupted';

export interface TrainResult {
  readonly stopReason: StopReason;
  readonly backend: string;
  readonly steps: number;
  readonly epochs: number;
  readonly examplesPerSecond: number;
  readonly wallSeconds: number;
  readonly timeToTarget: { seconds: number; epochs: number } | null;
  readonly test: EvalReport;
  readonly history: EpochRecord[];
  readonly timing: StepTiming;
}

export type TrainTaskResult = Extract<TaskResult, { kind: 'train' }>;

/** A dispatched step: its micro-batches and its results to come. */
interface InFlight {
  readonly step: number;
  readonly micro: MicroBatch[];
  readonly results: Promise<TrainTaskResult[]>;
  /** performance.now() when it was sent. */
  readonly at: number;
}

export class Trainer {
  readonly plan: ModelPlan;
  /** 'step' after every step, 'eval' after every evaluation: subscribe here rather than polling. */
  readonly events = new TrainerEmitter();
  private readonly ps: ParameterServer;
  private readonly order: Uint32Array;
  private readonly stats = new StepStats();
  private readonly stepsPerEpoch: number;
  private readonly totalSteps: number;
  private readonly lastStep: number;
  /** Step cadence of extra evaluations (eval.everySteps); 0 = none. */
  private readonly evalEverySteps: number;
  private orderEpoch = -1;
  private step = 0;
  /** The next step, when it was dispatched before the current step's update. */
  private ahead: InFlight | null = null;
  /** When the weights of the latest step were published (the earliest a next step can start). */
  private publishedAt = 0;
  /**
   * How long an early step's workers busy-poll for the weights: 1 ms when a
   * core is left for it (W < cores), else 0, since a poller would then take
   * the core the coordinator needs for the update it waits for.
   */
  private readonly spinMs: number;
  /** Whether the pool leaves a core to this thread (W < cores). */
  private readonly spareCore: boolean;
  /** Undoes runtime.coordinatorNice (threadPriority.ts). */
  private readonly restorePriority: () => void;
  /** The last step's StepEvent, when it waits for a core (see advance()). */
  private deferredEvent: (() => void) | null = null;
  private readonly slots: SlotFlags;
  private history: EpochRecord[] = [];
  private timeToTarget: { seconds: number; epochs: number } | null = null;
  private elapsedBefore = 0;
  private startedAt = 0;
  /** Step of the newest checkpoint on disk (so the final one is not written twice). */
  private lastCheckpointStep = -1;
  private dataHash: string | undefined;
  private lastCheckpointFile: string | null = null;
  /** Epoch records in the newest checkpoint: an evaluation after it at the same step rewrites it. */
  private lastCheckpointHistory = 0;

  private constructor(
    private readonly o: TrainOptions,
    private readonly pool: WorkerPool,
    private readonly executor: StepExecutor,
    private readonly evaluator: Evaluator,
    ps: ParameterServer,
    order: Uint32Array,
  ) {
    const { cfg, dataset } = o;
    this.plan = ps.plan;
    this.ps = ps;
    this.order = order;
    this.stepsPerEpoch = Math.ceil(dataset.train.count / cfg.train.batchSize);
    this.totalSteps = cfg.train.epochs * this.stepsPerEpoch;
    this.lastStep = Math.min(this.totalSteps, cfg.train.maxSteps ?? Infinity);
    this.evalEverySteps = cfg.eval.everySteps;
    this.spareCore = pool.size < availableParallelism();
    this.spinMs = this.spareCore ? 1 : 0;
    // After the pool's threads started, so that they keep the normal priority.
    this.restorePriority = this.spareCore ? () => undefined : lowerThreadPriority(cfg.runtime.coordinatorNice);
    this.slots = new SlotFlags(ps.sync);
  }

  /** Allocate shared memory, initialise (or restore) the weights, start the pool. */
  static async create(o: TrainOptions): Promise<Trainer> {
    const plan = planModel(o.cfg.model);
    const buffers = allocateBuffers(plan, microBatchesPerStep(o.cfg), o.configFile);
    const order = new SharedArrayBuffer(o.dataset.train.count * Uint32Array.BYTES_PER_ELEMENT);
    const ps = new ParameterServer(plan, o.cfg, buffers);
    const pool = await WorkerPool.start({
      workers: Math.max(1, o.workers),
      init: {
        backend: o.cfg.runtime.backend,
        stockKernels: o.cfg.runtime.stockKernels,
        dataset: o.dataset,
        training: { config: o.cfg, order, ...workerBuffers(buffers) },
      },
      taskTimeoutMs: o.cfg.runtime.taskTimeoutSeconds * 1000,
      onFailure: (shard, kind, err, label, attempt) => {
        o.metrics.recordWorkerFailure(shard, kind);
        const error = err instanceof Error ? err.message : String(err);
        o.runDir.log({ event: 'worker_failure', task: label, shard, kind, attempt: attempt + 1, error });
      },
    });
    const ctx = { cfg: o.cfg, plan, pool, localWorkers: o.workers, buffers, backend: pool.backend };
    const executor = o.executor
      ? await o.executor(ctx).catch(async (err: unknown) => {
          await pool.close();
          throw err;
        })
      : new LocalStepExecutor(pool);
    const trainer = new Trainer(o, pool, executor, new Evaluator(pool, o.dataset), ps, new Uint32Array(order));
    o.metrics.watchPool(() => ({ queueSize: pool.queueSize, utilization: pool.utilization }));
    trainer.events.on('step', (e) => {
      o.metrics.recordStep(e);
      o.runDir.log(stepLogRecord(e));
      o.reporter.step(e);
    });
    if (o.resume) trainer.restore(o.resume);
    else ps.initialize(o.cfg.train.seed);
    ps.publish(trainer.step);
    return trainer;
  }

  get backend(): string {
    return this.pool.backend;
  }

  async run(): Promise<TrainResult> {
    const { metrics, reporter } = this.o;
    this.startedAt = performance.now();
    metrics.setActiveWorkers(this.pool.size);
    reporter.start(this.lastStep, this.step);
    let stopReason: StopReason = this.lastStep < this.totalSteps ? 'max-steps' : 'completed';
    try {
      while (this.step < this.lastStep) {
        await this.advance(() => this.plainStepFollows());
        // A stop signal: checkpoint before the final evaluation, which can take
        // longer than a container's grace period before SIGKILL.
        if (this.o.stopRequested()) {
          this.checkpoint();
          stopReason = 'interrupted';
          break;
        }
        if (await this.evaluateIfDue()) {
          stopReason = 'target-accuracy';
          break;
        }
        if (this.checkpointDue(this.step)) this.checkpoint();
        if (this.o.stopRequested()) {
          stopReason = 'interrupted';
          break;
        }
      }
      return await this.finish(stopReason);
    } catch (err) {
      this.flushStepEvent();
      // A task failed MAX_ATTEMPTS times, or every remote host is gone: keep every completed step on disk, then abort.
      if (err instanceof WorkerError || err instanceof ClusterError) this.checkpointBeforeAbort(err);
      throw err;
    }
  }

  /**
   * Called when a task has failed MAX_ATTEMPTS times. The failed step was not
   * applied (workers never write the weights, and the coordinator reduces and
   * updates only after every shard is in), so the parameter server still
   * holds the last completed step: that is what the checkpoint saves.
   */
  private checkpointBeforeAbort(err: PixelSenseError): void {
    const { reporter, runDir } = this.o;
    reporter.stop();
    const file = this.checkpoint();
    runDir.log({ event: 'abort', step: this.step, error: err.message, checkpoint: file });
    reporter.log(`aborting: saved a checkpoint of step ${this.step} to ${file}; resume with: pixelsense train --resume ${runDir.path}`);
  }

  /**
   * One optimizer step, its StepEvent to `events`: no evaluation, checkpoint
   * or export, and train.maxSteps is not consulted. For a caller that drives
   * steps itself; trainSteps() runs several the way run() does.
   */
  async trainStep(): Promise<void> {
    await this.advance(() => false);
  }

  /**
   * `count` steps back to back, each next step dispatched before the
   * previous update, as run() does between evaluations (what pixelsense
   * bench measures).
   */
  async trainSteps(count: number): Promise<void> {
    const last = this.step + count;
    while (this.step < last) await this.advance(() => this.step + 1 < last);
  }

  /**
   * One step. If `next()` says the step after it follows directly (and in
   * the same epoch, whose example order the workers are still reading), that
   * one is sent at once: it waits in the workers' queues, and they read its
   * examples the moment they finish this one, while this thread reduces and
   * updates; they start computing it once the weights are published. This
   * step's gradients are in when their slots are flagged in shared memory;
   * the weights are published as soon as they are updated, and the result
   * messages (0.3-0.5 ms behind the flags, and ~0.4 ms of this thread's time
   * to take in) are awaited after that, for the StepEvent. What stays on the
   * step's critical path: one wake-up of this thread, the reduce and the
   * update.
   *
   * With no core to spare (W >= cores), what this thread does after the
   * publish (the StepEvent: metrics, log, progress; sending the step after
   * next) would hold a core that a woken worker needs: the last worker then
   * started ~1 ms after the publish (ANN, W=2, 2 vCPUs), against ~0.1 ms for
   * the first. That work waits instead until the first shard of the next
   * step is in, when a core is idle until the last one is.
   */
  private async advance(next: () => boolean): Promise<void> {
    if (this.startedAt === 0) this.startedAt = performance.now();
    const step = this.step;
    const lr = this.learningRateAt(step);
    const sent = this.ahead?.step === step ? this.ahead : this.send(step, false);
    this.ahead = null;
    if (this.deferredEvent) {
      await this.slots.started(step, sent.micro, sent.results);
      this.flushStepEvent();
    }
    if (this.executor.pipelined && this.sameEpoch(step, step + 1) && next()) this.ahead = this.send(step + 1, true);
    if (this.executor.pipelined) await this.slots.filled(step, sent.micro, sent.results);
    else await sent.results;
    const t1 = performance.now();
    this.ps.updateBatchNormState(sent.micro);
    const t2 = performance.now();
    // With Adam, the reduce runs inside the update's pass over memory (ParameterServer.reduceAndApply): its time is then
    // part of the update's.
    const parts = this.ps.reduceAndApply(sent.micro, lr, this.momentumAt(step));
    // Published before this step's result messages are in (~0.4 ms later at W=1): every slot is flagged, and a
    // retry of this step answers from the recorded outcomes without writing a slot (TrainingInit.outcomes).
    this.ps.publish(step + 1);
    this.step = step + 1;
    // The step began when both its tasks and its weights were out.
    const t0 = Math.max(sent.at, this.publishedAt);
    this.publishedAt = performance.now();
    const results = await sent.results;
    const timing = {
      stepSeconds: (this.publishedAt - t0) / 1000,
      reduceSeconds: (t2 - t1) / 1000 + parts.reduceSeconds,
      updateSeconds: parts.updateSeconds,
    };
    // Deferred only when the next step is already out (so the next advance() flushes it), and not past
    // anything that reads the events: evaluations, checkpoints and the end flush it first.
    this.deferredEvent = () => this.publish(step, lr, results, timing);
    if (this.spareCore || this.ahead === null) this.flushStepEvent();
  }

  /** Emit the deferred StepEvent, if any. */
  private flushStepEvent(): void {
    const emit = this.deferredEvent;
    this.deferredEvent = null;
    emit?.();
  }

  private sameEpoch(a: number, b: number): boolean {
    return Math.floor(a / this.stepsPerEpoch) === Math.floor(b / this.stepsPerEpoch);
  }

  /**
   * Dispatch `step`; `early`: before the weights it needs are published.
   * A step sent early and then not taken (the loop stopped) still runs to
   * completion on the current weights; its results are dropped.
   */
  private send(step: number, early: boolean): InFlight {
    const micro = this.batchAt(step);
    const epoch = Math.floor(step / this.stepsPerEpoch);
    const gate = early ? { after: step, spinMs: this.spinMs } : {};
    const results = this.executor.run({ epoch, step, micro, ...gate });
    // Handled here so a dropped early step cannot become an unhandled rejection; advance() still awaits the original.
    results.catch(() => undefined);
    return { step, micro, results, at: performance.now() };
  }

  private momentumAt(step: number): number | undefined {
    const { cfg } = this.o;
    return (
      momentumAt(cfg.schedule, { lr: cfg.optimizer.lr, stepsPerEpoch: this.stepsPerEpoch, totalSteps: this.totalSteps }, step) ?? undefined
    );
  }

  private learningRateAt(step: number): number {
    const { cfg } = this.o;
    return learningRate(cfg.schedule, { lr: cfg.optimizer.lr, stepsPerEpoch: this.stepsPerEpoch, totalSteps: this.totalSteps }, step);
  }

  /** The global batch of `step` as fixed micro-batches; regenerates the epoch order when the epoch changes. */
  private batchAt(step: number): MicroBatch[] {
    const { cfg, dataset } = this.o;
    const epoch = Math.floor(step / this.stepsPerEpoch);
    if (epoch !== this.orderEpoch) {
      this.order.set(epochPermutation(dataset.train.count, cfg.train.seed, epoch));
      this.orderEpoch = epoch;
    }
    const start = (step % this.stepsPerEpoch) * cfg.train.batchSize;
    return cutMicroBatches(start, Math.min(cfg.train.batchSize, dataset.train.count - start), cfg.train.microBatchSize);
  }

  /** The step's one StepEvent: the run log, the metrics and the progress bar subscribe to it (see create()). */
  private publish(
    step: number,
    lr: number,
    results: TrainTaskResult[],
    t: Pick<StepEvent, 'stepSeconds' | 'reduceSeconds' | 'updateSeconds'>,
  ): void {
    const mbs = results.flatMap((r) => r.microBatches);
    const examples = mbs.reduce((s, m) => s + m.count, 0);
    const loss = mbs.reduce((s, m) => s + m.loss * m.count, 0) / examples;
    const accuracy = mbs.reduce((s, m) => s + m.correct, 0) / examples;
    const computes = results.map((r) => r.computeSeconds);
    const slowest = Math.max(...computes);
    const totals = { examples, loss, accuracy, ...t, ...stepBreakdown(t.stepSeconds, computes, t.reduceSeconds, t.updateSeconds) };
    const examplesPerSecond = this.stats.add(totals);
    this.events.emit('step', {
      ...totals,
      step: step + 1,
      epoch: Math.floor(step / this.stepsPerEpoch) + 1,
      epochs: this.o.cfg.train.epochs,
      lastStep: this.lastStep,
      lr,
      examplesPerSecond,
      elapsedSeconds: this.elapsed(),
      shards: results.map((r, shard) => ({
        shard,
        threadId: r.threadId,
        computeSeconds: r.computeSeconds,
        waitSeconds: slowest - r.computeSeconds,
        examples: r.microBatches.reduce((s, m) => s + m.count, 0),
        tensors: r.numTensors,
        weightCopySeconds: r.weightCopySeconds ?? 0,
        ...(r.memory ? { memory: r.memory } : {}),
        ...(r.host !== undefined ? { host: r.host } : {}),
      })),
    });
  }

  /**
   * Whether the step after the current one follows it directly in run():
   * then it is dispatched early. Not when an evaluation or checkpoint comes
   * between (it would wait behind the step's tasks) or a stop is requested.
   */
  private plainStepFollows(): boolean {
    const done = this.step + 1;
    return done < this.lastStep && !this.evaluationDue(done) && !this.checkpointDue(done) && !this.o.stopRequested();
  }

  /** Whether an evaluation follows `done` completed steps: epoch ends, eval.everySteps, quarter epochs when chasing a target. */
  private evaluationDue(done: number): boolean {
    const { cfg } = this.o;
    const epochEnd = done % this.stepsPerEpoch === 0 || done === this.lastStep;
    const epoch = Math.ceil(done / this.stepsPerEpoch);
    return (
      (epochEnd && (epoch % cfg.eval.everyEpochs === 0 || done === this.lastStep)) ||
      (this.evalEverySteps > 0 && done % this.evalEverySteps === 0) ||
      (cfg.train.targetAccuracy !== null && this.evalEverySteps === 0 && this.atQuarterEpoch(done))
    );
  }

  /** Epoch-end and periodic evaluation; returns true when the target accuracy is reached. */
  private async evaluateIfDue(): Promise<boolean> {
    const { cfg } = this.o;
    if (!this.evaluationDue(this.step)) return false;
    const report = await this.evaluate();
    const target = cfg.train.targetAccuracy;
    if (target !== null && this.timeToTarget === null && report.accuracy >= target) {
      this.timeToTarget = { seconds: this.elapsed(), epochs: this.step / this.stepsPerEpoch };
      this.o.metrics.setTimeToTarget(this.timeToTarget.seconds);
      this.o.runDir.log({ event: 'target', step: this.step, accuracy: report.accuracy, ...this.timeToTarget });
      return true;
    }
    return false;
  }

  /**
   * Chasing --target-accuracy without an explicit eval.everySteps: evaluate at
   * every quarter epoch (steps round(k * stepsPerEpoch / 4)), which includes
   * the epoch ends, so the time to target is resolved to ~1/4 epoch.
   */
  private atQuarterEpoch(done: number): boolean {
    const k = Math.round((done * 4) / this.stepsPerEpoch);
    return Math.round((k * this.stepsPerEpoch) / 4) === done;
  }

  private lastEval: EvalReport | null = null;
  private lastEvalStep = -1;

  private async evaluate(): Promise<EvalReport> {
    this.flushStepEvent();
    const { runDir, metrics, reporter } = this.o;
    if (this.lastEval && this.lastEvalStep === this.step) return this.lastEval;
    const { confusion, lossSum, count } = await this.evaluator.run('test');
    const report = evalReport(confusion, lossSum, count);
    metrics.recordEval('test', report.loss, report.accuracy);
    const train = this.stats.takeEpoch();
    const lr = this.learningRateAt(Math.max(0, this.step - 1));
    const record: EpochRecord = {
      epoch: Number((this.step / this.stepsPerEpoch).toFixed(3)),
      step: this.step,
      wall_s: this.elapsed(),
      train_loss: train.loss,
      train_accuracy: train.accuracy,
      test_loss: report.loss,
      test_accuracy: report.accuracy,
      lr,
      examples_per_sec: train.examplesPerSecond,
    };
    this.history.push(record);
    runDir.log({ event: 'eval', split: 'test', ...record, macro_f1: report.macro_f1 });
    reporter.epoch(record);
    this.events.emit('eval', record, { confusion: report.confusion, macroF1: report.macro_f1 });
    this.lastEval = report;
    this.lastEvalStep = this.step;
    return report;
  }

  private checkpointDue(done: number): boolean {
    const { everySteps } = this.o.cfg.checkpoint;
    return done % this.stepsPerEpoch === 0 || (everySteps > 0 && done % everySteps === 0);
  }

  /** The data set's content hash, as the caller gave it or computed once (a SHA-256 over every pixel, ~50 ms for the full set). */
  private contentHash(): string {
    this.dataHash ??= this.o.dataHash ?? datasetHash(this.o.dataset);
    return this.dataHash;
  }

  checkpoint(): string {
    this.flushStepEvent();
    const { cfg, runDir } = this.o;
    const snap = this.ps.snapshot();
    const file = saveCheckpoint(
      runDir.path,
      {
        configHash: configHash(cfg),
        step: this.step,
        epoch: Math.floor(this.step / this.stepsPerEpoch),
        stepInEpoch: this.step % this.stepsPerEpoch,
        seed: cfg.train.seed,
        weights: snap.weights,
        optimizer: snap.optimizer,
        history: this.history,
        elapsedSeconds: this.elapsed(),
        timeToTarget: this.timeToTarget?.seconds ?? null,
        dataHash: this.contentHash(),
        backend: this.pool.backend,
      },
      cfg.checkpoint.keep,
    );
    runDir.log({ event: 'checkpoint', step: this.step, file });
    this.lastCheckpointStep = this.step;
    this.lastCheckpointHistory = this.history.length;
    this.lastCheckpointFile = file;
    return file;
  }

  /**
   * Make sure the last completed step is on disk and return its checkpoint
   * file: for a stop signal, which a SIGKILL may follow at any moment (and a
   * second Ctrl-C, which exits at once). Safe at any await point of run():
   * the parameter server changes only in the synchronous part of a step, so
   * it always holds exactly `step` completed steps when a signal can be handled.
   */
  checkpointIfBehind(): string | null {
    if (this.step !== this.lastCheckpointStep) this.checkpoint();
    return this.lastCheckpointFile;
  }

  private restore(c: Checkpoint): void {
    this.ps.restore({ weights: c.weights, optimizer: c.optimizer });
    this.step = c.step;
    this.lastCheckpointStep = c.step;
    this.lastCheckpointHistory = (c.history ?? []).length;
    this.history = (c.history as EpochRecord[]) ?? [];
    this.elapsedBefore = c.elapsedSeconds;
    if (c.timeToTarget !== null) this.timeToTarget = { seconds: c.timeToTarget, epochs: NaN };
  }

  private elapsed(): number {
    return this.elapsedBefore + (performance.now() - this.startedAt) / 1000;
  }

  /** Final evaluation, checkpoint and model export. */
  private async finish(stopReason: StopReason): Promise<TrainResult> {
    this.flushStepEvent();
    const { runDir, reporter } = this.o;
    reporter.stop();
    const test = await this.evaluate();
    // After a stop signal the checkpoint came first; rewrite it so it also holds this evaluation.
    if (this.step !== this.lastCheckpointStep || this.history.length !== this.lastCheckpointHistory) this.checkpoint();
    await saveLayersModel(toLayersModel(this.plan, this.ps.weights), runDir.file('model'));
    return {
      stopReason,
      backend: this.pool.backend,
      steps: this.step,
      epochs: this.step / this.stepsPerEpoch,
      examplesPerSecond: this.stats.overallExamplesPerSecond(),
      wallSeconds: this.elapsed(),
      timeToTarget: this.timeToTarget,
      test,
      history: this.history,
      timing: this.stats.overall(),
    };
  }

  /** The parameter server's live weights (params, then batch-norm state): a view, not a copy; slice() it to keep. */
  get weights(): Float32Array {
    return this.ps.weights;
  }

  async close(): Promise<void> {
    this.restorePriority();
    await this.executor.close();
    await this.pool.close();
  }
}

/** Multi-host steps: who computed each result ('local' for this process's threads). */
