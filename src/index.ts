/**
 * The `pixelsense` package: train, evaluate and predict from TypeScript. The
 * CLI (`pixelsense train|eval|predict ...`) is a thin layer over these same
 * functions. See docs/api.md.
 */
export { train } from './coordinator/api/train.js';
export { evaluate } from './coordinator/api/evaluate.js';
export { predict } from './coordinator/api/predict.js';
export { loadConfig } from './coordinator/api/config.js';
export type {
  BackendChoice,
  ClassMetrics,
  Config,
  ConfigSource,
  EpochRecord,
  EvalReport,
  EvaluateOptions,
  Evaluation,
  ImageInput,
  MetricsOptions,
  Prediction,
  PredictionClass,
  PredictOptions,
  RunStart,
  StopReason,
  TrainOptions,
  TrainResult,
  TrainStep,
} from './coordinator/api/options.js';
export {
  BackendError,
  CheckpointError,
  ConfigError,
  DataError,
  FileError,
  ImageError,
  InterruptedError,
  MetricsError,
  ModelError,
  PixelSenseError,
  RunDirError,
  UsageError,
  WorkerError,
} from './shared/errors.js';
