/**
 * Shared pieces of the circuit methods: the model interface they need, SAE lookup by hook, token
 * parsing, hook ordering, the answer-logit metric and the SAE state (features, error) at a hook.
 */
import * as tf from '@tensorflow/tfjs';
import { parseBlockHook } from '../model/hookNames';
import { ForwardOptions, ForwardResult, HookFn } from '../model/types';
import { HookedTransformerConfig } from '../model/config';
import { SAE } from '../sae/sae';

/** What the circuit methods need from a model (HookedTransformer satisfies it). */
export interface CircuitModel {
  cfg: Pick<HookedTransformerConfig, 'd_vocab' | 'd_vocab_out' | 'n_layers'>;
  forward(tokens: tf.Tensor, opts?: ForwardOptions): ForwardResult;
  hookNames(): string[];
}

/** SAEs keyed by the hook they read (cfg.metadata.hook_name). */
export type SAESet = Map<string, SAE>;

/** A SAESet from a list of SAEs; two SAEs on one hook are an error. */
export function saeSet(saes: SAE[] | SAESet): SAESet {
  if (saes instanceof Map) return saes;
  const m: SAESet = new Map();
  for (const s of saes) {
    const h = s.cfg.metadata.hook_name;
    if (m.has(h)) throw new Error(`two SAEs read hook ${h}; give one SAE per hook`);
    m.set(h, s);
  }
  return m;
}

/** The SAE at a hook, or an Error listing the hooks that have one. */
export function saeAt(saes: SAESet, hook: string): SAE {
  const s = saes.get(hook);
  if (!s) throw new Error(`no SAE for hook '${hook}'; SAEs are loaded for: ${[...saes.keys()].join(', ') || 'none'} (pass --sae ${hook}=<dir>)`);
  return s;
}

/** Hooks in the model's execution order; an unknown hook is an Error naming it. */
export function orderHooks(model: CircuitModel, hooks: Iterable<string>): string[] {
  const order = model.hookNames();
  const list = [...hooks];
  for (const h of list) if (!order.includes(h)) throw new Error(`hook '${h}' is not a hook of the model (e.g. ${order.slice(0, 4).join(', ')}, ...)`);
  return list.sort((a, b) => order.indexOf(a) - order.indexOf(b));
}

/** stopAtLayer that still runs hook `name` (blocks.L.* -> L + 1; embedding hooks -> 0 + 1). */
export function stopLayerAfter(model: CircuitModel, name: string): number | undefined {
  const block = parseBlockHook(name);
  if (block) return Math.min(block.layer + 1, model.cfg.n_layers);
  if (name === 'hook_embed' || name === 'hook_pos_embed') return 1;
  return undefined;
}

/**
 * Token ids from "1 2 3;4 5 6" (sequences split by ';', ids by spaces or commas). All sequences
 * must have the same length (no padding); `what` names the option in errors.
 */
export function parseTokenList(text: string, what: string): number[][] {
  const seqs = text.split(';').map((s) => s.trim()).filter((s) => s.length > 0);
  if (!seqs.length) throw new Error(`${what}: no token sequences in '${text}' (use "<ids>;<ids>", ids separated by spaces or commas)`);
  const rows = seqs.map((s, i) => s.split(/[\s,]+/).filter((x) => x.length).map((x) => {
    const v = Number(x);
    if (!Number.isInteger(v) || v < 0) throw new Error(`${what}: sequence ${i} has '${x}', not a non-negative integer token id`);
    return v;
  }));
  checkEqualLengths(rows, what);
  return rows;
}

/** Every row the same non-zero length, or an Error naming the first that differs. */
export function checkEqualLengths(rows: number[][], what: string): void {
  if (!rows.length) throw new Error(`${what}: no sequences`);
  const T = rows[0].length;
  if (T === 0) throw new Error(`${what}: sequence 0 is empty`);
  rows.forEach((r, i) => {
    if (r.length !== T) throw new Error(`${what}: sequence ${i} has ${r.length} tokens, sequence 0 has ${T}; all sequences must have the same length (no padding)`);
  });
}

/** int32 [batch, pos] from rows of ids. */
export function tokensTensor(rows: number[][]): tf.Tensor2D {
  return tf.tensor2d(rows.flat(), [rows.length, rows[0].length], 'int32');
}

/**
 * Per-example answer-logit difference at the last position: logits[n, T-1, plus[n]] - logits[n, T-1, minus[n]].
 * logits [N, T, V] -> [N]. (Attribution uses plus = patch answer, minus = clean answer.)
 */
export function answerLogitDiff(logits: tf.Tensor3D, plus: number[], minus: number[]): tf.Tensor1D {
  return tf.tidy(() => {
    const [N, T, V] = logits.shape;
    if (plus.length !== N || minus.length !== N) throw new Error(`answers: ${plus.length} and ${minus.length} answers for ${N} sequences; give one answer per sequence`);
    for (const a of [...plus, ...minus]) if (!Number.isInteger(a) || a < 0 || a >= V) throw new Error(`answer token ${a} is outside the vocabulary [0, ${V})`);
    const last = tf.reshape(tf.slice(logits, [0, T - 1, 0], [N, 1, V]), [N, V]);
    const sel = tf.sub(tf.oneHot(tf.tensor1d(plus, 'int32'), V), tf.oneHot(tf.tensor1d(minus, 'int32'), V));
    return tf.sum(tf.mul(last, sel), 1) as tf.Tensor1D;
  });
}

/** Features and error at a hook: f [N, T, d_sae], e (the activation's shape, e.g. [N, T, d_model]). */
export interface SAEState {
  f: tf.Tensor;
  e: tf.Tensor;
}

export function disposeStates(states: Map<string, SAEState>): void {
  for (const s of states.values()) { s.f.dispose(); s.e.dispose(); }
}

/**
 * One unmodified run of the model: f = encode(x), e = x - decode(f) at every SAE hook, and the logits.
 * The caller owns the returned tensors.
 */
export function saeStates(model: CircuitModel, saes: SAESet, tokens: tf.Tensor2D): { states: Map<string, SAEState>; logits: tf.Tensor3D } {
  const states = new Map<string, SAEState>();
  const hooks: Array<[string, HookFn]> = [...saes.entries()].map(([hook, sae]) => [hook, (x) => {
    const r = sae.run(x, { withError: true });
    states.set(hook, { f: tf.keep(r.featureActs), e: tf.keep(r.error!) });
    r.saeOut.dispose();
  }]);
  // only the last position's logits are ever read (answerLogitDiff)
  const logits = model.forward(tokens, { fwdHooks: hooks, logitsToKeep: 1 }).logits!;
  return { states, logits };
}

/** Sum over every axis after the first two: [N, T, ...] -> [N, T]. */
export function sumTrailing(t: tf.Tensor): tf.Tensor2D {
  if (t.rank === 2) return t as tf.Tensor2D;
  const axes = [];
  for (let a = 2; a < t.rank; a++) axes.push(a);
  return tf.sum(t, axes) as tf.Tensor2D;
}

/** A Float32Array copy of a tensor's values. */
export function toF32(t: tf.Tensor): Float32Array {
  return Float32Array.from(t.dataSync() as Float32Array);
}
