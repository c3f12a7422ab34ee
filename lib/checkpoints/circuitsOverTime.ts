/**
 * Sparse feature circuits across training checkpoints. At each checkpoint the circuit of lib/circuits is
 * computed with that checkpoint's model and SAEs (node effects by attribution, nodes above a threshold,
 * edges, faithfulness with mean ablation); nodes are then carried to the next checkpoint through the
 * feature matching between the two checkpoints' SAEs (an error node maps to the error node of the same hook).
 * From that: when the circuit appears (first checkpoint whose faithfulness exceeds a threshold), which
 * nodes persist (their matched partner is in the next circuit), since when each node of the final circuit
 * has been in the circuit along its chain of partners, and faithfulness over training.
 */
import { CircuitModel, SAESet } from '../circuits/common';
import { PromptPairs } from '../circuits/attribution';
import { attributeWithEdges } from '../circuits/featureCircuit';
import { Circuit, CircuitNode, buildCircuit, circuitNodeId } from '../circuits/circuit';
import { FaithfulnessCurve, faithfulnessCurve } from '../circuits/faithfulness';
import type { TopLevelSpec } from 'vega-lite';
import { Row } from '../plots/table';
import { mean } from '../analysis/stats';
import { lineSpec, LineSpecOptions } from '../plots/specs';

export interface CheckpointCircuitOptions {
  /** node attribution method (edges need gradients: atp or ig) */
  method: 'atp' | 'ig';
  /** ig interpolation steps (default 10) */
  igSteps?: number;
  /** nodes with |aggregated effect| above this form the circuit */
  nodeThreshold: number;
  edgeThreshold: number;
  /** thresholds of the faithfulness curve (nodeThreshold is added when missing) */
  thresholds?: number[];
}

/** One checkpoint's circuit and its evaluation. */
export interface CheckpointCircuit {
  label: string;
  step: number;
  /** SAE hooks in model order */
  hooks: string[];
  /** d_sae per hook */
  dSae: Record<string, number>;
  /** aggregated node effects per hook [d_sae + 1] (channel d_sae: the error node) */
  nodeEffects: Record<string, number[]>;
  circuit: Circuit;
  curve: FaithfulnessCurve;
  /** faithfulness and completeness of the circuit at nodeThreshold */
  faithfulness: number;
  completeness: number;
  /** mean logit[patch answer] - logit[clean answer] on clean and patch prompts */
  metricClean: number;
  metricPatch: number;
}


/**
 * The circuit of one checkpoint: attribution (keeping gradients for edges), circuitEdges, buildCircuit and
 * the faithfulness curve, all with this checkpoint's model and SAEs.
 */
export async function checkpointCircuit(model: CircuitModel, saes: SAESet, pairs: PromptPairs, c: { label: string; step: number }, o: CheckpointCircuitOptions): Promise<CheckpointCircuit> {
  const { attribution: attr, edges } = await attributeWithEdges(model, saes, pairs, { method: o.method, steps: o.igSteps ?? 10, nodeThreshold: o.nodeThreshold });
  const circuit: Circuit = buildCircuit(attr, edges, { nodeThreshold: o.nodeThreshold, edgeThreshold: o.edgeThreshold });
  const nodes = new Map<string, Float32Array>(attr.hooks.map((h) => [h, attr.byHook.get(h)!.nodes]));
  const thresholds = [...new Set([...(o.thresholds ?? []), o.nodeThreshold])].sort((a, b) => a - b);
  const curve = await faithfulnessCurve(model, saes, pairs, nodes, thresholds);
  const at = curve.points.find((p) => p.threshold === o.nodeThreshold)!;
  return {
    label: c.label, step: c.step, hooks: attr.hooks,
    dSae: Object.fromEntries(attr.hooks.map((h) => [h, attr.byHook.get(h)!.dSae])),
    nodeEffects: Object.fromEntries(attr.hooks.map((h) => [h, Array.from(attr.byHook.get(h)!.nodes)])),
    circuit, curve, faithfulness: at.faithfulness, completeness: at.completeness,
    metricClean: mean(attr.metricClean), metricPatch: mean(attr.metricPatch),
  };
}

/** Feature assignment from checkpoint t to t + 1 per hook (partner index, -1 = unmatched). */
export type HookAssignments = Record<string, ArrayLike<number>>;

