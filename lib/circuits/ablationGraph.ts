/**
 * Seed 003's feature-ablation graph, done right: pick features at the first hook of a layer range
 * (a seeded thinning fraction, or pinned ids), ablate each (ablationEffects), keep the top-k
 * downstream features by |effect| as edges and as the next hook's picks, and so on over the range.
 * Nodes carry their most up- and down-weighted next tokens and, optionally, top activating contexts.
 */
import * as tf from '@tensorflow/tfjs';
import { parseBlockHook } from '../model/hookNames';
import { HookFn } from '../model/types';
import { SAE } from '../sae/sae';
import { CircuitModel, SAESet, orderHooks, saeAt, stopLayerAfter, tokensTensor } from './common';
import { CleanRun, ablationEffects, ablationRowsPerPass, disposeCleanRun, recordCleanRun } from './ablation';
import { GraphSpec, effectFill, renderDotSvg, toDot } from './graphviz';
import { mulberry32 as rng } from '../data/random';
import { ProgressFactory } from '../notebook/progress';

export interface TokenEffect { id: number; token: string; effect: number }
export interface ActivatingContext { row: number; pos: number; act: number; text: string }

export interface AblationGraphNode {
  /** "L.j" (L: the hook's block index, or the hook name) */
  id: string;
  hook: string;
  feature: number;
  /** most increased next tokens when the feature is ablated ... */
  upTokens: TokenEffect[];
  /** ... and most decreased */
  downTokens: TokenEffect[];
  contexts?: ActivatingContext[];
}

export interface AblationGraphEdge { from: string; to: string; effect: number }

/** The ablation effects measured at one hook of the range (one row per ablated feature). */
export interface AblationLevel {
  hook: string;
  /** the next hook of the range (absent at the last hook: log-prob effects only) */
  next?: string;
  /** ablated feature ids at `hook`, in row order */
  features: number[];
  /** [features.length, dSaeDownstream] row-major (empty without `next`) */
  featureEffects: Float32Array;
  dSaeDownstream: number;
  /** [dSaeDownstream] clean activation of each downstream feature at the last position, mean over sequences */
  cleanDownstreamMean: Float32Array;
  /** [features.length, dVocab] row-major: change of next-token log-probabilities at the last position */
  logprobEffects: Float32Array;
  dVocab: number;
}

export interface AblationGraph {
  hooks: string[];
  nodes: AblationGraphNode[];
  edges: AblationGraphEdge[];
  /** the full effects behind the graph, per hook in range order */
  levels: AblationLevel[];
}

export interface AblationGraphOptions {
  /** the layer range: SAE hooks in model order */
  hooks: string[];
  /** fraction of the first hook's features to pick at random (default 0.01; at least one) */
  thinning?: number;
  /** feature ids at the first hook (override thinning) */
  pinned?: number[];
  /** downstream features kept per ablated feature (default 3) */
  branching?: number;
  /** seed of the thinning draw (default 0) */
  seed?: number;
  /** edges need |effect| above this (default 0) */
  minEffect?: number;
  /** token id -> text for the token lists and contexts (default: the id) */
  decodeToken?: (id: number) => string;
  /** tokens listed per direction (default 3) */
  topTokens?: number;
  /** sequences searched for top activating contexts (all of one length) */
  contexts?: number[][];
  /** contexts per node (default 3) and tokens shown before the max (default 6) */
  contextsPerNode?: number;
  contextWindow?: number;
  featuresPerPass?: number;
  /** sequence copies per forward pass (ablationEffects' maxRowsPerPass; also bounds the top-context passes) */
  maxRowsPerPass?: number;
  /** progress of each hook's clean and ablated passes (default none) */
  progress?: ProgressFactory;
}

/**
 * One id per (hook, feature): "L.j" for blocks.L.hook_resid_pre (the seed's labels), "L.<point>.j" for the other
 * hooks of block L ("0.resid_post.12", so blocks.0.hook_resid_pre and blocks.0.hook_resid_post never share an id),
 * else "<hook>.j".
 */
export function nodeId(hook: string, feature: number | 'err'): string {
  const block = parseBlockHook(hook);
  if (!block) return `${hook}.${feature}`;
  if (block.point === 'hook_resid_pre') return `${block.layer}.${feature}`;
  return `${block.layer}.${block.point.replace(/^hook_/, '')}.${feature}`;
}


/** max(1, round(fraction * d)) distinct ids from [0, d), sorted, drawn with a seeded shuffle. */
export function thinFeatures(d: number, fraction: number, seed = 0): number[] {
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`thinning fraction must be in (0, 1], got ${fraction}`);
  const n = Math.max(1, Math.round(fraction * d));
  const ids = Array.from({ length: d }, (_, i) => i);
  const r = rng(seed);
  for (let i = d - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  return ids.slice(0, n).sort((a, b) => a - b);
}

/** Column means of a row-major [rows, d] array. */
function columnMeans(a: Float32Array, d: number): Float32Array {
  const out = new Float32Array(d);
  if (!d) return out;
  const rows = a.length / d;
  for (let i = 0; i < a.length; i++) out[i % d] += a[i] / rows;
  return out;
}

