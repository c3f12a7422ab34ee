/**
 * Loading the model the way an SAE was trained: SAELens metadata (model_name, prepend_bos,
 * context_size, model_from_pretrained_kwargs) -> HookedTransformer.fromPretrained options.
 */
import { SAE } from './sae';
import { HookedTransformer, FromPretrainedOptions } from '../model/hookedTransformer';
import { emitWarning } from '../warnings';

/** The fromPretrained options an SAE's metadata can set (HookedTransformer's camelCase names). */
export interface SAEModelOptions {
  revision?: string;
  foldLn?: boolean;
  centerWritingWeights?: boolean;
  centerUnembed?: boolean;
  foldValueBiases?: boolean;
  defaultPrependBos?: boolean;
  [k: string]: unknown;
}

const KWARG_TO_OPTION: Record<string, keyof SAEModelOptions> = {
  fold_ln: 'foldLn',
  center_writing_weights: 'centerWritingWeights',
  center_unembed: 'centerUnembed',
  fold_value_biases: 'foldValueBiases',
  default_prepend_bos: 'defaultPrependBos',
  revision: 'revision',
};

export interface ModelSpecFromSAE {
  /** metadata.model_name (TransformerLens name) */
  modelName?: string;
  /** options for HookedTransformer.fromPretrained: the SAE's kwargs, then the user's */
  options: SAEModelOptions;
  /** metadata.prepend_bos (SAELens default true) */
  prependBos: boolean;
  contextSize?: number;
  hookName: string;
  /** one line per user option that differs from what the SAE was trained with */
  warnings: string[];
}

/**
 * Map an SAE's metadata to model loading options. `userOptions` win, but each that contradicts the
 * SAE's model_from_pretrained_kwargs is reported (returned in `warnings` and emitted as a process warning).
 */
export function modelOptionsFromSAE(sae: SAE | SAE['cfg'], userOptions: SAEModelOptions = {}, opts: { emit?: boolean } = {}): ModelSpecFromSAE {
  const cfg = sae instanceof SAE ? sae.cfg : sae;
  const md = cfg.metadata;
  const kwargs = (md.model_from_pretrained_kwargs ?? {}) as Record<string, unknown>;
  const fromSAE: SAEModelOptions = {};
  for (const [k, v] of Object.entries(kwargs)) {
    const opt = KWARG_TO_OPTION[k];
    if (opt) fromSAE[opt] = v;
    else if (k === 'checkpoint_value' && typeof v === 'number') fromSAE.revision = `step${v}`;
  }
  const warnings: string[] = [];
  for (const [k, v] of Object.entries(userOptions)) {
    if (v === undefined) continue;
    if (k in fromSAE && fromSAE[k] !== v) {
      warnings.push(`the SAE on ${md.hook_name} was trained with ${k}=${JSON.stringify(fromSAE[k])} (model_from_pretrained_kwargs), but the model is loaded with ${k}=${JSON.stringify(v)}: its activations may not match what the SAE expects`);
    }
  }
  if (opts.emit !== false) for (const w of warnings) emitWarning(w, 'SAEModelMismatch');
  const options: SAEModelOptions = { ...fromSAE };
  for (const [k, v] of Object.entries(userOptions)) if (v !== undefined) options[k] = v;
  return {
    modelName: md.model_name,
    options,
    prependBos: md.prepend_bos === undefined ? true : Boolean(md.prepend_bos),
    contextSize: md.context_size,
    hookName: md.hook_name,
    warnings,
  };
}

/**
 * Load the model an SAE was trained on, processed the way its metadata says
 * (model_from_pretrained_kwargs such as center_writing_weights; user options override, with a warning).
 * `modelName` overrides metadata.model_name (e.g. a local folder or a fine-tune of the same model).
 */
export async function loadModelForSAE(sae: SAE, userOptions: FromPretrainedOptions & { modelName?: string } = {}): Promise<HookedTransformer> {
  const { modelName, ...opts } = userOptions;
  const spec = modelOptionsFromSAE(sae, opts as SAEModelOptions);
  const name = modelName ?? spec.modelName;
  if (!name) throw new Error(`the SAE on ${sae.cfg.metadata.hook_name} has no metadata.model_name; pass modelName`);
  const model = await HookedTransformer.fromPretrained(name, spec.options as FromPretrainedOptions);
  checkSAEFitsModel(sae, model);
  return model;
}

/** Throw when the SAE's hook does not exist in the model or its width differs from d_in. */
export function checkSAEFitsModel(sae: SAE, model: HookedTransformer): void {
  const hook = sae.cfg.metadata.hook_name;
  const names = model.hookNames({ includeOptional: true });
  if (!names.includes(hook)) throw new Error(`the SAE's hook ${hook} is not a hook of the model ${model.cfg.model_name} (e.g. ${names.slice(0, 4).join(', ')}, ...)`);
  const c = model.cfg;
  let width: number | undefined;
  if (/hook_(resid_pre|resid_mid|resid_post|attn_out|mlp_out|embed|pos_embed)$/.test(hook)) width = c.d_model;
  else if (/mlp\.hook_(pre|post|pre_linear)$/.test(hook)) width = c.d_mlp ?? undefined;
  else if (/attn\.hook_z$/.test(hook)) width = sae.cfg.reshape_activations === 'hook_z' ? c.n_heads * c.d_head : c.d_head;
  if (width !== undefined && width !== sae.cfg.d_in) {
    throw new Error(`SAE d_in=${sae.cfg.d_in} does not match the model's ${hook} width ${width} (model ${c.model_name}): the SAE was made for another model or hook`);
  }
}
