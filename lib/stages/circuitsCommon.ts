/**
 * What the circuits stages (08, 09) share: the config's base model with one SAE per hook of
 * `circuits.hooks` (from `circuits.saeRelease`) and the model's tokenizer.
 */
import { HookedTransformer } from '../model/hookedTransformer';
import { Tokenizer, loadTokenizer } from '../tokenizers/tokenizer';
import { SAESet } from '../circuits/common';
import { loadModelAndSAEs } from '../circuits/load';
import { ExperimentConfig } from '../notebook/config';

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

/** Load the base model, the SAEs of circuits.hooks and the tokenizer. */
export async function loadCircuitWorld(config: ExperimentConfig): Promise<CircuitWorld> {
  const c = config.circuits;
  if (!c.hooks.length) throw new Error('config circuits.hooks is empty: list the SAE hooks (e.g. ["blocks.4.hook_resid_pre", "blocks.5.hook_resid_pre"])');
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
