/**
 * What the live page shows about the run in progress: a bounded, in-memory
 * history fed by the Trainer's 'step' and 'eval' events. Nothing here reads
 * or changes the run; the page only ever sees snapshot().
 *
 * Memory stays bounded however long a run is: the step series keeps at most
 * MAX_STEP_POINTS points (older halves are merged pairwise, so old steps grow
 * sparser while recent ones stay at full resolution), the per-worker timings
 * keep the last SHARD_WINDOW steps, and the evaluation list is merged the same
 * way as the steps once it passes MAX_EVAL_POINTS.
 */
import type { Config } from '../../shared/config.js';
import type { EpochRecord, EvalDetail, StepEvent, TrainerEmitter } from '../training/stepEvent.js';

/** Step points kept; ~100 B each as JSON, so the page polls ~200 kB at most. */
export const MAX_STEP_POINTS = 2000;
export const MAX_EVAL_POINTS = 500;
/** Steps of per-worker timing kept: enough to see a straggler, small enough to chart every poll. */
export const SHARD_WINDOW = 60;

export interface RunInfo {
  runId: string;
  model: string;
  architecture: string;
  backend: string;
  workers: number;
  configFile: string;
  outDir: string;
  started: string;
  /** Optimizer steps per epoch: puts the per-step curves on the report's epoch axis. */
  stepsPerEpoch: number;
  /** The resolved config, flattened to dotted keys ("train.batchSize": 128). */
  config: Record<string, string | number | boolean | null>;
}

export interface StepPoint {
  step: number;
  /** Fractional epoch (step / stepsPerEpoch). */
  epoch: number;
  elapsedSeconds: number;
  loss: number;
  accuracy: number;
  examplesPerSecond: number;
  /** Steps merged into this point (1 at full resolution). */
  steps: number;
}

export interface ShardPoint {
  step: number;
  worker: number;
  threadId: number;
  /** Multi-host runs: the remote host that computed this share (its micro-batches summed); absent for a local worker. */
  host?: string;
  computeSeconds: number;
  /** Waiting for the slowest worker of the step. */
  waitSeconds: number;
  /** The rest of the step: reduce, update and dispatch, when no worker task runs. */
  idleSeconds: number;
}

export type RunStatus = 'starting' | 'running' | 'finished' | 'interrupted' | 'failed';

export interface Progress {
  step: number;
  lastStep: number;
  epoch: number;
  epochs: number;
  /** step / lastStep, 0..1. */
  fraction: number;
  elapsedSeconds: number;
  /** Remaining steps at this process's average step time so far; null before two steps. */
  etaSeconds: number | null;
  examplesPerSecond: number;
  loss: number | null;
  accuracy: number | null;
  lr: number | null;
  testAccuracy: number | null;
}

export interface RunSnapshot {
  /** Bumped on every change: a poller can skip work when it has not moved. */
  version: number;
  status: RunStatus;
  run: RunInfo;
  progress: Progress;
  steps: StepPoint[];
  evals: EpochRecord[];
  shards: ShardPoint[];
  confusion: { step: number; epoch: number; accuracy: number; matrix: number[][] } | null;
}

/**
 * Append `point`; when the list passes `max`, merge the older half pairwise
 * with `merge`. Amortised O(1) per point: a merge halves a quarter of the list.
 */
export function pushBounded<T>(list: T[], point: T, max: number, merge: (a: T, b: T) => T): void {
  list.push(point);
  if (list.length <= max) return;
  const half = Math.floor(list.length / 2);
  const merged: T[] = [];
  for (let i = 0; i + 1 < half; i += 2) merged.push(merge(list[i] as T, list[i + 1] as T));
  if (half % 2 === 1) merged.push(list[half - 1] as T);
  list.splice(0, half, ...merged);
}

/** Mean of two step points, weighted by how many steps each already stands for. */
function mergeSteps(a: StepPoint, b: StepPoint): StepPoint {
  const n = a.steps + b.steps;
  const mean = (x: number, y: number): number => (x * a.steps + y * b.steps) / n;
  return {
    step: b.step,
    epoch: b.epoch,
    elapsedSeconds: b.elapsedSeconds,
    loss: mean(a.loss, b.loss),
    accuracy: mean(a.accuracy, b.accuracy),
    examplesPerSecond: mean(a.examplesPerSecond, b.examplesPerSecond),
    steps: n,
  };
}

/** Flatten a config object to dotted keys; arrays become JSON text. */
export function flattenConfig(value: unknown, prefix = '', out: RunInfo['config'] = {}): RunInfo['config'] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flattenConfig(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(value)) {
    out[prefix] = JSON.stringify(value);
  } else if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    out[prefix] = value;
  }
  return out;
}

export class RunState {
  private version = 0;
  private status: RunStatus = 'starting';
  private readonly steps: StepPoint[] = [];
  private readonly evals: EpochRecord[] = [];
  private shards: ShardPoint[] = [];
  private confusion: RunSnapshot['confusion'] = null;
  private last: StepEvent | null = null;
  /** First step seen by this process, for the ETA (a resumed run's earlier legs ran elsewhere). */
  private first: { step: number; elapsed: number } | null = null;

