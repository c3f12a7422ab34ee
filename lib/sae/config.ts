/**
 * SAE configuration in SAELens's cfg.json vocabulary (v6 layout), with parsing of v6 and
 * pre-6.0 files and serialisation back to a v6 cfg.json that SAELens 6 loads. Architecture-specific
 * fields (k, d_out, ...) come from the architecture registry (./architectures).
 */
import { SAELAB_VERSION } from '../version';
import { comparePep440, parsePep440 } from './pep440';
import { DEFAULT_ARCHITECTURE, allArchitectures, inferenceArchitecture, listArchitectures } from './architectures';
import { ConfigError, describeValue } from '../io/errors';

/** An architecture name from the registry (lib/sae/architectures): standard, gated, jumprelu, topk, transcoder, ... */
export type SAEArchitecture = string;
export type NormalizeActivations = 'none' | 'expected_average_only_in' | 'constant_norm_rescale' | 'layer_norm';

/** Architectures an SAE folder can have: the registry's built-in inference architectures (listArchitectures('inference') also lists registered ones). */
export const SAE_ARCHITECTURES: readonly SAEArchitecture[] = listArchitectures('inference');
export const NORMALIZE_ACTIVATIONS: readonly NormalizeActivations[] = ['none', 'expected_average_only_in', 'constant_norm_rescale', 'layer_norm'];

/** How the SAE was trained and where it reads from (SAELens `metadata`). Unknown keys are kept. */
export interface SAEMetadata {
  model_name?: string;
  hook_name: string;
  hook_head_index?: number | null;
  context_size?: number;
  prepend_bos?: boolean;
  dataset_path?: string;
  model_from_pretrained_kwargs?: Record<string, unknown>;
  sae_lens_version?: string;
  saelab_version?: string;
  /** transcoders: the hook whose activation the transcoder predicts */
  hook_name_out?: string;
  hook_head_index_out?: number | null;
  [k: string]: unknown;
}

/** SAELens 6 `SAEConfig` plus the architecture's own fields (TopK's k / rescale_acts_by_decoder_norm, transcoders' d_out). */
export interface SAEConfig {
  architecture: SAEArchitecture;
  d_in: number;
  d_sae: number;
  /** a SAELens dtype name ("float32", "bfloat16", ...); saelab computes in float32 */
  dtype: string;
  apply_b_dec_to_input: boolean;
  normalize_activations: NormalizeActivations;
  reshape_activations: 'none' | 'hook_z';
  /** topk only; SAELens inference default 100 */
  k?: number;
  /** topk only; default false for inference configs */
  rescale_acts_by_decoder_norm?: boolean;
  /** transcoders only: width of the output hook */
  d_out?: number;
  metadata: SAEMetadata;
  /** other architecture fields (registered architectures' `fields`) */
  [field: string]: unknown;
}

/** The SAELens version written into cfg.json `metadata.sae_lens_version` (the format we follow). */
export const SAELENS_FORMAT_VERSION = '6.18.0';
/** SAELens dtype names (constants.DTYPE_MAP keys). */
export const SAELENS_DTYPES = ['float32', 'float64', 'float16', 'bfloat16', 'torch.float32', 'torch.float64', 'torch.float16', 'torch.bfloat16'];

/** Keys SAELens moves from a flat pre-6.0 cfg into `metadata` (LLM_METADATA_KEYS). */
export const LLM_METADATA_KEYS = [
  'model_name', 'hook_name', 'model_class_name', 'hook_head_index', 'model_from_pretrained_kwargs', 'prepend_bos',
  'exclude_special_tokens', 'neuronpedia_id', 'context_size', 'seqpos_slice', 'dataset_path', 'sae_lens_version',
  'sae_lens_training_version', 'hook_name_out', 'hook_head_index_out',
];

/** A complete config from the required fields, with SAELens's defaults for the rest. */
export function defaultSAEConfig(partial: Partial<SAEConfig> & { d_in: number; d_sae: number; metadata: SAEMetadata }): SAEConfig {
  const cfg: SAEConfig = {
    architecture: DEFAULT_ARCHITECTURE,
    dtype: 'float32',
    apply_b_dec_to_input: true,
    normalize_activations: 'none',
    reshape_activations: 'none',
    ...partial,
    metadata: { ...partial.metadata },
  };
  for (const f of inferenceArchitecture(cfg.architecture).fields ?? []) {
    if ((cfg[f.name] === undefined || cfg[f.name] === null) && f.default !== undefined) cfg[f.name] = f.default;
  }
  validateSAEConfig(cfg);
  return cfg;
}

