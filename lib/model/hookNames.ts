/**
 * TransformerLens hook-point names, defined here once: the tables below list every hook point with its
 * shape and when it exists. The forward (hookedTransformer.ts) names its points through `blockHook` /
 * the `BlockHookPoint` and `ModelHookPoint` types (a name not in the tables does not compile),
 * `hookNamesFor` lists them in execution order, `hookPointsMarkdown` is the table in docs/model.md
 * (a test checks it is current) and `saelab cache --help` prints `hookPointsText`.
 */
import { HookedTransformerConfig } from './config';

/** One hook point: its shape (TransformerLens's), when it exists, and what it holds. */
export interface HookPointInfo {
  shape: string;
  /** whether the point exists for a config; `withOptional` also lists points computed only on request */
  exists?(cfg: HookedTransformerConfig, withOptional: boolean): boolean;
  /** `exists` in words (docs and --help) */
  when?: string;
  doc: string;
}

const normed = (cfg: HookedTransformerConfig) => cfg.normalization_type !== null;
const hasMlp = (cfg: HookedTransformerConfig) => !cfg.attn_only;

/** Points of every block `blocks.L.<point>`, in execution order. */
export const BLOCK_HOOK_POINTS = {
  hook_resid_pre: { shape: '[batch, pos, d_model]', doc: 'residual stream into the block' },
  'ln1.hook_scale': { shape: '[batch, pos, 1]', exists: normed, when: 'normalization', doc: 'LayerNorm / RMSNorm scale before attention' },
  'ln1.hook_normalized': { shape: '[batch, pos, d_model]', exists: normed, when: 'normalization', doc: 'normalized input of attention (LayerNorm: with w and b; RMSNorm: without w)' },
  'attn.hook_q': { shape: '[batch, pos, n_heads, d_head]', doc: 'queries' },
  'attn.hook_k': { shape: '[batch, pos, n_key_value_heads, d_head]', doc: 'keys (the key/value heads under grouped-query attention)' },
  'attn.hook_v': { shape: '[batch, pos, n_key_value_heads, d_head]', doc: 'values' },
  'attn.hook_rot_q': { shape: '[batch, pos, n_heads, d_head]', exists: (cfg) => cfg.positional_embedding_type === 'rotary', when: 'rotary positions', doc: 'queries after the rotary embedding' },
  'attn.hook_rot_k': { shape: '[batch, pos, n_key_value_heads, d_head]', exists: (cfg) => cfg.positional_embedding_type === 'rotary', when: 'rotary positions', doc: 'keys after the rotary embedding' },
  'attn.hook_attn_scores': { shape: '[batch, n_heads, query_pos, key_pos]', doc: 'attention scores, masked entries -inf' },
  'attn.hook_pattern': { shape: '[batch, n_heads, query_pos, key_pos]', doc: 'attention pattern (softmax of the scores)' },
  'attn.hook_z': { shape: '[batch, pos, n_heads, d_head]', doc: 'pattern-weighted values' },
  'attn.hook_result': {
    shape: '[batch, pos, n_heads, d_model]', exists: (cfg, withOptional) => withOptional || cfg.use_attn_result,
    when: 'cfg.use_attn_result, or asked for by exact name', doc: 'each head\'s output',
  },
  hook_attn_out: { shape: '[batch, pos, d_model]', doc: 'attention output' },
  hook_resid_mid: { shape: '[batch, pos, d_model]', exists: (cfg) => hasMlp(cfg) && !cfg.parallel_attn_mlp, when: 'an MLP, not parallel attention + MLP', doc: 'residual stream between attention and MLP' },
  'ln2.hook_scale': { shape: '[batch, pos, 1]', exists: (cfg) => hasMlp(cfg) && normed(cfg), when: 'an MLP and normalization', doc: 'LayerNorm / RMSNorm scale before the MLP' },
  'ln2.hook_normalized': { shape: '[batch, pos, d_model]', exists: (cfg) => hasMlp(cfg) && normed(cfg), when: 'an MLP and normalization', doc: 'normalized input of the MLP' },
  'mlp.hook_pre': { shape: '[batch, pos, d_mlp]', exists: hasMlp, when: 'an MLP', doc: 'MLP pre-activation (gated: the gate)' },
  'mlp.hook_pre_linear': { shape: '[batch, pos, d_mlp]', exists: (cfg) => hasMlp(cfg) && cfg.gated_mlp, when: 'a gated MLP', doc: 'the linear (ungated) input' },
  'mlp.hook_post': { shape: '[batch, pos, d_mlp]', exists: hasMlp, when: 'an MLP', doc: 'MLP activation' },
  hook_mlp_out: { shape: '[batch, pos, d_model]', exists: hasMlp, when: 'an MLP', doc: 'MLP output' },
  hook_resid_post: { shape: '[batch, pos, d_model]', doc: 'residual stream out of the block' },
} satisfies Record<string, HookPointInfo>;

