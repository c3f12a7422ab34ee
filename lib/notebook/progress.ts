import { randomBytes } from 'crypto';
import { displayBundle, inNotebook } from './display';

/** Running figures shown after the bar as key=value (an empty key shows the value alone). */
export type ProgressInfo = Record<string, number | string>;

/** Something that reports progress of long work (training, activation caching, evaluation). */
export interface ProgressReporter {
  /** advance by n units, optionally with running figures (loss=..., l0=...) */
  tick(n?: number, info?: ProgressInfo): void;
  /** finish (prints the final line) */
  done(info?: ProgressInfo): void;
}

function fmtInfo(info: ProgressInfo | undefined): string {
  if (!info) return '';
  return Object.entries(info)
    .map(([k, v]) => {
      const text = typeof v === 'number' ? (Number.isInteger(v) ? String(v) : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? v.toFixed(4) : v.toExponential(3)) : v;
      return k ? `${k}=${text}` : text;
    })
    .join(' ');
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/**
 * Progress for long work: an updating single output line in a tslab notebook, a bar on an
 * interactive terminal, and a line every ~10% otherwise (CI logs).
 */
export class Progress implements ProgressReporter {
  private count = 0;
  private readonly start = Date.now();
  private lastDraw = 0;
  private lastPct = -1;
  private readonly displayId = randomBytes(8).toString('hex');
  private readonly mode: 'notebook' | 'tty' | 'log' | 'silent';
  private drawn = false;
  private info: ProgressInfo | undefined;

  constructor(readonly label: string, readonly total: number, opts: { silent?: boolean } = {}) {
    this.mode = opts.silent || process.env.SAELAB_PROGRESS === 'off' ? 'silent' : inNotebook() ? 'notebook' : process.stderr.isTTY ? 'tty' : 'log';
  }

  line(): string {
    const frac = this.total > 0 ? Math.min(1, this.count / this.total) : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = frac > 0 ? (elapsed * (1 - frac)) / frac : NaN;
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    return `${this.label} ${bar} ${(frac * 100).toFixed(0)}% ${this.count}/${this.total} ${fmtTime(elapsed)} eta ${fmtTime(eta)} ${fmtInfo(this.info)}`.trimEnd();
  }

  tick(n = 1, info?: ProgressInfo): void {
    this.count += n;
    if (info) this.info = info;
    const now = Date.now();
    if (this.mode === 'silent') return;
    if (this.mode === 'log') {
      const pct = this.total > 0 ? Math.floor((10 * this.count) / this.total) : 0;
      if (pct !== this.lastPct) {
        this.lastPct = pct;
        console.error(this.line());
      }
      return;
    }
    if (now - this.lastDraw < 250 && this.count < this.total) return;
    this.lastDraw = now;
    this.draw();
  }

  private draw(): void {
    const text = this.line();
    if (this.mode === 'notebook') {
      displayBundle({ 'text/plain': text }, { displayId: this.displayId, update: this.drawn });
    } else if (this.mode === 'tty') {
      process.stderr.write(`\r${text.slice(0, (process.stderr.columns || 120) - 1)}\x1b[K`);
    }
    this.drawn = true;
  }

  done(info?: ProgressInfo): void {
    if (info) this.info = info;
    if (this.mode === 'silent') return;
    if (this.mode === 'log') {
      if (this.lastPct < 10) console.error(this.line());
      return;
    }
    this.draw();
    if (this.mode === 'tty') process.stderr.write('\n');
  }
}

/** A reporter that does nothing (for library calls that take an optional reporter). */
export const NO_PROGRESS: ProgressReporter = { tick() {}, done() {} };

/**
 * Makes one reporter per phase of multi-phase work, once the phase's total is known (a stage passes
 * `(label, total) => new Progress(label, total)`; library code defaults to NO_PROGRESS_FACTORY).
 */
export type ProgressFactory = (label: string, total: number) => ProgressReporter;

/** A factory of reporters that do nothing. */
export const NO_PROGRESS_FACTORY: ProgressFactory = () => NO_PROGRESS;
