/** The sweep's summary table and its plots of SAE quality against training step. */
import type { TopLevelSpec } from 'vega-lite';
import { Row } from '../plots/table';
import { lineSpec, LineSpecOptions } from '../plots/specs';
import { SweepJobSummary } from './sweep';

/** One row per finished checkpoint: step, revision, L0, explained variance, CE losses and score, dead %. */
export function sweepTable(rows: SweepJobSummary[]): Row[] {
  return rows.map((s) => ({
    checkpoint: s.label, step: s.step, revision: s.revision, 'd_sae': s.d_sae, L0: s.l0, 'explained var': s.explained_variance,
    'clean CE': s.clean_loss, 'recon CE': s.spliced_loss, 'zero-abl CE': s.zero_ablation_loss, 'CE loss score': s.ce_loss_score, 'dead %': 100 * s.dead_fraction,
  }));
}

/** Plots of L0, explained variance, CE loss score and dead share against training step (one spec each). */
export function sweepSpecs(rows: SweepJobSummary[], o: LineSpecOptions = {}): Record<'l0' | 'explainedVariance' | 'ceLossScore' | 'deadShare', TopLevelSpec> {
  const x = rows.map((s) => s.step);
  const one = (name: string, y: number[], yTitle: string) => lineSpec({ name, x, y }, { title: `${name} against training step`, xTitle: 'model training step', yTitle, ...o });
  return {
    l0: one('L0', rows.map((s) => s.l0), 'mean active features per token'),
    explainedVariance: one('Explained variance', rows.map((s) => s.explained_variance), 'explained variance'),
    ceLossScore: one('CE loss score', rows.map((s) => s.ce_loss_score ?? NaN), 'CE loss score'),
    deadShare: one('Dead share', rows.map((s) => s.dead_fraction), 'fraction of features dead'),
  };
}
