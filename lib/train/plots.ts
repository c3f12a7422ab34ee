import * as fs from 'fs';
import type { TrainMetrics } from './trainer';

/** Read a metrics.jsonl written by the trainer. */
export function readTrainMetrics(file: string): TrainMetrics[] {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such metrics file (the trainer writes <outDir>/metrics.jsonl)`);
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l, i) => {
    try {
      return JSON.parse(l) as TrainMetrics;
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
  });
}

/**
 * A Vega-Lite v5 line chart of training curves against step: one coloured line per metric, log-scale y
 * by default (losses), e.g. fields ['mse_loss', 'l1_loss'] or ['explained_variance'].
 */
export function lossCurveSpec(metrics: TrainMetrics[], fields: string[] = ['mse_loss', 'l1_loss', 'overall_loss'], opts: { title?: string; logY?: boolean; width?: number; height?: number } = {}): Record<string, unknown> {
  const values: Array<{ step: number; metric: string; value: number }> = [];
  for (const m of metrics) {
    for (const f of fields) {
      const v = (m as unknown as Record<string, unknown>)[f];
      if (typeof v === 'number' && Number.isFinite(v) && (!(opts.logY ?? true) || v > 0)) values.push({ step: m.step, metric: f, value: v });
    }
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: opts.title ?? 'SAE training',
    width: opts.width ?? 480,
    height: opts.height ?? 260,
    data: { values },
    mark: { type: 'line' },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'value', type: 'quantitative', title: 'value', scale: { type: (opts.logY ?? true) ? 'log' : 'linear' } },
      color: { field: 'metric', type: 'nominal' },
    },
  };
}