/**
 * The node of checkpoint t + 1 that node n of checkpoint t maps to: a feature through its hook's
 * assignment, an error node to the error node of the same hook; null when unmatched or the hook has no
 * assignment.
 */
export function mapCircuitNode(n: CircuitNode, assign: HookAssignments, dSaeNext: Record<string, number>): string | null {
  if (n.id === 'y') return 'y';
  const dNext = dSaeNext[n.hook];
  if (dNext === undefined) return null;
  if (n.isError) return circuitNodeId(n.hook, dNext, dNext);
  const a = assign[n.hook];
  if (!a) return null;
  if (n.feature < 0 || n.feature >= a.length) throw new Error(`node ${n.id}: feature ${n.feature} outside the assignment of ${n.hook} (length ${a.length}); is the matching of the same SAEs?`);
  const p = a[n.feature];
  return p >= 0 ? circuitNodeId(n.hook, p, dNext) : null;
}

export interface CircuitsOverTimeOptions {
  /** the circuit has appeared at the first checkpoint whose faithfulness exceeds this (default 0.5) */
  appearThreshold?: number;
  /** and whose full model does the task by at least this much: F(M) - F(empty) > minModelEffect (default 0) */
  minModelEffect?: number;
}

export interface CheckpointPersistence {
  label: string;
  step: number;
  /** circuit nodes (features and error nodes, y excluded) */
  nodes: number;
  features: number;
  errorNodes: number;
  faithfulness: number;
  completeness: number;
  /** F(M) - F(empty): how much of the task the model does through these SAEs */
  modelEffect: number;
  /** nodes whose matched partner is in the next checkpoint's circuit (null at the last checkpoint) */
  persisting: number | null;
  /** persisting / nodes (null at the last checkpoint or for an empty circuit) */
  persistShare: number | null;
  /** nodes of this circuit whose matched partner exists but is not in the next circuit, and unmatched ones */
  leaving: number | null;
  /** nodes of this circuit that are partners of no node of the previous circuit (null at the first checkpoint) */
  entering: number | null;
}

/** A node of some checkpoint's circuit with where it maps to. */
export interface TrackedNode {
  checkpoint: number;
  id: string;
  hook: string;
  feature: number;
  isError: boolean;
  effect: number;
  /** partner node at the next checkpoint (null when unmatched or last) */
  next: string | null;
  /** the partner is in the next circuit */
  persists: boolean;
  /** the earliest checkpoint from which this node's chain of partners stayed in every circuit up to here */
  since: number;
}

export interface CircuitsOverTime {
  steps: number[];
  labels: string[];
  perCheckpoint: CheckpointPersistence[];
  /** first checkpoint index whose circuit is faithful (see options), or null */
  appearedAt: number | null;
  nodes: TrackedNode[];
  /** nodes of the final circuit with the step since which they have been in the circuit */
  finalNodes: TrackedNode[];
}

/**
 * Follow circuit nodes through the matchings. `assignments[t]` maps checkpoint t's features to
 * checkpoint t + 1's, per hook (length T - 1).
 */