/** Check a config's field values; throws naming the field and the accepted values. */
export function validateSAEConfig(cfg: SAEConfig, where = 'SAE config'): void {
  const fail = (msg: string): never => { throw new ConfigError(`${where}: ${msg}`); };
  const arch = inferenceArchitecture(cfg.architecture, where);
  for (const f of ['d_in', 'd_sae'] as const) {
    if (!Number.isSafeInteger(cfg[f]) || cfg[f] <= 0) fail(`${f} must be a positive integer, got ${JSON.stringify(cfg[f])}`);
  }
  if (!NORMALIZE_ACTIVATIONS.includes(cfg.normalize_activations)) {
    fail(`normalize_activations must be one of ${NORMALIZE_ACTIVATIONS.join(', ')}, got ${describeValue(cfg.normalize_activations)}`);
  }
  if (cfg.reshape_activations !== 'none' && cfg.reshape_activations !== 'hook_z') {
    fail(`reshape_activations must be "none" or "hook_z", got ${describeValue(cfg.reshape_activations)}`);
  }
  if (typeof cfg.apply_b_dec_to_input !== 'boolean') fail(`apply_b_dec_to_input must be a boolean, got ${describeValue(cfg.apply_b_dec_to_input)}`);
  if (!SAELENS_DTYPES.includes(cfg.dtype)) fail(`dtype ${describeValue(cfg.dtype)} is not a SAELens dtype (${SAELENS_DTYPES.join(', ')})`);
  arch.validate?.(cfg, fail);
  if (!cfg.metadata || typeof cfg.metadata !== 'object') fail('metadata must be an object');
  if (typeof cfg.metadata.hook_name !== 'string' || !cfg.metadata.hook_name) fail('metadata.hook_name must be a non-empty string (the hook the SAE reads, e.g. blocks.6.hook_resid_pre)');
  if (cfg.reshape_activations === 'hook_z' && !cfg.metadata.hook_name.endsWith('_z')) {
    fail(`reshape_activations "hook_z" needs a hook_z hook, but metadata.hook_name is ${cfg.metadata.hook_name}`);
  }
}

/** The SAELens version a cfg dict declares (top level first, then metadata), or undefined. */
export function declaredSAELensVersion(raw: Record<string, unknown>): string | undefined {
  let v = raw.sae_lens_version;
  if (!v && raw.metadata && typeof raw.metadata === 'object') v = (raw.metadata as Record<string, unknown>).sae_lens_version;
  return v ? String(v) : undefined;
}

/** True when SAELens would read this cfg dict as a 6.x config (declared version >= 6.0.0rc0). */
export function isV6Config(raw: Record<string, unknown>, where = 'cfg.json'): boolean {
  const v = declaredSAELensVersion(raw);
  if (!v) return false;
  if (!parsePep440(v)) throw new ConfigError(`${where}: sae_lens_version ${JSON.stringify(v)} is not a valid PEP 440 version (SAELens refuses to load it); write a version such as "${SAELENS_FORMAT_VERSION}"`);
  return comparePep440(v, '6.0.0rc0') >= 0;
}

/** SAELens's conversion of a flat pre-6.0 cfg to the 6.x layout (handle_pre_6_0_config). */
export function convertPre6Config(raw: Record<string, unknown>): Record<string, unknown> {
  const rename: Record<string, string> = { hook_point: 'hook_name', hook_point_head_index: 'hook_head_index', activation_fn_str: 'activation_fn' };
  const c: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) c[rename[k] ?? k] = v;
  const setDefault = (k: string, v: unknown) => { if (!(k in c)) c[k] = v; };
  setDefault('prepend_bos', true);
  setDefault('apply_b_dec_to_input', true);
  setDefault('activation_fn', 'relu');
  setDefault('architecture', DEFAULT_ARCHITECTURE);
  setDefault('reshape_activations', String(c.hook_name ?? '').includes('hook_z') ? 'hook_z' : 'none');
  const fnKwargs = (c.activation_fn_kwargs ?? {}) as Record<string, unknown>;
  // an activation function that names an architecture of its own (topk with activation_fn_kwargs.k)
  for (const a of allArchitectures()) {
    const claimed = a.inference?.pre6 && a.inference.pre6.activationFn === c.activation_fn ? a.inference.pre6.fields(fnKwargs) : undefined;
    if (claimed) {
      c.architecture = a.name;
      Object.assign(c, claimed);
    }
  }
  if (typeof c.normalize_activations === 'boolean') c.normalize_activations = c.normalize_activations ? 'expected_average_only_in' : 'none';
  if (c.normalize_activations == null) c.normalize_activations = 'none';
  const out: Record<string, unknown> = {};
  const fields = archFieldNames(c.architecture);
  for (const k of ['d_in', 'd_sae', 'dtype', 'apply_b_dec_to_input', 'normalize_activations', 'reshape_activations', ...fields]) {
    if (k in c) out[k] = c[k];
  }
  // nested metadata (if any) is discarded, as SAELens does on this path
  const metadata: Record<string, unknown> = {};
  for (const k of LLM_METADATA_KEYS) if (k in c) metadata[k] = c[k];
  out.metadata = metadata;
  out.architecture = c.architecture;
  return out;
}

