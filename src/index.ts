/**
 * The `pixelsense` package: train, evaluate and predict from TypeScript, and
 * the tools around them (bench, report, the data functions, the runs
 * server). Every CLI command (`pixelsense train|eval|predict|bench|report|
 * data|runs`) is a thin layer over these same functions. See docs/api.md.
 */
export { train } from './coordinator/api/train.js';
export { evaluate } from './coordinator/api/evaluate.js';
export { predict } from './coordinator/api/predict.js';
export { loadConfig } from './coordinator/api/config.js';
export { bench } from './coordinator/api/bench.js';
export { writeReport } from './coordinator/api/report.js';
export { dataInfo, downloadData, verifyData } from './coordinator/api/data.js';
export { serveRuns } from './coordinator/api/runs.js';
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
export type {
  BaselineRow,
  BenchOptions,
  BenchReport,
  BenchRow,
  BenchSample,
  BenchSettings,
  CommResult,
  CommRow,
  CopyName,
  DataInfo,
  DataOptions,
  DownloadDataOptions,
  DownloadReport,
  FileName,
  FitSample,
  Machine,
  ModelKind,
  ReportOptions,
  ReportResult,
  RunsServer,
  ServeRunsOptions,
  Stat,
  StepColumns,
  VerifiedFile,
  VerifyDataOptions,
  VerifyReport,
} from './coordinator/api/toolOptions.js';
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