export function circuitsOverTime(circuits: CheckpointCircuit[], assignments: HookAssignments[], o: CircuitsOverTimeOptions = {}): CircuitsOverTime {
  const T = circuits.length;
  if (T === 0) throw new Error('circuitsOverTime: no checkpoint circuits');
  if (assignments.length !== T - 1) throw new Error(`circuitsOverTime: ${T} checkpoints need ${T - 1} assignments (t -> t + 1), got ${assignments.length}`);
  const appear = o.appearThreshold ?? 0.5;
  const minEffect = o.minModelEffect ?? 0;
  const sets = circuits.map((c) => new Set(c.circuit.nodes.filter((n) => n.id !== 'y').map((n) => n.id)));
  const nodes: TrackedNode[] = [];
  const sinceOf: Array<Map<string, number>> = [];
  const perCheckpoint: CheckpointPersistence[] = [];
  const entering: Array<number | null> = circuits.map(() => null);
  for (let t = 0; t < T; t++) {
    const c = circuits[t];
    const own = c.circuit.nodes.filter((n) => n.id !== 'y');
    const since = new Map<string, number>();
    // a node has been in the circuit since s when a node of circuit t - 1 maps onto it and was there since s
    const arrivals = new Map<string, number>();
    if (t > 0) {
      for (const p of nodes.filter((x) => x.checkpoint === t - 1 && x.persists)) arrivals.set(p.next!, sinceOf[t - 1].get(p.id)!);
      entering[t] = own.filter((n) => !arrivals.has(n.id)).length;
    }
    for (const n of own) since.set(n.id, arrivals.get(n.id) ?? t);
    sinceOf.push(since);
    let persisting: number | null = null;
    for (const n of own) {
      const next = t < T - 1 ? mapCircuitNode(n, assignments[t], circuits[t + 1].dSae) : null;
      const persists = next !== null && sets[t + 1].has(next);
      nodes.push({ checkpoint: t, id: n.id, hook: n.hook, feature: n.feature, isError: n.isError, effect: n.effect, next, persists, since: since.get(n.id)! });
    }
    if (t < T - 1) persisting = nodes.filter((x) => x.checkpoint === t && x.persists).length;
    const point = c.curve;
    perCheckpoint.push({
      label: c.label, step: c.step, nodes: own.length, features: own.filter((n) => !n.isError).length, errorNodes: own.filter((n) => n.isError).length,
      faithfulness: c.faithfulness, completeness: c.completeness, modelEffect: point.fModel - point.fEmpty,
      persisting, persistShare: persisting === null || own.length === 0 ? null : persisting / own.length,
      leaving: persisting === null ? null : own.length - persisting, entering: entering[t],
    });
  }
  const ok = (p: CheckpointPersistence) => p.faithfulness > appear && p.modelEffect > minEffect;
  const first = perCheckpoint.findIndex(ok);
  return {
    steps: circuits.map((c) => c.step), labels: circuits.map((c) => c.label), perCheckpoint,
    appearedAt: first >= 0 ? first : null, nodes, finalNodes: nodes.filter((n) => n.checkpoint === T - 1),
  };
}

/** One row per checkpoint: circuit size, faithfulness, persisting / entering nodes. */
export function circuitsOverTimeTable(r: CircuitsOverTime): Row[] {
  return r.perCheckpoint.map((p, t) => ({
    checkpoint: p.label, step: p.step, nodes: p.nodes, features: p.features, 'error nodes': p.errorNodes,
    faithfulness: p.faithfulness, completeness: p.completeness, 'F(M) - F(empty)': p.modelEffect,
    'persist to next': p.persisting, 'persist %': p.persistShare === null ? null : 100 * p.persistShare, 'new (no partner in previous)': p.entering,
    appeared: r.appearedAt === t ? 'here' : '',
  }));
}

/** The final circuit's nodes: effect and the step since which their chain has been in every circuit. */
export function finalCircuitNodesTable(r: CircuitsOverTime, describe?: (n: TrackedNode) => string): Row[] {
  return [...r.finalNodes].sort((a, b) => Math.abs(b.effect) - Math.abs(a.effect)).map((n) => ({
    node: n.id, hook: n.hook, kind: n.isError ? 'error' : 'feature', effect: n.effect,
    'in circuit since step': r.steps[n.since], ...(describe ? { context: describe(n) } : {}),
  }));
}

/** Faithfulness / completeness against training step, and circuit size with the nodes persisting to the next checkpoint. */
export function circuitsOverTimeSpecs(r: CircuitsOverTime, o: LineSpecOptions = {}): { faithfulness: TopLevelSpec; persistence: TopLevelSpec } {
  const x = r.steps;
  const p = r.perCheckpoint;
  return {
    faithfulness: lineSpec([
      { name: 'faithfulness', x, y: p.map((q) => q.faithfulness) },
      { name: 'completeness', x, y: p.map((q) => q.completeness) },
    ], { title: 'Circuit faithfulness over training', xTitle: 'model training step', yTitle: 'normalised metric', seriesTitle: 'measure', ...o }),
    persistence: lineSpec([
      { name: 'circuit nodes', x, y: p.map((q) => q.nodes) },
      { name: 'persist to next checkpoint', x: x.slice(0, -1), y: p.slice(0, -1).map((q) => q.persisting ?? NaN) },
      { name: 'new (no partner in previous circuit)', x: x.slice(1), y: p.slice(1).map((q) => q.entering ?? NaN) },
    ], { title: 'Circuit nodes over training', xTitle: 'model training step', yTitle: 'nodes', seriesTitle: 'nodes', ...o }),
  };
}
