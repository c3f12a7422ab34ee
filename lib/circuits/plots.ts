/**
 * Notebook views of circuit results as Vega-Lite specs: agreement of two attribution methods
 * (scatter with least-squares line and r) and faithfulness / completeness curves over thresholds.
 */
import { linearRegression, linearRegressionParts, RegressionLine } from '../analysis/stats';
import type { TopLevelSpec } from 'vega-lite';
import { lineSpec, scatterRegressionSpec } from '../plots/specs';
import { AttributionResult } from './attribution';
import { FaithfulnessCurve } from './faithfulness';

export interface MethodAgreement {
  /** node effects of method a and b, paired (all hooks; per-position effects or aggregated nodes) */
  a: Float32Array;
  b: Float32Array;
  line: RegressionLine;
}

/** The effect arrays two attributions pair at `level`, hook by hook (checked to match). */
function pairedEffects(a: AttributionResult, b: AttributionResult, level: 'nodes' | 'positions'): Array<[Float32Array, Float32Array]> {
  if (a.hooks.join() !== b.hooks.join()) throw new Error(`the attributions cover different hooks: ${a.hooks.join(', ')} vs ${b.hooks.join(', ')}`);
  return a.hooks.map((h) => {
    const [u, v] = level === 'nodes' ? [a.byHook.get(h)!.nodes, b.byHook.get(h)!.nodes] : [a.byHook.get(h)!.effects, b.byHook.get(h)!.effects];
    if (u.length !== v.length) throw new Error(`${h}: ${u.length} vs ${v.length} effects (same prompts and SAEs?)`);
    return [u, v];
  });
}

/**
 * Pair the effects of two attributions of the same prompts and SAEs. level 'nodes': aggregated
 * [d_sae + 1] per hook; 'positions': every [N, T, d_sae + 1] entry.
 */
export function methodAgreement(a: AttributionResult, b: AttributionResult, level: 'nodes' | 'positions' = 'nodes'): MethodAgreement {
  const parts = pairedEffects(a, b, level);
  const total = parts.reduce((s, [u]) => s + u.length, 0);
  const x = new Float32Array(total);
  const y = new Float32Array(total);
  let at = 0;
  for (const [u, v] of parts) {
    x.set(u, at);
    y.set(v, at);
    at += u.length;
  }
  return { a: x, b: y, line: linearRegression(x, y) };
}

/** Paired effects above which agreementLine regresses in float64 over the parts instead of one float32 tensor. */
export const AGREEMENT_TENSOR_MAX = 1 << 25;

/**
 * The regression line of methodAgreement without the paired copies when they are large (more than
 * AGREEMENT_TENSOR_MAX entries, e.g. per-position effects of 100 pairs at 7 hooks x 32,768: 138M): float64
 * sums over the effect arrays in place; below that the same float32 computation as methodAgreement.
 */
export function agreementLine(a: AttributionResult, b: AttributionResult, level: 'nodes' | 'positions' = 'nodes'): RegressionLine {
  const parts = pairedEffects(a, b, level);
  const total = parts.reduce((s, [u]) => s + u.length, 0);
  if (total <= AGREEMENT_TENSOR_MAX) return methodAgreement(a, b, level).line;
  return linearRegressionParts(parts.map(([u]) => u), parts.map(([, v]) => v));
}

/** Scatter of method b against method a with its regression line and r. */
export function methodAgreementSpec(a: AttributionResult, b: AttributionResult, level: 'nodes' | 'positions' = 'nodes'): TopLevelSpec {
  const m = methodAgreement(a, b, level);
  return scatterRegressionSpec(m.a, m.b, m.line, { title: `${b.method} vs ${a.method} node effects`, xTitle: `${a.method} effect`, yTitle: `${b.method} effect` });
}

/** Faithfulness and completeness against circuit size (nodes) or threshold. */
export function faithfulnessSpec(curve: FaithfulnessCurve, x: 'nodes' | 'threshold' = 'nodes'): TopLevelSpec {
  const pts = [...curve.points].sort((p, q) => (x === 'nodes' ? p.nNodes - q.nNodes : p.threshold - q.threshold));
  const xs = pts.map((p) => (x === 'nodes' ? p.nNodes : p.threshold));
  return lineSpec([
    { name: 'faithfulness', x: xs, y: pts.map((p) => p.faithfulness) },
    { name: 'completeness', x: xs, y: pts.map((p) => p.completeness) },
  ], { title: 'Circuit faithfulness (mean ablation)', xTitle: x === 'nodes' ? 'circuit nodes' : 'node threshold', yTitle: 'normalised metric', seriesTitle: 'measure' });
}

/**
 * Faithfulness (left panel) and completeness (right panel) against the node threshold (log axis), one
 * colour per curve (e.g. per attribution method). Thresholds must be positive.
 */
export function faithfulnessCurvesSpec(curves: Record<string, FaithfulnessCurve>, opts: { title?: string } = {}): TopLevelSpec {
  const rows: Array<Record<string, string | number>> = [];
  for (const [name, c] of Object.entries(curves)) {
    for (const p of c.points) {
      if (!(p.threshold > 0)) throw new Error(`faithfulnessCurvesSpec: threshold ${p.threshold} of '${name}' is not positive (log axis)`);
      rows.push({ curve: name, measure: 'faithfulness', threshold: p.threshold, value: p.faithfulness, nodes: p.nNodes });
      rows.push({ curve: name, measure: 'completeness', threshold: p.threshold, value: p.completeness, nodes: p.nNodes });
    }
  }
  return {
    title: opts.title ?? 'Faithfulness and completeness over node thresholds (mean ablation)',
    data: { values: rows },
    facet: { column: { field: 'measure', type: 'nominal', title: null, sort: ['faithfulness', 'completeness'] } },
    spec: {
      width: 300,
      height: 240,
      mark: { type: 'line', point: true, tooltip: true },
      encoding: {
        x: { field: 'threshold', type: 'quantitative', scale: { type: 'log' }, title: 'node threshold |effect|' },
        y: { field: 'value', type: 'quantitative', title: 'normalised metric (1 = full model, 0 = empty circuit)' },
        color: { field: 'curve', type: 'nominal', title: 'nodes by' },
      },
    },
  } as TopLevelSpec;
}
