import { Progress } from '../notebook/progress';
import type { TrainMetrics } from './trainer';

/** What a progress display gets at every log step. */
export interface TrainProgress {
  step: number;
  totalSteps: number;
  tokens: number;
  totalTokens: number;
  elapsedS: number;
  metrics: TrainMetrics;
}

export interface TrainProgressReporter {
  update(p: TrainProgress): void;
  stop(): void;
}

/** One status line, e.g. for a notebook: "step 300/1000 (30%) | MSE 0.0123 | L1 0.456 | L0 5.1 | EV 0.953 | dead 0 | 12000 tok/s". */
export function formatProgressLine(p: TrainProgress): string {
  const m = p.metrics;
  const pct = p.totalSteps ? Math.floor((100 * p.step) / p.totalSteps) : 0;
  const parts = [`step ${p.step}/${p.totalSteps} (${pct}%)`, `MSE ${fmt(m.mse_loss)}`];
  if (m.l1_loss !== undefined) parts.push(`L1 ${fmt(m.l1_loss)}`);
  if (m.l0_loss !== undefined) parts.push(`L0 loss ${fmt(m.l0_loss)}`);
  parts.push(`L0 ${m.l0.toFixed(1)}`, `EV ${m.explained_variance.toFixed(3)}`, `dead ${m.dead_features}`);
  if (p.elapsedS > 0) parts.push(`${Math.round(p.tokens / p.elapsedS)} tok/s`);
  return parts.join(' | ');
}

function fmt(x: number): string {
  return Math.abs(x) >= 0.01 || x === 0 ? x.toFixed(4) : x.toExponential(2);
}

/**
 * The reporter fit() uses: the caller's onProgress when given; else, with progress 'bar' (or 'auto' on a
 * terminal), saelab's progress bar (lib/notebook/progress.ts) with the running losses; else nothing.
 */
export function makeProgressReporter(opts: { onProgress?: (p: TrainProgress) => void; progress?: 'auto' | 'bar' | 'none' }, totalSteps: number): TrainProgressReporter {
  if (opts.onProgress) {
    const cb = opts.onProgress;
    return { update: cb, stop: () => undefined };
  }
  const mode = opts.progress ?? 'auto';
  if (mode === 'none' || (mode === 'auto' && !process.stderr.isTTY)) return { update: () => undefined, stop: () => undefined };
  const bar = new Progress('train SAE', totalSteps);
  let at = 0;
  return {
    update(p) {
      bar.tick(p.step - at, { '': formatProgressLine(p) });
      at = p.step;
    },
    stop() {
      bar.done();
    },
  };
}
