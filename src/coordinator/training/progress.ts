/**
 * What a person sees while a run trains: a progress bar on a TTY (epoch,
 * step, examples/s, loss, ETA), plain log lines elsewhere. Everything goes
 * to stderr, so stdout stays clean for --json.
 */
import cliProgress from 'cli-progress';
import type { EpochRecord, StepEvent } from './stepEvent.js';

export interface Reporter {
  start(totalSteps: number, startStep: number): void;
  step(e: StepEvent): void;
  epoch(record: EpochRecord): void;
  log(line: string): void;
  stop(): void;
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

export function epochLine(r: EpochRecord): string {
  return (
    `epoch ${r.epoch} step ${r.step}: train loss ${r.train_loss.toFixed(4)} acc ${pct(r.train_accuracy)} | ` +
    `test loss ${r.test_loss.toFixed(4)} acc ${pct(r.test_accuracy)} | ${Math.round(r.examples_per_sec)} ex/s | lr ${r.lr.toExponential(2)} | ${r.wall_s.toFixed(1)} s`
  );
}

/**
 * A duration for the bar's ETA: `42s`, `8m05s`, `1h03m`. cli-progress's own
 * formatter rounds the seconds field to a multiple of 5 *after* splitting
 * off the minutes, so 539 s came out as `8m60s`; here the whole duration is
 * rounded first (to `roundTo` seconds, or whole minutes past an hour) and
 * only then split, so no field can reach 60. Non-finite or negative ETAs
 * (no rate yet) print as `?`.
 */
export function formatDuration(seconds: number, roundTo = 1): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const pad = (n: number) => String(n).padStart(2, '0');
  if (seconds >= 3600) {
    const minutes = Math.round(seconds / 60);
    return `${Math.floor(minutes / 60)}h${pad(minutes % 60)}m`;
  }
  const s = roundTo * Math.round(seconds / roundTo);
  if (s >= 3600) return '1h00m';
  if (s >= 60) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  return `${s}s`;
}

class BarReporter implements Reporter {
  // A MultiBar with one bar, because MultiBar.log() prints lines above the bar
  // and redraws it; writing to the stream around a SingleBar garbles the screen.
  private readonly multi = new cliProgress.MultiBar(
    {
      format: 'epoch {epoch}/{epochs} |{bar}| step {value}/{total} | {eps} ex/s | loss {loss} | ETA {eta_formatted}',
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 50,
      // The ETA, rounded to 5 s like cli-progress's default, without its `8m60s`.
      formatTime: (t: number, _options: unknown, roundTo: number) => formatDuration(t, roundTo),
    },
    cliProgress.Presets.shades_classic,
  );
  private bar: cliProgress.SingleBar | null = null;
  start(total: number, start: number): void {
    this.bar = this.multi.create(total, start, { epoch: 1, epochs: '?', eps: 0, loss: '-' });
  }
  step(i: StepEvent): void {
    this.bar?.update(i.step, { epoch: i.epoch, epochs: i.epochs, eps: Math.round(i.examplesPerSecond), loss: i.loss.toFixed(4) });
  }
  epoch(r: EpochRecord): void {
    this.log(epochLine(r));
  }
  log(line: string): void {
    if (this.bar) this.multi.log(`${line}\n`);
    else process.stderr.write(`${line}\n`);
  }
  stop(): void {
    if (!this.bar) return;
    this.multi.update(); // flush lines logged since the last redraw
    this.multi.stop();
    this.bar = null;
  }
}

class LineReporter implements Reporter {
  private total = 0;
  private every = 50;
  start(total: number): void {
    this.total = total;
    this.every = Math.max(1, Math.min(100, Math.round(total / 20)));
  }
  step(i: StepEvent): void {
    if (i.step % this.every === 0 || i.step === this.total) {
      this.log(
        `step ${i.step}/${this.total} epoch ${i.epoch}/${i.epochs} loss ${i.loss.toFixed(4)} acc ${pct(i.accuracy)} ${Math.round(i.examplesPerSecond)} ex/s`,
      );
    }
  }
  epoch(r: EpochRecord): void {
    this.log(epochLine(r));
  }
  log(line: string): void {
    process.stderr.write(`${line}\n`);
  }
  stop(): void {}
}

export function createReporter(opts: { quiet?: boolean } = {}): Reporter {
  if (opts.quiet) {
    return { start() {}, step() {}, epoch() {}, log() {}, stop() {} };
  }
  return process.stderr.isTTY ? new BarReporter() : new LineReporter();
}
