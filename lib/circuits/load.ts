/**
 * Loading a model and its SAEs from `--model DIR --sae <hook>=<spec>` style arguments (CLI and notebooks).
 */
import * as fs from 'fs';
import { HookedTransformer, FromPretrainedOptions } from '../model/hookedTransformer';
import { SAE } from '../sae/sae';
import { checkSAEFitsModel, modelOptionsFromSAE } from '../sae/modelOptions';
import { SAESet } from './common';

/**
 * An SAE from a folder, or `release:saeId` (a SAELens release or owner/repo:folder). `repoId`: for Gemma
 * Scope folders, the repo id telling model and hook (e.g. google/gemma-scope-2b-pt-res).
 */
export async function loadSAEFromSpec(spec: string, repoId?: string): Promise<SAE> {
  if (fs.existsSync(spec) && fs.statSync(spec).isDirectory()) return SAE.load(spec, { repoId });
  const i = spec.indexOf(':');
  if (i <= 0 || i === spec.length - 1) throw new Error(`SAE '${spec}' is neither a folder nor release:saeId (e.g. gpt2-small-res-jb:blocks.8.hook_resid_pre)`);
  return SAE.fromPretrained(spec.slice(0, i), spec.slice(i + 1));
}

/** "<hook>=<spec>" -> [hook, spec]; an Error naming the flag when malformed. */
export function parseSaeArg(arg: string): [string, string] {
  const i = arg.indexOf('=');
  if (i <= 0 || i === arg.length - 1) throw new Error(`--sae '${arg}' must be <hook>=<saeDir> (e.g. blocks.2.hook_resid_pre=data/saes/L2)`);
  return [arg.slice(0, i), arg.slice(i + 1)];
}

/**
 * Load SAEs given as hook -> folder (or release:saeId / owner/repo:folder). Each SAE's
 * metadata.hook_name must be the hook it is given for.
 */
export async function loadSAESet(specs: Array<[string, string]>): Promise<SAESet> {
  const out: SAESet = new Map();
  try {
    for (const [hook, spec] of specs) {
      if (out.has(hook)) throw new Error(`--sae: hook ${hook} is given twice`);
      const sae: SAE = await loadSAEFromSpec(spec);
      if (sae.cfg.metadata.hook_name !== hook) {
        sae.dispose();
        throw new Error(`--sae ${hook}=${spec}: that SAE reads ${sae.cfg.metadata.hook_name} (cfg.json metadata.hook_name), not ${hook}`);
      }
      out.set(hook, sae);
    }
  } catch (e) {
    for (const s of out.values()) s.dispose();
    throw e;
  }
  return out;
}

/**
 * A model folder (or hub name) loaded with the processing its SAEs were trained with (the first
 * SAE's model_from_pretrained_kwargs), checked against every SAE's hook and width.
 */
export async function loadModelAndSAEs(model: string, specs: Array<[string, string]>, opts: FromPretrainedOptions = {}): Promise<{ model: HookedTransformer; saes: SAESet }> {
  const saes = await loadSAESet(specs);
  const first = saes.values().next().value as SAE | undefined;
  const fromSae = first ? modelOptionsFromSAE(first, {}, { emit: false }).options : {};
  const m = await HookedTransformer.fromPretrained(model, { ...(fromSae as FromPretrainedOptions), ...opts });
  for (const s of saes.values()) checkSAEFitsModel(s, m);
  return { model: m, saes };
}
