/**
 * What the circuits stages (08, 09) share: the config's base model with one SAE per hook of
 * `circuits.hooks` (from `circuits.saeRelease`) and the model's tokenizer.
 */
import { HookedTransformer } from '../model/hookedTransformer';
import { Tokenizer, loadTokenizer } from '../tokenizers/tokenizer';
import { SAESet } from '../circuits/common';
import { loadModelAndSAEs } from '../circuits/load';
import { ExperimentConfig } from './config';
import { resolveRelease } from '../sae/registry';

export interface CircuitWorld {
  model: HookedTransformer;
  saes: SAESet;
  tokenizer: Tokenizer;
  /** the model's repo commit (provenance) */
  revision?: string;
  dispose(): void;
}

/** The config fields that decide the model and SAEs of the circuits stages. */
export function circuitWorldInputs(c: ExperimentConfig): unknown {
  return { model: c.base.model, revision: c.base.revision, tokenizer: c.base.tokenizer, saeRelease: c.circuits.saeRelease, hooks: c.circuits.hooks };
}

/**
 * Check the circuits section beyond its types (no network): every hook is an SAE id of the release (a
 * registered release; an owner/repo release is not checked), the methods are known, the sizes and
 * thresholds are in range. `where` names the config file in errors.
 */
export function validateCircuitsConfig(config: ExperimentConfig, where = 'config'): void {
  const c = config.circuits;
  const bad = (key: string, msg: string) => new Error(`${where}: circuits.${key} ${msg}`);
  if (!c.hooks.length) throw bad('hooks', 'is empty: list the SAE hooks in model order (e.g. ["blocks.4.hook_resid_pre", "blocks.5.hook_resid_pre"])');
  if (new Set(c.hooks).size !== c.hooks.length) throw bad('hooks', `lists a hook twice: ${c.hooks.join(', ')}`);
  for (const h of c.hooks) {
    try {
      resolveRelease(c.saeRelease, h);
    } catch (e) {
      throw bad('hooks', `names '${h}', which release '${c.saeRelease}' does not have: ${(e as Error).message}`);
    }
  }
  const a = c.ablation;
  if (!(a.thinning > 0 && a.thinning <= 1)) throw bad('ablation.thinning', `must be in (0, 1], got ${a.thinning}`);
  if (!Number.isInteger(a.branching) || a.branching < 1) throw bad('ablation.branching', `must be a positive integer, got ${a.branching}`);
  if (!Number.isInteger(a.nSequences) || a.nSequences < 1) throw bad('ablation.nSequences', `must be a positive integer, got ${a.nSequences}`);
  if (a.pinned.some((j) => !Number.isInteger(j) || j < 0)) throw bad('ablation.pinned', `must be feature ids (non-negative integers), got ${JSON.stringify(a.pinned)}`);
  const t = c.attribution;
  if (t.method !== 'atp' && t.method !== 'ig') throw bad('attribution.method', `must be "atp" or "ig" (edges need gradients), got '${t.method}'`);
  for (const m of t.methods) if (!['atp', 'ig', 'exact'].includes(m)) throw bad('attribution.methods', `has unknown method '${m}' (atp, ig, exact)`);
  if (!Number.isInteger(t.nExamples) || t.nExamples < 1) throw bad('attribution.nExamples', `must be a positive integer, got ${t.nExamples}`);
  if (!Number.isInteger(t.igSteps) || t.igSteps < 1) throw bad('attribution.igSteps', `must be a positive integer, got ${t.igSteps}`);
  if (!(t.nodeThreshold >= 0) || !(t.edgeThreshold >= 0)) throw bad('attribution', `node and edge thresholds must be >= 0, got ${t.nodeThreshold}, ${t.edgeThreshold}`);
  if (t.thresholds.some((x) => !(x > 0))) throw bad('attribution.thresholds', `must be positive (a log axis), got ${JSON.stringify(t.thresholds)}`);
}

/** Load the base model, the SAEs of circuits.hooks and the tokenizer. */
export async function loadCircuitWorld(config: ExperimentConfig): Promise<CircuitWorld> {
  const c = config.circuits;
  validateCircuitsConfig(config);
  const { model, saes } = await loadModelAndSAEs(config.base.model, c.hooks.map((h) => [h, `${c.saeRelease}:${h}`]), { revision: config.base.revision });
  try {
    const tokenizer = await loadTokenizer(config.base.tokenizer ?? config.base.model, { revision: config.base.revision });
    return {
      model, saes, tokenizer, revision: model.source?.commit,
      dispose() { model.dispose(); for (const s of saes.values()) s.dispose(); },
    };
  } catch (e) {
    model.dispose();
    for (const s of saes.values()) s.dispose();
    throw e;
  }
}
