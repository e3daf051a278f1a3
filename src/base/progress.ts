/**
 * Progress bars for long-running work (training epochs, evaluation, data set downloads), drawn by
 * cli-progress. A bar draws only on a TTY and only when the output mode allows it (not with
 * --quiet or --json, see output.ts); otherwise nothing is drawn and only the lines passed to `log`
 * and `done` appear, so logs and pipes hold explicit summary lines and no control characters.
 * The text of the bar (label, bar, step/total, fields such as loss or ε, rate and ETA) is our own
 * `render()`, so it is the same on every terminal and testable.
 */
import cliProgress from 'cli-progress';
import { progressAllowed } from './output.js';

/** The part of a writable stream the bar needs (process.stderr fits; tests pass a fake). */
export interface ProgressStream {
  write(s: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface ProgressOptions {
  /** Number of steps to completion (0 or unknown: no bar, no ETA). */
  readonly total: number;
  /** Text before the bar, e.g. `epoch 3/20`. */
  readonly label?: string;
  /** Defaults to process.stderr. */
  readonly stream?: ProgressStream;
  /** Overrides `stream.isTTY` (e.g. to force plain output). */
  readonly tty?: boolean;
  /** Rate unit (e.g. `img`); the rate shown is steps/s × unitsPerStep. Default `it`. */
  readonly unit?: string;
  readonly unitsPerStep?: number;
  /** `bytes`: step and total are byte counts, shown as kB/MB and MB/s. */
  readonly format?: 'count' | 'bytes';
  /** Minimum time between redraws (default 100 ms); the final state is always drawn. */
  readonly minIntervalMs?: number;
  /** Clock in ms for the rate and ETA (tests). */
  readonly now?: () => number;
}

/** Field values shown after the counter: numbers get 4 significant digits. */
export type ProgressFields = Readonly<Record<string, string | number>>;

/** `h:mm:ss` or `m:ss`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** 1536 → `1.5 kB`, 3.2e7 → `32.0 MB`. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

const fmtField = (v: string | number): string =>
  typeof v === 'number' ? (Number.isInteger(v) ? String(v) : Number(v.toPrecision(4)).toString()) : v;

/** Bars still drawing; `stopAllProgress` ends them (their timers would keep the process alive). */
const active = new Set<ProgressBar>();

/** Stops every bar still drawing (the CLI calls this when a command ends, also on errors). */
export function stopAllProgress(): void {
  for (const b of [...active]) b.done();
}

/** One progress bar; create one per loop (per epoch, per download). */
export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly draws: boolean;
  private readonly now: () => number;
  private readonly start: number;
  private readonly bar: cliProgress.SingleBar | undefined;
  private step = 0;
  private fields: ProgressFields = {};
  private finished = false;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.draws = progressAllowed(opts.tty ?? this.stream.isTTY === true);
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
    if (!this.draws) return;
    const target = this.stream;
    const stream = {
      isTTY: true,
      get columns() {
        return target.columns ?? 100;
      },
      write: (s: string) => target.write(s),
    } as unknown as NodeJS.WritableStream;
    this.bar = new cliProgress.SingleBar({
      stream,
      format: () => {
        const line = this.render();
        const cols = target.columns ?? 100;
        return line.length >= cols ? line.slice(0, cols - 1) : line;
      },
      fps: 1000 / (opts.minIntervalMs ?? 100),
      hideCursor: false,
      linewrap: false,
      clearOnComplete: false,
      gracefulExit: false,
    });
    this.bar.start(Math.max(opts.total, 1), 0);
    active.add(this);
  }

  /** Whether this bar draws (a TTY and an output mode that allows progress). */
  get drawing(): boolean {
    return this.draws && !this.finished;
  }

  /** Sets the current step (and fields); cli-progress redraws at most every `minIntervalMs`. */
  update(step: number, fields?: ProgressFields): void {
    this.step = step;
    if (fields) this.fields = fields;
    if (this.drawing) this.bar!.update(Math.min(step, Math.max(this.opts.total, 1)));
  }

  /** Advances by `n` steps. */
  tick(n = 1, fields?: ProgressFields): void {
    this.update(this.step + n, fields);
  }

  /** Prints a line (above the bar while it draws; as is otherwise). */
  log(line: string): void {
    if (this.drawing) {
      this.stream.write('\r\x1b[2K' + line + '\n');
      this.bar!.render();
    } else this.stream.write(line + '\n');
  }

  /** Seconds since the bar was created. */
  elapsed(): number {
    return (this.now() - this.start) / 1000;
  }

  /** Steps (× unitsPerStep) per second so far. */
  rate(): number {
    const s = this.elapsed();
    return s > 0 ? (this.step * (this.opts.unitsPerStep ?? 1)) / s : 0;
  }

  /** Finishes the bar: the final state stays on screen; `summary`, if given, is printed as a line. */
  done(summary?: string): void {
    if (this.finished) return;
    if (this.drawing) this.bar!.stop();
    this.finished = true;
    active.delete(this);
    if (summary !== undefined) this.stream.write(summary + '\n');
  }

  /** The bar's text for the current state (no control characters). */
  render(): string {
    const { total, label, format } = this.opts;
    const bytes = format === 'bytes';
    const parts: string[] = [];
    if (label) parts.push(label);
    if (total > 0) {
      const frac = Math.min(1, this.step / total);
      const w = 20;
      const fill = Math.round(frac * w);
      parts.push(`[${'#'.repeat(fill)}${'-'.repeat(w - fill)}]`);
      parts.push(bytes ? `${formatBytes(this.step)}/${formatBytes(total)}` : `${this.step}/${total}`);
    } else parts.push(bytes ? formatBytes(this.step) : String(this.step));
    const f = Object.entries(this.fields).map(([k, v]) => `${k}=${fmtField(v)}`);
    if (f.length) parts.push(f.join(' '));
    const r = this.rate();
    if (this.elapsed() > 0 && this.step > 0) {
      parts.push(
        bytes
          ? `${formatBytes(r)}/s`
          : `${r >= 100 ? r.toFixed(0) : r.toPrecision(3)} ${this.opts.unit ?? 'it'}/s`,
      );
      const stepsPerS = this.step / this.elapsed();
      if (total > 0 && this.step < total)
        parts.push(`ETA ${formatDuration((total - this.step) / stepsPerS)}`);
      else parts.push(formatDuration(this.elapsed()));
    }
    return parts.join('  ');
  }
}