/** Indices of the k largest values of score (ties: lower index first). */
function topK(score: (i: number) => number, n: number, k: number): number[] {
  return Array.from({ length: n }, (_, i) => i).sort((a, b) => score(b) - score(a) || a - b).slice(0, k);
}

/**
 * Top activating contexts of `features` of the SAE at its hook over `contexts` ([M][T] token ids):
 * per feature the k sequences with the largest max activation, as text ending at the max position. The
 * model runs only up to the hook, `rowsPerPass` contexts at a time (default: what keeps [rows, T, d_sae]
 * within ABLATION_PASS_BYTES).
 */
export function topActivatingContexts(model: CircuitModel, sae: SAE, contexts: number[][], features: number[], opts: { k?: number; window?: number; decodeToken?: (id: number) => string; rowsPerPass?: number } = {}): Map<number, ActivatingContext[]> {
  const hook = sae.cfg.metadata.hook_name;
  const [M, T] = [contexts.length, contexts[0].length];
  const F = features.length;
  // the hook's features of the picked ids [M, T, F], encoded in row chunks (the full [rows, T, d_sae] never exists)
  const a = new Float32Array(M * T * F);
  const ids = tf.tensor1d(features, 'int32');
  const rowsPerPass = Math.max(1, opts.rowsPerPass ?? ablationRowsPerPass(T, sae.cfg.d_sae));
  try {
    for (let m0 = 0; m0 < M; m0 += rowsPerPass) {
      const rows = contexts.slice(m0, m0 + rowsPerPass);
      const tokens = tokensTensor(rows);
      let acts: tf.Tensor | undefined;
      const read: HookFn = (x) => { acts = tf.keep(tf.tidy(() => tf.gather(sae.encode(x), ids, 2))); };
      model.forward(tokens, { fwdHooks: [[hook, read]], stopAtLayer: stopLayerAfter(model, hook), returnType: 'none' });
      tokens.dispose();
      if (!acts) throw new Error(`hook ${hook} did not run in the forward pass`);
      a.set(acts.dataSync() as Float32Array, m0 * T * F);
      acts.dispose();
    }
  } finally {
    ids.dispose();
  }
  return contextsFromActivations(a, contexts, features, opts);
}

/**
 * Top activating contexts from the activations `a` [M, T, F] (row-major; F = features.length) of `features`
 * over `contexts` ([M][T] token ids): per feature the k sequences with the largest positive max activation
 * (its first position), largest first, as text ending at the max position.
 */
export function contextsFromActivations(a: Float32Array, contexts: number[][], features: number[], opts: { k?: number; window?: number; decodeToken?: (id: number) => string } = {}): Map<number, ActivatingContext[]> {
  const k = opts.k ?? 3;
  const win = opts.window ?? 6;
  const dec = opts.decodeToken ?? ((id: number) => String(id));
  const [M, T] = [contexts.length, contexts[0].length];
  const F = features.length;
  if (a.length !== M * T * F) throw new Error(`contextsFromActivations: ${a.length} activations for [${M}, ${T}, ${F}]`);
  const out = new Map<number, ActivatingContext[]>();
  features.forEach((f, fi) => {
    const best: ActivatingContext[] = [];
    for (let m = 0; m < M; m++) {
      let pos = 0;
      for (let t = 1; t < T; t++) if (a[(m * T + t) * F + fi] > a[(m * T + pos) * F + fi]) pos = t;
      const act = a[(m * T + pos) * F + fi];
      if (act <= 0) continue;
      const start = Math.max(0, pos - win);
      const text = contexts[m].slice(start, pos).map(dec).join('') + `[${dec(contexts[m][pos])}]`;
      best.push({ row: m, pos, act, text });
    }
    out.set(f, best.sort((x, y) => y.act - x.act).slice(0, k));
  });
  return out;
}

/** Whether two lists of token rows are equal. */
function sameRows(a: number[][], b: number[][]): boolean {
  return a === b || (a.length === b.length && a.every((r, i) => r.length === b[i].length && r.every((v, t) => v === b[i][t])));
}