  /** outDir may be filled in once the run directory exists (the page is served before it is created). */
  constructor(readonly info: RunInfo) {}

  /** The state of a run about to start from `cfg` (steps per epoch as the trainer counts them). */
  static forConfig(
    cfg: Config,
    run: { runId: string; architecture: string; backend: string; workers: number; configFile: string; trainCount: number; outDir: string },
  ): RunState {
    const { trainCount, ...rest } = run;
    return new RunState({
      ...rest,
      model: cfg.model.kind,
      started: new Date().toISOString(),
      stepsPerEpoch: Math.ceil(trainCount / cfg.train.batchSize),
      config: flattenConfig(cfg),
    });
  }

  /** Subscribe to a trainer; returns the unsubscribe function. */
  follow(events: TrainerEmitter): () => void {
    const onStep = (e: StepEvent): void => this.onStep(e);
    const onEval = (r: EpochRecord, d: EvalDetail): void => this.onEval(r, d);
    events.on('step', onStep);
    events.on('eval', onEval);
    if (this.status === 'starting') this.status = 'running';
    this.version++;
    return () => {
      events.off('step', onStep);
      events.off('eval', onEval);
    };
  }

  onStep(e: StepEvent): void {
    if (this.status === 'starting') this.status = 'running';
    this.first ??= { step: e.step - 1, elapsed: e.elapsedSeconds - e.stepSeconds };
    this.last = e;
    const point: StepPoint = {
      step: e.step,
      epoch: e.step / this.info.stepsPerEpoch,
      elapsedSeconds: e.elapsedSeconds,
      loss: e.loss,
      accuracy: e.accuracy,
      examplesPerSecond: e.examplesPerSecond,
      steps: 1,
    };
    pushBounded(this.steps, point, MAX_STEP_POINTS, mergeSteps);
    for (const p of shardPoints(e)) this.shards.push(p);
    const oldest = e.step - SHARD_WINDOW;
    if ((this.shards[0]?.step ?? Infinity) <= oldest) this.shards = this.shards.filter((s) => s.step > oldest);
    this.version++;
  }

  onEval(r: EpochRecord, d: EvalDetail): void {
    pushBounded(this.evals, { ...r }, MAX_EVAL_POINTS, (_a, b) => b);
    this.confusion = { step: r.step, epoch: r.epoch, accuracy: r.test_accuracy, matrix: d.confusion.map((row) => [...row]) };
    this.version++;
  }

  /** The run has ended (the page stops showing an ETA). */
  finish(status: Exclude<RunStatus, 'starting' | 'running'>): void {
    this.status = status;
    this.version++;
  }

  snapshot(): RunSnapshot {
    const e = this.last;
    const lastEval = this.evals[this.evals.length - 1];
    let eta: number | null = null;
    if (e && this.first && e.step - this.first.step >= 2 && this.status === 'running') {
      const perStep = (e.elapsedSeconds - this.first.elapsed) / (e.step - this.first.step);
      eta = Math.max(0, (e.lastStep - e.step) * perStep);
    }
    return {
      version: this.version,
      status: this.status,
      run: this.info,
      progress: {
        step: e?.step ?? 0,
        lastStep: e?.lastStep ?? 0,
        epoch: e?.epoch ?? 0,
        epochs: e?.epochs ?? 0,
        fraction: e && e.lastStep > 0 ? Math.min(1, e.step / e.lastStep) : 0,
        elapsedSeconds: e?.elapsedSeconds ?? 0,
        etaSeconds: eta,
        examplesPerSecond: e?.examplesPerSecond ?? 0,
        loss: e?.loss ?? null,
        accuracy: e?.accuracy ?? null,
        lr: e?.lr ?? null,
        testAccuracy: lastEval?.test_accuracy ?? null,
      },
      steps: [...this.steps],
      evals: [...this.evals],
      shards: [...this.shards],
      confusion: this.confusion,
    };
  }
}

/**
 * One point per local worker, and one per remote host: a host computes
 * several micro-batches of a step (one result each), so its compute is their
 * sum, and its wait is the gap to the busiest worker or host of the step.
 */
function shardPoints(e: StepEvent): ShardPoint[] {
  const byKey = new Map<string, ShardPoint>();
  for (const s of e.shards) {
    const key = s.host !== undefined ? `host ${s.host}` : `shard ${s.shard}`;
    const p = byKey.get(key);
    if (p) p.computeSeconds += s.computeSeconds;
    else
      byKey.set(key, {
        step: e.step,
        worker: s.shard,
        threadId: s.threadId,
        ...(s.host !== undefined ? { host: s.host } : {}),
        computeSeconds: s.computeSeconds,
        waitSeconds: 0,
        idleSeconds: 0,
      });
  }
  const points = [...byKey.values()];
  const busiest = Math.max(...points.map((p) => p.computeSeconds));
  for (const p of points) {
    p.waitSeconds = busiest - p.computeSeconds;
    p.idleSeconds = Math.max(0, e.stepSeconds - busiest);
  }
  return points;
}
