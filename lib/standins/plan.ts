/**
 * What a set of stand-ins must contain: read from experiment configs (a preset name, a model family
 * standing for its presets, or a config file), the model repos and revisions, SAE ids per release
 * and datasets (with the tokens the config's stages draw) those configs name.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadConfig, ExperimentConfig } from '../notebook/config';
import { officialModelName } from '../model/loading';
import { getRelease } from '../sae/registry';
import { SAELAB_ROOT } from '../version';
import { FAMILY_PRESETS, MODEL_REPOS } from './catalog';
import { modelSpec } from './repos';

export interface StandinPlan {
  /** the configs the plan was read from */
  configs: string[];
  /** repo id -> revisions */
  models: Map<string, Set<string>>;
  /** release -> SAE ids */
  saes: Map<string, Set<string>>;
  /** dataset repo id -> words to write */
  datasets: Map<string, number>;
}

/** Config files for --like: a family name (its presets), a preset name, or a path to a config. */
export function configsFor(like: string): string[] {
  const presets = path.join(SAELAB_ROOT, 'configs');
  if (FAMILY_PRESETS[like]) return FAMILY_PRESETS[like].map((p) => path.join(presets, `${p}.json`));
  const named = path.join(presets, `${like.replace(/\.json$/, '')}.json`);
  if (!like.includes('/') && fs.existsSync(named)) return [named];
  if (fs.existsSync(like)) return [path.resolve(like)];
  const known = fs.readdirSync(presets).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, ''));
  throw new Error(`--like '${like}' is neither a model family (${Object.keys(FAMILY_PRESETS).join(', ')}), a preset (${known.join(', ')}) nor a config file`);
}

/** Words of text for a token budget: the stand-in text averages ~1.3 GPT-2 tokens per word, so one word per token leaves a margin; plus the shuffle buffer's documents. */
function wordsFor(tokens: number): number {
  return Math.ceil(tokens) + 256 * 1500;
}

/** The plan for one or more configs; `datasetWords` sets the words each dataset gets (default: the configs' token budgets plus a margin). */
export function planStandins(configFiles: string[], opts: { datasetWords?: number } = {}): StandinPlan {
  const plan: StandinPlan = { configs: configFiles, models: new Map(), saes: new Map(), datasets: new Map() };
  const model = (name: string, revision: string) => {
    const id = officialModelName(name);
    modelSpec(id);
    const spec = MODEL_REPOS[id];
    if (!plan.models.has(id)) plan.models.set(id, new Set(['main']));
    if (revision !== 'main') {
      if (!spec.revisions?.includes(revision)) throw new Error(`make-standins: ${id} has no stand-in revision '${revision}' (revisions: ${(spec.revisions ?? []).join(', ') || 'main only'})`);
      plan.models.get(id)!.add(revision);
    }
    if (spec.finetuneOf && !plan.models.has(spec.finetuneOf)) plan.models.set(spec.finetuneOf, new Set(['main']));
  };
  const sae = (release: string, id: string) => {
    if (!plan.saes.has(release)) plan.saes.set(release, new Set());
    plan.saes.get(release)!.add(id);
  };
  const data = (repo: string, tokens: number) => {
    const words = opts.datasetWords ?? wordsFor(tokens);
    plan.datasets.set(repo, Math.max(plan.datasets.get(repo) ?? 0, words));
  };
  for (const file of configFiles) {
    const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    const c: ExperimentConfig = loadConfig(file);
    if (raw.base) model(c.base.model, c.base.revision);
    if (raw.finetune) model(c.finetune.model, c.finetune.revision);
    if (raw.sae) sae(c.sae.release, c.sae.id);
    if (raw.dataset) {
      const stages = raw.finetune ? [c.activations, c.eval, c.transfer] : [];
      const tokens = Math.max(200_000, ...stages.map((s) => s.nBatches * s.batchSize * c.contextSize));
      data(c.dataset.path, tokens);
    }
    if (raw.crosslayer) {
      const x = c.crosslayer;
      model(x.model, x.revision);
      const hooks = x.hooks.length ? x.hooks : (getRelease(x.saeRelease)?.saes.map((s) => s.id).filter((id) => id.endsWith('hook_resid_pre')) ?? []);
      for (const h of hooks) sae(x.saeRelease, h);
      data(x.dataset.path, x.tokens + x.graph.contextTokens);
    }
    if (raw.circuits) for (const h of c.circuits.hooks) sae(c.circuits.saeRelease, h);
    if (raw.checkpoints) {
      const k = c.checkpoints;
      for (const cp of k.checkpoints) model(k.model, cp.revision);
      data(c.dataset.path, Math.ceil(k.streamTokens * 1.1));
    }
  }
  return plan;
}
