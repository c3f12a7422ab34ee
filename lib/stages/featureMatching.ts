/**
 * Stage 11: feature matching between consecutive checkpoints of stage 10's sweep (decoder or activation
 * cosine, optimal one-to-one assignment) and feature chains over training: births, deaths, splits,
 * merges, drift to the final checkpoint; tables of the most stable and the latest-born features with their
 * top contexts on the held-out windows. Writes matching_<a>_<b>.safetensors per consecutive pair (the
 * `saelab match-features` layout: assignment int32 [d_sae_a], similarity float32 [d_sae_a]), results.json.
 */
import * as path from 'path';
import { StageContext } from '../notebook/stage';
import { StageOutput, defineStage, requireStage } from './define';
import { ExperimentConfig } from './config';
import { Row } from '../plots/table';
import { loadTokenizer } from '../tokenizers/tokenizer';
import { checkpointsConfig } from '../checkpoints/config';
import { sweepChainInput } from '../checkpoints/sweepChains';
import { analyzeChains, StepEvents } from '../checkpoints/chains';
import { MatchingMemo, saveMatching, loadMatching } from '../checkpoints/match';
import { stableFeaturesTable, latestBornTable, chainEventsSpec, driftSpec, chainAgeSpec } from '../checkpoints/chainReport';
import { EVAL_FEATURE_ACTS, sweepJobDir } from '../checkpoints/sweep';
import { topRowsPerColumn } from '../checkpoints/featureActs';
import { STAGE_CHECKPOINT_SAES, EVAL_TOKENS_FILE, checkpointSaesInputs, requireCheckpointSaes, sweepDirOf } from './checkpointSaes';
import { readTokens } from './common';

export const STAGE_FEATURE_MATCHING = '11_feature_matching';

export interface TransitionSummary {
  from: string;
  to: string;
  fromStep: number;
  toStep: number;
  /** mean cosine of the optimal matching (all features) and the share of pairs at or above matchThreshold */
  meanSimilarity: number;
  matchedShare: number;
  file: string;
}

export interface FeatureMatchingResult {
  reused: boolean;
  method: string;
  transitions: TransitionSummary[];
  events: StepEvents[];
  chains: number;
  /** chains alive from the first to the final checkpoint */
  fullChains: number;
  transitionTable: Row[];
  eventsTable: Row[];
  stableTable: Row[];
  latestBornTable: Row[];
  plots: { events: object; drift: object; age: object };
}

export function featureMatchingInputs(config: ExperimentConfig): unknown {
  const c = checkpointsConfig(config);
  return { sweep: checkpointSaesInputs(config), matchMethod: c.matchMethod, matchThreshold: c.matchThreshold, strongThreshold: c.strongThreshold, topFeatures: c.topFeatures };
}

/** File of the matching checkpoint a -> b. */
export function matchingFile(stageDir: string, a: string, b: string): string {
  return path.join(stageDir, `matching_${a}_${b}.safetensors`);
}

/** Top contexts of a feature as text: up to k examples, each the 8 tokens up to the active one, [bracketed]. */
export function contextsText(examples: Array<{ sequence: number; position: number }>, tokens: Int32Array, ctx: number, decode: (ids: number[]) => string, k = 3): string {
  return examples.slice(0, k).map((e) => {
    const row = tokens.subarray(e.sequence * ctx, (e.sequence + 1) * ctx);
    const before = decode(Array.from(row.subarray(Math.max(0, e.position - 7), e.position)));
    return `${before}[${decode([row[e.position]])}]`.replace(/\s+/g, ' ');
  }).join(' | ');
}

/** Stage 11 (see the module comment). */
export const featureMatchingStage = defineStage<FeatureMatchingResult>({
  name: STAGE_FEATURE_MATCHING,
  inputs: featureMatchingInputs,
  run: featureMatchingRun,
});