/** Build the ablation graph over a layer range (see the module comment). tokens [N][T]. */
export async function ablationGraph(model: CircuitModel, saes: SAESet, tokens: number[][], opts: AblationGraphOptions): Promise<AblationGraph> {
  if (!opts.hooks.length) throw new Error('ablationGraph needs at least one hook in the layer range');
  const hooks = orderHooks(model, opts.hooks);
  if (hooks.some((h, i) => h !== opts.hooks[i])) throw new Error(`hooks must be given in model order: ${hooks.join(', ')}`);
  const branching = opts.branching ?? 3;
  const topN = opts.topTokens ?? 3;
  const minEffect = opts.minEffect ?? 0;
  const dec = opts.decodeToken ?? ((id: number) => String(id));
  const first = saeAt(saes, hooks[0]);
  let picks = opts.pinned?.length ? [...new Set(opts.pinned)].sort((a, b) => a - b) : thinFeatures(first.cfg.d_sae, opts.thinning ?? 0.01, opts.seed ?? 0);
  const tk = tokensTensor(tokens);
  const nodes: AblationGraphNode[] = [];
  const edges: AblationGraphEdge[] = [];
  const levels: AblationLevel[] = [];
  let clean: CleanRun | undefined;
  try {
    // one clean run for every level: the activations at each hook, the readouts at each next hook, the log-probs
    clean = await recordCleanRun(model, saes, tk, hooks, hooks.slice(1), { rowsPerPass: opts.maxRowsPerPass, progress: opts.progress });
    for (let i = 0; i < hooks.length && picks.length; i++) {
      const hook = hooks[i];
      const next = hooks[i + 1];
      const r = await ablationEffects(model, saes, tk, { layerHook: hook, downstreamHook: next, features: picks, featuresPerPass: opts.featuresPerPass, maxRowsPerPass: opts.maxRowsPerPass, progress: opts.progress, clean });
      for (const c of clean.activations.get(hook)!) c.x.dispose();
      clean.activations.set(hook, []);
      levels.push({ hook, next, features: [...picks], featureEffects: r.featureEffects, dSaeDownstream: r.dSaeDownstream, cleanDownstreamMean: columnMeans(r.cleanDownstream, r.dSaeDownstream), logprobEffects: r.logprobEffects, dVocab: r.dVocab });
      // contexts: from the activations the clean passes recorded when they are the ablated sequences, else their own passes
      const ctxOpts = { k: opts.contextsPerNode, window: opts.contextWindow, decodeToken: dec };
      const ctx = !opts.contexts?.length ? undefined
        : sameRows(opts.contexts, tokens) ? contextsFromActivations(r.featureActs, opts.contexts, picks, ctxOpts)
          : topActivatingContexts(model, saeAt(saes, hook), opts.contexts, picks, { ...ctxOpts, rowsPerPass: opts.maxRowsPerPass });
      const nextPicks = new Set<number>();
      picks.forEach((j, row) => {
        const lp = r.logprobEffects.subarray(row * r.dVocab, (row + 1) * r.dVocab);
        const tokenList = (ids: number[]) => ids.map((id) => ({ id, token: dec(id), effect: lp[id] }));
        nodes.push({
          id: nodeId(hook, j), hook, feature: j,
          upTokens: tokenList(topK((v) => lp[v], r.dVocab, topN)),
          downTokens: tokenList(topK((v) => -lp[v], r.dVocab, topN)),
          contexts: ctx?.get(j),
        });
        if (!next) return;
        const fe = r.featureEffects.subarray(row * r.dSaeDownstream, (row + 1) * r.dSaeDownstream);
        for (const k of topK((v) => Math.abs(fe[v]), r.dSaeDownstream, branching)) {
          if (Math.abs(fe[k]) <= minEffect) continue;
          edges.push({ from: nodeId(hook, j), to: nodeId(next, k), effect: fe[k] });
          nextPicks.add(k);
        }
      });
      picks = [...nextPicks].sort((a, b) => a - b);
    }
  } finally {
    tk.dispose();
    if (clean) disposeCleanRun(clean);
  }
  return { hooks, nodes, edges, levels };
}

/**
 * A next-token effect as a person reads it: the token quoted (a token that is part of a multi-byte
 * character decodes to U+FFFD: named by id, `<token 166>`, instead of '"?"') and the signed effect.
 */
export function tokenEffectText(t: TokenEffect, digits: number): string {
  return `${t.token.includes('\uFFFD') ? `<token ${t.id}>` : JSON.stringify(t.token)} ${t.effect >= 0 ? '+' : ''}${t.effect.toFixed(digits)}`;
}

/** Graph spec of an ablation graph: one row per hook (a column each when rows are wide), edges blue (increase) / red (decrease). */
export function ablationGraphSpec(g: AblationGraph, title?: string): GraphSpec {
  const fmt = (t: TokenEffect) => tokenEffectText(t, 3);
  const widest = Math.max(0, ...g.hooks.map((h) => g.nodes.filter((n) => n.hook === h).length));
  return {
    title,
    // hooks as columns (left to right) when a row would be too wide to read
    rankdir: widest > 8 ? 'LR' : 'BT',
    groups: g.hooks,
    nodes: g.nodes.map((n) => ({
      id: n.id,
      label: n.id,
      group: n.hook,
      details: [
        ...(n.contexts ?? []).map((c) => c.text),
        `up: ${n.upTokens.map(fmt).join(', ')}`,
        `down: ${n.downTokens.map(fmt).join(', ')}`,
      ],
      fill: effectFill(0, 1),
    })),
    edges: g.edges.map((e) => ({ from: e.from, to: e.to, weight: e.effect })),
  };
}

/** DOT text of an ablation graph. */
export function ablationGraphDot(g: AblationGraph, title?: string): string {
  return toDot(ablationGraphSpec(g, title));
}

/** SVG of an ablation graph (Graphviz wasm). */
export async function ablationGraphSvg(g: AblationGraph, title?: string): Promise<string> {
  return renderDotSvg(ablationGraphDot(g, title));
}
