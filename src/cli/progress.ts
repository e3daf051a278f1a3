/**
 * A terminal progress bar for long-running commands (train, verify, dataset downloads). On a TTY
 * it redraws one line in place (label, bar, step/total, custom fields such as loss or ε, rate and
 * ETA), at most every `minIntervalMs`; `log` prints a line above the bar without breaking it. When
 * the stream is not a TTY (CI logs, files, pipes) nothing is drawn: only the lines passed to `log`
 * and `done` appear, so logs hold explicit summary lines and no control characters.
 */

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
  /** Clock in ms (tests). */
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

/** One progress bar; create one per loop (per epoch, per download). */
export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly start: number;
  private lastDraw = -Infinity;
  private step = 0;
  private fields: ProgressFields = {};
  private drawn = false;
  private finished = false;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? this.stream.isTTY === true;
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
  }

  /** Sets the current step (and fields) and redraws if enough time has passed or the end is reached. */
  update(step: number, fields?: ProgressFields): void {
    this.step = step;
    if (fields) this.fields = fields;
    if (!this.tty || this.finished) return;
    const t = this.now();
    if (t - this.lastDraw < (this.opts.minIntervalMs ?? 100) && step < this.opts.total) return;
    this.lastDraw = t;
    this.draw();
  }

  /** Advances by `n` steps. */
  tick(n = 1, fields?: ProgressFields): void {
    this.update(this.step + n, fields);
  }

  /** Prints a line (above the bar on a TTY; as is otherwise). */
  log(line: string): void {
    if (this.tty && this.drawn) this.stream.write('\r\x1b[2K');
    this.stream.write(line + '\n');
    if (this.tty && this.drawn && !this.finished) this.draw();
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

  /** Finishes the bar: on a TTY the final state stays on screen; `summary`, if given, is printed as a line. */
  done(summary?: string): void {
    if (this.finished) return;
    if (this.tty) {
      this.draw();
      this.stream.write('\n');
    }
    this.finished = true;
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

  private draw(): void {
    const cols = this.stream.columns ?? 100;
    const line = this.render();
    this.stream.write('\r\x1b[2K' + (line.length >= cols ? line.slice(0, cols - 1) : line));
    this.drawn = true;
  }
}