/**
 * Parse a cfg.json dict (v6 or pre-6.0, decided by sae_lens_version as SAELens does) into an SAEConfig.
 * Unknown keys are dropped; bad values throw naming `where` and the field.
 */
export function parseSAEConfig(raw: Record<string, unknown>, where = 'cfg.json'): SAEConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${where}: expected a JSON object`);
  const c = isV6Config(raw, where) ? raw : convertPre6Config(raw);
  const fail = (msg: string): never => { throw new ConfigError(`${where}: ${msg}`); };
  /** A field as stored: JSON's own type, no coercion ("64" is not 64); absent (or null, where allowed) gives the default. */
  const typed = <T>(key: string, type: 'number' | 'string' | 'boolean', dflt: T | undefined, nullable = false): T => {
    const v = c[key];
    if (v === undefined || (v === null && nullable)) {
      if (dflt === undefined) fail(`missing required field ${key}`);
      return dflt as T;
    }
    if (typeof v !== type) fail(`${key} must be a ${type}, got ${describeValue(v)}`);
    return v as T;
  };
  const arch = typed<string>('architecture', 'string', DEFAULT_ARCHITECTURE);
  const spec = inferenceArchitecture(arch, where);
  const dIn = typed<number>('d_in', 'number', undefined);
  const dSae = typed<number>('d_sae', 'number', undefined);
  if (c.metadata !== undefined && (c.metadata === null || typeof c.metadata !== 'object' || Array.isArray(c.metadata))) fail(`metadata must be an object, got ${describeValue(c.metadata)}`);
  const md = { ...((c.metadata ?? {}) as Record<string, unknown>) } as SAEMetadata;
  if (md.hook_name === undefined) fail('no hook name (metadata.hook_name, or hook_name / hook_point in a pre-6.0 cfg)');
  const cfg: SAEConfig = {
    architecture: arch,
    d_in: dIn,
    d_sae: dSae,
    dtype: typed<string>('dtype', 'string', 'float32'),
    apply_b_dec_to_input: typed<boolean>('apply_b_dec_to_input', 'boolean', true),
    normalize_activations: typed<string>('normalize_activations', 'string', 'none', true) as NormalizeActivations,
    reshape_activations: typed<string>('reshape_activations', 'string', 'none', true) as 'none' | 'hook_z',
    metadata: md,
  };
  // the architecture's own fields (k, d_out, ...), typed the same way; null means absent
  for (const f of spec.fields ?? []) {
    if ((c[f.name] === undefined || c[f.name] === null) && f.default === undefined) continue;
    cfg[f.name] = typed<unknown>(f.name, f.type, f.default, true);
  }
  validateSAEConfig(cfg, where);
  return cfg;
}

/** The cfg.json dict saelab writes: SAELens 6 layout, metadata.sae_lens_version a real SAELens version. */
export function toCfgJson(cfg: SAEConfig): Record<string, unknown> {
  const metadata: Record<string, unknown> = { ...cfg.metadata };
  const declared = metadata.sae_lens_version;
  const declaredOk = typeof declared === 'string' && parsePep440(declared) && comparePep440(declared, '6.0.0rc0') >= 0;
  if (!declaredOk) metadata.sae_lens_version = SAELENS_FORMAT_VERSION;
  if (!('sae_lens_training_version' in metadata)) metadata.sae_lens_training_version = null;
  metadata.saelab_version = SAELAB_VERSION;
  const out: Record<string, unknown> = {
    d_in: cfg.d_in,
    d_sae: cfg.d_sae,
    dtype: cfg.dtype,
    device: 'cpu',
    apply_b_dec_to_input: cfg.apply_b_dec_to_input,
    normalize_activations: cfg.normalize_activations,
    reshape_activations: cfg.reshape_activations,
    metadata,
    architecture: cfg.architecture,
  };
  for (const f of inferenceArchitecture(cfg.architecture).fields ?? []) out[f.name] = cfg[f.name] ?? f.default;
  return out;
}

/** cfg.json field names of an architecture beyond the base SAEConfig (none for an unknown one). */
function archFieldNames(arch: unknown): string[] {
  try {
    return (inferenceArchitecture(arch ?? DEFAULT_ARCHITECTURE).fields ?? []).map((f) => f.name);
  } catch {
    return [];
  }
}
