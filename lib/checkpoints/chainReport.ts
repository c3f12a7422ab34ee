/** Tables and Vega-Lite plots of feature chains across checkpoints. */
import type { TopLevelSpec } from 'vega-lite';
import { Row } from '../plots/table';
import { lineSpec, LineSpecOptions } from '../plots/specs';
import { ChainAnalysis, FeatureChain } from './chains';

export interface ChainTableOptions {
  /** rows to keep (default 20) */
  k?: number;
  /** top contexts of a feature of the final checkpoint, as text (e.g. from a top-activations pass) */
  contexts?: (finalFeature: number) => string;
}

function chainRow(a: ChainAnalysis, c: FeatureChain, contexts?: (f: number) => string): Row {
  const last = c.features[c.features.length - 1];
  const row: Row = {
    feature: last,
    'born at step': a.steps[c.start],
    checkpoints: c.features.length,
    'min link sim': c.minLink,
    'mean link sim': c.meanLink,
    'sim of first to final': c.drift ? c.drift[0] : null,
    chain: c.features.map((f, k) => `${a.steps[c.start + k]}:${f}`).join(' > '),
  };
  if (contexts) row['top contexts'] = contexts(last);
  return row;
}

/** Chains reaching the final checkpoint, longest first, then by weakest link (most stable first). */
export function stableFeaturesTable(a: ChainAnalysis, o: ChainTableOptions = {}): Row[] {
  const T = a.steps.length;
  return a.chains.filter((c) => c.end === T - 1)
    .sort((x, y) => y.features.length - x.features.length || y.minLink - x.minLink || y.meanLink - x.meanLink)
    .slice(0, o.k ?? 20)
    .map((c) => chainRow(a, c, o.contexts));
}

/** Chains reaching the final checkpoint that started latest (latest-born first), then by mean link similarity. */
export function latestBornTable(a: ChainAnalysis, o: ChainTableOptions = {}): Row[] {
  const T = a.steps.length;
  return a.chains.filter((c) => c.end === T - 1 && c.start > 0)
    .sort((x, y) => y.start - x.start || y.meanLink - x.meanLink)
    .slice(0, o.k ?? 20)
    .map((c) => chainRow(a, c, o.contexts));
}

/** Births, deaths, splits and merges per checkpoint against training step. */
export function chainEventsSpec(a: ChainAnalysis, o: LineSpecOptions = {}): TopLevelSpec {
  const x = a.events.map((e) => e.step);
  return lineSpec((['births', 'deaths', 'splits', 'merges'] as const).map((k) => ({ name: k, x, y: a.events.map((e) => e[k]) })), {
    title: 'Feature births, deaths, splits and merges', xTitle: 'training step', yTitle: 'features', seriesTitle: 'event', ...o,
  });
}

/** Mean matched similarity to the final checkpoint and to the next one, against training step. */
export function driftSpec(a: ChainAnalysis, o: LineSpecOptions = {}): TopLevelSpec {
  const x = a.events.map((e) => e.step);
  return lineSpec([
    { name: 'to final checkpoint', x, y: a.events.map((e) => e.meanSimilarityToFinal) },
    { name: 'to next checkpoint', x, y: a.events.map((e) => e.meanSimilarityToNext) },
  ], { title: 'Feature drift (mean similarity of optimally matched features)', xTitle: 'training step', yTitle: 'mean cosine', seriesTitle: 'matched', ...o });
}

/** Live features at each checkpoint by the step their chain was born at (how many of today's features are old). */
export function chainAgeSpec(a: ChainAnalysis, o: LineSpecOptions = {}): TopLevelSpec {
  const T = a.steps.length;
  const series = a.steps.map((born, s) => ({
    name: `born at ${born}`,
    x: a.steps.slice(s),
    y: a.steps.slice(s).map((_, k) => a.chains.filter((c) => c.start === s && c.end >= s + k).length),
  })).filter((_, s) => s < T);
  return lineSpec(series, { title: 'Surviving features by birth checkpoint', xTitle: 'training step', yTitle: 'features', seriesTitle: 'cohort', ...o });
}