/** Points outside the blocks, by where they run (embedding first, final norm last). */
export const MODEL_HOOK_POINTS = {
  hook_embed: { shape: '[batch, pos, d_model]', doc: 'token embedding' },
  hook_pos_embed: { shape: '[batch, pos, d_model]', exists: (cfg) => cfg.positional_embedding_type === 'standard', when: 'learned positions', doc: 'positional embedding' },
  'ln_final.hook_scale': { shape: '[batch, pos, 1]', exists: normed, when: 'normalization', doc: 'final norm scale' },
  'ln_final.hook_normalized': { shape: '[batch, pos, d_model]', exists: normed, when: 'normalization', doc: 'normalized input of the unembedding' },
} satisfies Record<string, HookPointInfo>;

export type BlockHookPoint = keyof typeof BLOCK_HOOK_POINTS;
export type ModelHookPoint = keyof typeof MODEL_HOOK_POINTS;

/** The full name of a point of block `layer`: `blocks.<layer>.<point>`. */
export function blockHook(layer: number, point: BlockHookPoint): string {
  return `blocks.${layer}.${point}`;
}

/** A model-level point's name (typed, so only names of MODEL_HOOK_POINTS compile). */
export function modelHook(point: ModelHookPoint): string {
  return point;
}

const exists = (p: HookPointInfo, cfg: HookedTransformerConfig, withOptional: boolean) => !p.exists || p.exists(cfg, withOptional);

/** The hook points of one block for a config, in execution order. */
export function blockHookNames(cfg: HookedTransformerConfig, layer: number, withOptional: boolean): string[] {
  return Object.entries(BLOCK_HOOK_POINTS).filter(([, p]) => exists(p, cfg, withOptional)).map(([k]) => blockHook(layer, k as BlockHookPoint));
}

/** Every hook point of a model in execution order (TransformerLens's hook_dict order). */
export function hookNamesFor(cfg: HookedTransformerConfig, withOptional = false): string[] {
  const model = (k: ModelHookPoint) => (exists(MODEL_HOOK_POINTS[k], cfg, withOptional) ? [k] : []);
  const names: string[] = [...model('hook_embed'), ...model('hook_pos_embed')];
  for (let l = 0; l < cfg.n_layers; l++) names.push(...blockHookNames(cfg, l, withOptional));
  names.push(...model('ln_final.hook_scale'), ...model('ln_final.hook_normalized'));
  return names;
}

/** A per-block hook name split into its layer and point (`blocks.3.attn.hook_z` -> 3, `attn.hook_z`), or null. */
export function parseBlockHook(name: string): { layer: number; point: string } | null {
  const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
  return m ? { layer: Number(m[1]), point: m[2] } : null;
}

/** The layer after which a hook's value is known: blocks.L.* -> L + 1; embeddings -> 0; otherwise undefined (run every layer). */
export function stopAtLayerFor(name: string): number | undefined {
  const p = parseBlockHook(name);
  if (p) return p.layer + 1;
  if (name === 'hook_embed' || name === 'hook_pos_embed' || name === 'hook_tokens') return 0;
  return undefined;
}

/** The layer of a per-block hook name; an error naming the hook when it is not `blocks.L.…`. */
export function hookLayer(name: string, what = 'this'): number {
  const p = parseBlockHook(name);
  if (!p) throw new Error(`hook '${name}' is not a per-block hook (blocks.L....): ${what} needs one`);
  return p.layer;
}

/** [name, shape, when, doc] of every point in execution order (block points as blocks.L.<point>). */
function hookPointRows(): string[][] {
  const row = (name: string, p: HookPointInfo) => [name, p.shape, p.when ?? 'always', p.doc];
  const m = MODEL_HOOK_POINTS;
  return [
    row('hook_embed', m.hook_embed), row('hook_pos_embed', m.hook_pos_embed),
    ...Object.entries(BLOCK_HOOK_POINTS).map(([k, p]) => row(`blocks.L.${k}`, p)),
    row('ln_final.hook_scale', m['ln_final.hook_scale']), row('ln_final.hook_normalized', m['ln_final.hook_normalized']),
  ];
}

/** The hook points as a markdown table (docs/model.md holds this table; a test checks it is current). */
export function hookPointsMarkdown(): string {
  return ['| hook | shape | exists with | holds |', '|---|---|---|---|', ...hookPointRows().map((r) => `| \`${r[0]}\` | ${r[1]} | ${r[2]} | ${r[3]} |`)].join('\n');
}

/** The hook points as plain text for --help: one per line, name, shape and when it exists. */
export function hookPointsText(): string {
  const all = hookPointRows();
  const w = Math.max(...all.map((r) => r[0].length));
  return all.map((r) => `  ${r[0].padEnd(w)}  ${r[1]}${r[2] === 'always' ? '' : ` (${r[2]})`}`).join('\n');
}
