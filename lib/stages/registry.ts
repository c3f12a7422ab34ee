/**
 * Every pipeline stage, one line each, in stage order. `saelab stage` / `saelab merge`, the SLURM pipeline
 * and `runStage` (what a notebook can call) find stages here; a stage is a file defining it with
 * `defineStage` (lib/stages/define.ts) plus its line below.
 */
import { StageContext } from '../notebook/stage';
import { Stage } from './define';
import { computeActivationsStage } from './activations';
import { computeSimilaritiesStage } from './similarities';
import { findOutlierNormsStage } from './outliers';
import { saeEvalStage } from './saeEval';
import { featureTransferStage } from './featureTransfer';
import { crossLayerStage } from './crosslayer';
import { ablationGraphStage } from './ablationGraph';
import { featureCircuitsStage } from './featureCircuits';
import { checkpointSaesStage } from './checkpointSaes';
import { featureMatchingStage } from './featureMatching';
import { circuitsOverTimeStage } from './circuitsOverTime';
import { crosscoderDiffStage } from './crosscoderDiff';

export const STAGES: ReadonlyArray<Stage<any, any>> = [
  computeActivationsStage,
  computeSimilaritiesStage,
  findOutlierNormsStage,
  saeEvalStage,
  featureTransferStage,
  crossLayerStage,
  ablationGraphStage,
  featureCircuitsStage,
  checkpointSaesStage,
  featureMatchingStage,
  circuitsOverTimeStage,
  crosscoderDiffStage,
];

/** The stage registered under a stage folder name, or undefined. */
export function findStage(name: string): Stage<any, any> | undefined {
  return STAGES.find((s) => s.name === name);
}

/** Resolve a stage given as its folder name (02_compute_similarities), its number (02) or a word of it (similarities). */
export function resolveStageName(name: string): string {
  const all = STAGES.map((s) => s.name);
  const hit = all.filter((s) => s === name || s.split('_')[0] === name || s.split('_').slice(1).includes(name) || s.endsWith(`_${name}`));
  if (hit.length === 1) return hit[0];
  throw new Error(`unknown stage '${name}'${hit.length > 1 ? ` (ambiguous: ${hit.join(', ')})` : ''}; stages with a headless function: ${all.join(', ')}`);
}

/** Reuse or compute the stage of a context (from `setupStage(name)`): what a notebook runs. */
export async function runStage<R = unknown>(ctx: StageContext): Promise<R> {
  const stage = findStage(ctx.stage);
  if (!stage) throw new Error(`stage '${ctx.stage}' is not registered in lib/stages/registry.ts (registered: ${STAGES.map((s) => s.name).join(', ')})`);
  return stage(ctx) as Promise<R>;
}

/** The data-parallel stages (those defined with `shard`). */
export function shardableStages(): Array<Stage<any, any> & { sharding: NonNullable<Stage['sharding']> }> {
  return STAGES.filter((s): s is Stage<any, any> & { sharding: NonNullable<Stage['sharding']> } => s.sharding !== undefined);
}

/** A data-parallel stage: run one shard of its batches, or merge all shards into the stage's artifacts. */
export interface ShardableStage extends NonNullable<Stage['sharding']> {
  stage: string;
}

/** The data-parallel stages by stage folder name (derived from STAGES). */
export const SHARDABLE_STAGES: Record<string, ShardableStage> = Object.fromEntries(shardableStages().map((s) => [s.name, { stage: s.name, ...s.sharding }]));

/** Every stage's reuse-or-compute function by stage folder name (derived from STAGES). */
export const STAGE_FUNCTIONS: Record<string, (ctx: StageContext) => Promise<unknown>> = Object.fromEntries(STAGES.map((s) => [s.name, (ctx: StageContext) => s(ctx)]));