async function featureMatchingRun(ctx: StageContext): Promise<StageOutput<FeatureMatchingResult>> {
  const { config, stageDir } = ctx;
  const c = checkpointsConfig(config);
  const { dir: sweepStage, spec } = requireCheckpointSaes(ctx);
  const sweepDir = sweepDirOf(sweepStage);
  const input = await sweepChainInput(sweepDir, spec, c.matchMethod);
  // one memo: a matrix the chain analysis already assigned (all features live, or the last consecutive
  // matrix that is also the last to-final one) is not assigned again for its matching file
  const memo = new MatchingMemo();
  const a = analyzeChains(input, { matchThreshold: c.matchThreshold, strongThreshold: c.strongThreshold }, memo);
  const T = spec.checkpoints.length;
  const transitions: TransitionSummary[] = [];
  for (let t = 0; t + 1 < T; t++) {
    const [x, y] = [spec.checkpoints[t], spec.checkpoints[t + 1]];
    const m = memo.match(input.consecutive[t], c.matchMethod);
    const file = matchingFile(stageDir, x.label, y.label);
    saveMatching(file, m, { from: x.label, to: y.label, hook: spec.hook });
    const matched = Array.from(m.similarity).filter((v) => Number.isFinite(v));
    transitions.push({
      from: x.label, to: y.label, fromStep: x.step, toStep: y.step, meanSimilarity: m.meanSimilarity,
      matchedShare: matched.filter((v) => v >= c.matchThreshold).length / Math.max(1, m.dA), file: path.basename(file),
    });
  }
  // top contexts of the final checkpoint's features on the held-out windows
  const tok = await loadTokenizer(c.model);
  const { tokens, shape } = readTokens(path.join(sweepStage, EVAL_TOKENS_FILE));
  const last = spec.checkpoints[T - 1];
  // each feature's 3 strongest held-out tokens, streamed (the [tokens x d_sae] file is 8.6 GB at the published size)
  const top = await topRowsPerColumn(path.join(sweepJobDir(sweepDir, last), EVAL_FEATURE_ACTS), 'feature_acts', 3);
  const P = shape[1];
  const decode = (ids: number[]) => (ids.length ? tok.decode(ids) : '');
  const contexts = (f: number) => contextsText((top[f] ?? []).map((r) => ({ sequence: Math.floor(r.row / P), position: r.row % P })), tokens, P, decode);
  const opts = { width: 420, height: 220 };
  const result = {
    method: c.matchMethod, transitions, events: a.events, chains: a.chains.length,
    fullChains: a.chains.filter((ch) => ch.start === 0 && ch.end === T - 1).length,
    transitionTable: transitions.map((x) => ({ from: x.from, to: x.to, 'mean matched cosine': x.meanSimilarity, [`share >= ${c.matchThreshold}`]: x.matchedShare })),
    eventsTable: a.events.map((e, t) => ({ checkpoint: spec.checkpoints[t].label, step: e.step, alive: e.alive, births: e.births, deaths: e.deaths, splits: e.splits, merges: e.merges, 'sim to final': e.meanSimilarityToFinal, 'sim to next': e.meanSimilarityToNext })),
    stableTable: stableFeaturesTable(a, { k: c.topFeatures, contexts }),
    latestBornTable: latestBornTable(a, { k: c.topFeatures, contexts }),
    plots: { events: chainEventsSpec(a, opts), drift: driftSpec(a, opts), age: chainAgeSpec(a, opts) },
  };
  return { result, artifacts: ['results.json', ...transitions.map((x) => x.file)], provenance: { sweep: STAGE_CHECKPOINT_SAES } };
}

/** Per-hook feature assignments t -> t + 1 from stage 11 (the sweep has one hook). */
export function requireMatchings(ctx: StageContext): Array<Record<string, Int32Array>> {
  const dir = requireStage(ctx, featureMatchingStage);
  const c = checkpointsConfig(ctx.config);
  return c.checkpoints.slice(0, -1).map((x, t) => ({ [c.hook]: loadMatching(matchingFile(dir, x.label, c.checkpoints[t + 1].label)).assignment }));
}
