/**
 * The one record of a finished training step, published once by the Trainer
 * (`trainer.events.on('step', …)`). The run log, the metrics, the progress bar,
 * the bench, the live page and library callbacks all subscribe to it instead
 * of computing their own versions of the same numbers.
 */
import { EventEmitter } from 'node:events';
import type { WorkerMemory } from '../../shared/messages.js';

/** One worker task's share of a step (one entry per shard, in shard order). */
export interface ShardTiming {
  readonly shard: number;
  readonly threadId: number;
  /** Seconds of forward + backward inside the worker. */
  readonly computeSeconds: number;
  /** Slowest shard's compute minus this one's: time this worker sat idle waiting for the step to end. */
  readonly waitSeconds: number;
  readonly examples: number;
  /** Live tf tensors in the worker after the task (must stay flat across steps). */
  readonly tensors: number;
  /** Part of computeSeconds spent copying the shared weights into fresh tensors (the broadcast as the worker sees it). */
  readonly weightCopySeconds: number;
  /** The worker's memory after the task, when it reported it. */
  readonly memory?: WorkerMemory;
  /** The remote host that computed this share (multi-host runs); absent for a local worker. */
  readonly host?: string;
}

export interface StepEvent {
  /** Global step just completed, 1-based. */
  readonly step: number;
  /** Epoch this step belongs to, 1-based. */
  readonly epoch: number;
  readonly epochs: number;
  /** The step at which this run stops (train.maxSteps or the last step of the last epoch). */
  readonly lastStep: number;
  readonly examples: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly lr: number;
  /** Throughput over the trainer's one sliding window (the same number everywhere it is shown). */
  readonly examplesPerSecond: number;
  /** Seconds since the run started (including earlier legs of a resumed run). */
  readonly elapsedSeconds: number;
  /** Wall time of the whole step, dispatch to the end of the update. */
  readonly stepSeconds: number;
  /** Mean worker compute, and the mean gap to the slowest worker. */
  readonly computeSeconds: number;
  readonly waitSeconds: number;
  /** Averaging the gradients and batch-norm statistics; with Adam, only the statistics (the update's pass reduces). */
  readonly reduceSeconds: number;
  /** The optimizer step; with Adam, the gradient's reduce too (ParameterServer.reduceAndApply). */
  readonly updateSeconds: number;
  /** What neither the workers nor the parameter server account for: dispatch, wake-ups, bookkeeping. */
  readonly overheadSeconds: number;
  readonly shards: readonly ShardTiming[];
}

/** One evaluation on the test set, as written to log.jsonl and run.json's history (snake_case: it is JSON). */
export interface EpochRecord {
  epoch: number;
  step: number;
  wall_s: number;
  train_loss: number;
  train_accuracy: number;
  test_loss: number;
  test_accuracy: number;
  lr: number;
  examples_per_sec: number;
}

/** What an evaluation measured beyond its log record: kept out of EpochRecord so log.jsonl and run.json stay as they are. */
export interface EvalDetail {
  /** 10x10 counts on the test set, rows true label, columns predicted. */
  readonly confusion: readonly (readonly number[])[];
  readonly macroF1: number;
}

export interface TrainerEvents {
  step: [StepEvent];
  /** An evaluation on the test set finished: the record also written to log.jsonl, then its confusion matrix. */
  eval: [EpochRecord, EvalDetail];
}

export class TrainerEmitter extends EventEmitter<TrainerEvents> {}
